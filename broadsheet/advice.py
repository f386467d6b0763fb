"""What `broadsheet check` points out without failing: what runs but will not do what was meant.

Subscribers asking for feeds that are not there; web links over plain http, which one-click
unsubscribe (RFC 8058) does not accept; DKIM signatures that receivers will not count.

A subscriber's ``tags`` and ``feeds`` select feeds by the same rules as digests do (tags
case-insensitively, feed URLs exactly as the ``[[feeds]]`` entry writes them), so a typo gives
an empty digest forever without any error. Each warning names the key and the close matches.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from email.utils import parseaddr
from urllib.parse import urlsplit

from broadsheet.config import Settings


def warnings(settings: Settings) -> list[str]:
    """What looks wrong though it runs: selections of nothing, links and signatures that fail."""
    return [*_selections(settings), *_web(settings), *_dkim(settings)]


def _web(settings: Settings) -> list[str]:
    """A one-click link over plain http: RFC 8058 wants https, and Gmail ignores the rest."""
    base = settings.web.base_url
    if not base or urlsplit(base).scheme == "https":
        return []
    return [
        f"web.base_url: {base} is not https: one-click unsubscribe (RFC 8058) needs an https "
        "link, and Gmail and others ignore an http one (readers then get only the mailto: "
        "address); serve the pages behind TLS and set base_url to https://..."
    ]


def _dkim(settings: Settings) -> list[str]:
    """Signatures that receivers will not count: another domain than From's, Ed25519 alone."""
    smtp = settings.smtp
    if not smtp.dkim_domain:
        return []
    found = []
    sender = parseaddr(smtp.sender)[1].rpartition("@")[2].lower()
    domain = smtp.dkim_domain.lower().removesuffix(".")
    if not (sender == domain or sender.endswith(f".{domain}") or domain.endswith(f".{sender}")):
        found.append(
            f"smtp.dkim_domain: {domain} is not the domain of smtp.from ({sender}): DMARC "
            "passes only when the signing domain matches the From address's domain"
        )
    from digests import dkim  # dkimpy and its DNS resolver: only for configs that sign

    if dkim.load_key(smtp.dkim_key).algorithm == "ed25519":
        found.append(
            f"smtp.dkim_key_env: ${smtp.dkim_key_env} holds an Ed25519 key, which many receivers "
            "(Gmail among them) do not check yet; use an RSA key of 2048 bits "
            f"(`{dkim.GENERATE}`)"
        )
    return found


def _selections(settings: Settings) -> list[str]:
    """One line per subscriber tag or feed URL that matches no configured feed."""
    tags = sorted({tag.casefold() for feed in settings.feeds for tag in feed.tags})
    urls = [feed.url for feed in settings.feeds]
    found = []
    for index, subscriber in enumerate(settings.subscribers):
        where = f"subscribers[{index}]"
        for position, tag in enumerate(subscriber.tags):
            if tag.casefold() not in tags:
                found.append(
                    f"{where}.tags[{position}]: {json.dumps(tag)} is no feed's tag"
                    + _close(tag.casefold(), tags)
                )
        for position, url in enumerate(subscriber.feeds):
            if url.strip() not in urls:
                found.append(
                    f"{where}.feeds[{position}]: {url} is not a configured feed"
                    + _close(url.strip(), urls, cutoff=0.8)  # URLs share their scheme
                )
    return found


def _close(word: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """ "; did you mean ...?" with the close matches, or a hint when there are none."""
    matches = difflib.get_close_matches(word, list(known), n=3, cutoff=cutoff)
    if matches:
        return "; did you mean " + " or ".join(json.dumps(m) for m in matches) + "?"
    return "; it selects nothing (see the [[feeds]] entries)"
