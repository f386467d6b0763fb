"""Canonical links: absolute, lower-cased scheme and host, no default port and no tracking.

A link's fragment is kept: it tells apart items on one page (``#comment-713578640``) and pages of
an application addressed by a hashbang (``#!topic/golang-nuts/AbC123``). A fragment shaped like a
query (``#utm_source=feed&utm_medium=rss``) loses its tracking parameters like the query does.
``story_link`` drops the fragment (but not a hashbang or ``#/`` route) to group one story.

Tracking parameters removed from links (matched case-insensitively on the parameter name):

- any name starting with ``utm_`` (Google Analytics campaign tags),
- click identifiers: fbclid, gclid, gclsrc, dclid, gbraid, wbraid, msclkid, yclid, twclid, ttclid,
  igshid, li_fat_id, rb_clickid, wickedid,
- mailing-list tags: mc_cid, mc_eid (Mailchimp), _hsenc, _hsmi, __hstc, __hssc, __hsfp,
  hsctatracking (HubSpot), mkt_tok (Marketo), vero_conv, vero_id (Vero),
  oly_anon_id, oly_enc_id (Omeda),
- referral tags: ref_src, ref_url (Twitter embeds), _openstat, s_cid,
- AT Internet campaign tags used by news sites: at_medium, at_campaign, at_custom1 to at_custom4.

Every other parameter is kept, in order and byte for byte, because it may select the article.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

TRACKING_PREFIXES = ("utm_",)
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "li_fat_id",
        "rb_clickid",
        "wickedid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "vero_conv",
        "vero_id",
        "oly_anon_id",
        "oly_enc_id",
        "ref_src",
        "ref_url",
        "_openstat",
        "s_cid",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
    }
)
WEB_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ROUTES = ("!", "/")  # fragments that address a page of a web application, not a spot on one
# The usual link, already canonical but for its query: a lower-case scheme and host name, no
# port, user or fragment, printable ASCII only (nothing that stripping, urlsplit or urlunsplit
# would change). Its canonical form is itself with the tracking parameters taken out.
_PLAIN_LINK = re.compile(
    r"(https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*)(/[!\"$->@-~]*)?(?:\?([!\"$-~]*))?"
)


def is_tracking_param(name: str) -> bool:
    """True when a query parameter name is a known tracking tag."""
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def resolve_url(url: str | None, base: str | None) -> str | None:
    """Make ``url`` absolute against ``base``; None unless the result is an http(s) URL."""
    url = url.strip() if url else ""
    if not url:
        return None
    if url[:8].lower().startswith(("http://", "https://")):
        return url
    try:
        absolute = urljoin(base, url) if base else url
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in WEB_SCHEMES else None


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host (not a relative reference, URN or tag)."""
    text = url.strip() if url else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)


def canonical_link(link: str | None, base: str) -> str | None:
    """Absolute http(s) link without default port or tracking parameters; else None."""
    plain = _PLAIN_LINK.fullmatch(link) if link else None
    if plain:
        origin, path, query = plain.groups()
        query = strip_tracking(query) if query else ""
        return f"{origin}{path or '/'}?{query}" if query else f"{origin}{path or '/'}"
    absolute = resolve_url(link, base)
    if absolute is None:
        return None
    try:
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    fragment = _fragment(parts.fragment)
    return urlunsplit((scheme, netloc, parts.path or "/", strip_tracking(parts.query), fragment))


def _fragment(fragment: str) -> str:
    """The fragment, without tracking parameters when it is shaped like a query string."""
    if "=" in fragment and not fragment.startswith(_ROUTES):
        return strip_tracking(fragment)
    return fragment


def without_fragment(link: str) -> str:
    """``link`` up to its '#'."""
    return link.partition("#")[0]


def story_link(link: str) -> str:
    """A canonical link as a story's address: the fragment dropped unless it is a route."""
    address, _, fragment = link.partition("#")
    return link if fragment.startswith(_ROUTES) else address


def strip_tracking(query: str) -> str:
    """Remove tracking parameters from a raw query string, keeping the others verbatim."""
    if not query:
        return ""
    kept = [p for p in query.split("&") if p and not is_tracking_param(p.partition("=")[0])]
    return "&".join(kept)
