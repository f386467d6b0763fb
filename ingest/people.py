"""People as feeds name them: feedparser's authors, RSS ``<author>`` strings, JSON Feed authors."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

_ADDRESS_THEN_NAME = re.compile(r"<?[^\s@<>()]+@[^\s<>()]+>?\s*\((.*)\)")
_NAME_THEN_ADDRESS = re.compile(r"(.*?)\s*<([^\s@<>]+@[^\s<>]+)>")
_get = dict.get


def fp_people(container: dict[str, Any]) -> tuple[str, ...]:
    """Names of the people feedparser found on an entry, a source or a feed (name, email, uri)."""
    people = _dicts(container, "authors")
    raw = _text(_get(container, "author")) or ""
    if len(people) == 1 and _cut_short(_text(_get(people[0], "email")), raw):
        return (_rss_person(raw),)
    names = [
        person_name(_text(_get(p, "name")), _text(_get(p, "email")), _text(_get(p, "href"))) or ""
        for p in people
    ]
    if not any(names):
        names = [_text(_get(container, "author")) or ""]
    return tuple(n for n in names if n.strip())


def _cut_short(email: str | None, raw: str) -> bool:
    """True when feedparser read only part of an address (it takes top-level domains of 2-4
    letters, so "joe@news.example (Joe)" gives "joe@news.exam" and the name "ple (Joe")."""
    if not email or "@" not in raw:
        return False
    at = raw.find(email)
    return at >= 0 and raw[at + len(email) : at + len(email) + 1].isalnum()


def _rss_person(raw: str) -> str:
    """The name in an RSS ``<author>``: "joe@x.example (Joe)", "Joe <joe@x.example>" or the address."""
    text = " ".join(raw.split())
    if match := _ADDRESS_THEN_NAME.fullmatch(text):
        return match.group(1).strip() or text
    if match := _NAME_THEN_ADDRESS.fullmatch(text):
        return match.group(1).strip(' "') or match.group(2)
    return text.strip("<>")


def person_name(name: str | None, email: str | None = None, url: str | None = None) -> str | None:
    """How a person is shown: the name, else the e-mail address, else the web address."""
    for value in (name, email):
        if value and value.strip():
            return value.strip()
    url = (url or "").strip()
    if url[:7].lower() == "mailto:":
        url = unquote(url[7:].partition("?")[0]).strip()
    return url or None


def _dicts(container: dict[str, Any], key: str) -> list[dict[str, Any]]:
    values = _get(container, key) or ()
    if not isinstance(values, list | tuple):
        return []
    return [v for v in values if isinstance(v, dict)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
