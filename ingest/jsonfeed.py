"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read with the standard library."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from itertools import accumulate
from typing import Any

from .errors import ParseError
from .images import Image
from .models import Enclosure, Entry, ParsedFeed
from .normalize import FeedContext, RawEntry, build_entry, dedupe, parse_length, plain_title
from .urls import canonical_link

KINDS = {"https://jsonfeed.org/version/1": "json10", "https://jsonfeed.org/version/1.1": "json11"}
MAX_ITEMS = 1000  # items read from one document; the rest are reported in the warning
MAX_DEPTH = 64  # arrays and objects inside one another; a JSON Feed needs five or six
# A string, or an unterminated one running to the end: always matches at '"', so linear.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # +1 / -1, shifted by one


def looks_like_json(content: bytes, content_type: str) -> bool:
    """True when the body starts with '{', or the Content-Type says JSON and it is not markup."""
    start = content[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start == b"{" or (start != b"<" and "json" in content_type.lower())


def parse_json_feed(content: bytes, url: str, now: datetime) -> ParsedFeed:
    """A JSON Feed document -> ``ParsedFeed``; ParseError when it is not one."""
    document = _load(content)
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError(
            "not a feed: the JSON document has no 'items' list, so it is not a JSON Feed"
        )
    kind = KINDS.get(str(document.get("version", "")), "json")
    ctx = FeedContext(url=url, now=now, authors=_authors(document))
    entries = [_entry(item, ctx) for item in items[:MAX_ITEMS] if isinstance(item, Mapping)]
    kept, duplicates = dedupe(entries)
    warning = None
    if len(items) > MAX_ITEMS:
        warning = f"the feed lists {len(items)} items; only the first {MAX_ITEMS} were read"
    title = plain_title(_str(document.get("title")) or "", False)
    return ParsedFeed(
        title=title or None,
        link=canonical_link(_str(document.get("home_page_url")), url),
        entries=kept,
        warning=warning,
        duplicates=duplicates,
        kind=kind,
    )


def load_json(content: bytes) -> Any:
    """The decoded JSON document; ParseError when it is broken or nested too deep to be a feed."""
    if (depth := nesting_depth(content)) > MAX_DEPTH:
        raise ParseError(
            f"not a feed: the JSON document nests arrays and objects {depth} levels deep, "
            f"more than the {MAX_DEPTH} a feed could need"
        )
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"not a feed: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not a feed: the JSON document cannot be read ({exc})") from exc


def nesting_depth(content: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, in one linear pass (strings skipped)."""
    brackets = _STRING.sub(b"", content).translate(None, _NOT_BRACKETS)
    return max(accumulate(step - 1 for step in brackets.translate(_STEPS)), default=0)


def _load(content: bytes) -> dict[str, Any]:
    """The decoded top-level object, or ParseError with where the JSON is broken."""
    document = load_json(content)
    if not isinstance(document, dict):
        raise ParseError("not a feed: the JSON document is not an object, so it is not a JSON Feed")
    return document


def _entry(item: Mapping[str, Any], ctx: FeedContext) -> Entry:
    """One JSON Feed item -> ``Entry``."""
    content_html = _str(item.get("content_html"))
    item_id = item.get("id")
    raw = RawEntry(
        guid=str(item_id) if isinstance(item_id, str | int) and item_id != "" else None,
        link=_str(item.get("url")) or _str(item.get("external_url")),
        title=_str(item.get("title")) or "",
        authors=_authors(item),
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
        summary=_str(item.get("summary")) or "",
        summary_is_html=False,
        content=content_html or _str(item.get("content_text")) or "",
        content_is_html=content_html is not None,
        images=_images(item),
        tags=tuple(t for t in _list(item.get("tags")) if isinstance(t, str)),
        enclosures=tuple(_attachment(a) for a in _list(item.get("attachments"))),
    )
    return build_entry(raw, ctx)


def _authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Names from ``authors`` (1.1) or ``author`` (1.0)."""
    people = _list(obj.get("authors")) or [obj.get("author")]
    return tuple(
        p["name"] for p in people if isinstance(p, Mapping) and isinstance(p.get("name"), str)
    )


def _images(item: Mapping[str, Any]) -> tuple[Image, ...]:
    images = [Image(_str(item.get("image")) or ""), Image(_str(item.get("banner_image")) or "")]
    for attachment in _list(item.get("attachments")):
        if isinstance(attachment, Mapping) and str(attachment.get("mime_type", "")).startswith(
            "image/"
        ):
            size = parse_length(attachment.get("size_in_bytes"))
            images.append(Image(_str(attachment.get("url")) or "", bytes=size))
    return tuple(i for i in images if i.url)


def _attachment(value: object) -> Enclosure:
    if not isinstance(value, Mapping):
        return Enclosure(url="")
    mime = (_str(value.get("mime_type")) or "").strip().lower()
    return Enclosure(
        url=_str(value.get("url")) or "",
        type=mime or None,
        length=parse_length(value.get("size_in_bytes")),
    )


def _date(value: object) -> datetime | None:
    """An RFC 3339 date; None when missing or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip().upper())
    except ValueError:
        return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
