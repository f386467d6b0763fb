"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read with the standard library."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import accumulate
from typing import Any

from .errors import ParseError
from .images import Image
from .models import Enclosure, Entry, ParsedFeed
from .normalize import (
    FeedContext,
    RawEntry,
    build_entry,
    dedupe,
    parse_duration,
    parse_length,
    plain_title,
)
from .people import person_name
from .urls import canonical_link

KINDS = {"https://jsonfeed.org/version/1": "json10", "https://jsonfeed.org/version/1.1": "json11"}
MAX_ITEMS = 1000  # items read from one document; the rest are reported in the warning
MAX_DEPTH = 64  # arrays and objects inside one another; a JSON Feed needs five or six
# A string, or an unterminated one running to the end: always matches at '"', so linear.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # +1 / -1, shifted by one
_LEAP_SECOND = re.compile(r"([T ]\d\d:\d\d:)60")  # 23:59:60 is valid RFC 3339; Python refuses it


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
    objects = [item for item in items[:MAX_ITEMS] if isinstance(item, Mapping)]
    kept, duplicates = dedupe(_entry(item, ctx) for item in objects)
    warnings = []
    if skipped := min(len(items), MAX_ITEMS) - len(objects):
        warnings.append(f"{skipped} of the feed's items are not JSON objects and were skipped")
    if len(items) > MAX_ITEMS:
        warnings.append(f"the feed lists {len(items)} items; only the first {MAX_ITEMS} were read")
    title = plain_title(_str(document.get("title")) or "", False)
    return ParsedFeed(
        title=title or None,
        link=canonical_link(_str(document.get("home_page_url")), url),
        entries=kept,
        warning="; ".join(warnings) or None,
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
    content_html = (_str(item.get("content_html")) or "").strip()
    raw = RawEntry(
        guid=item_id(item.get("id")),
        link=_str(item.get("url")) or _str(item.get("external_url")),
        title=_str(item.get("title")) or "",
        authors=_authors(item),
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
        summary=_str(item.get("summary")) or "",
        summary_is_html=False,
        content=content_html or _str(item.get("content_text")) or "",
        content_is_html=bool(content_html),
        images=_images(item),
        tags=tuple(t for t in _list(item.get("tags")) if isinstance(t, str)),
        enclosures=tuple(_attachment(a) for a in _list(item.get("attachments"))),
    )
    return build_entry(raw, ctx)


def item_id(value: object) -> str | None:
    """An item's ``id`` as a string: the spec has readers coerce numbers (and other types)."""
    if isinstance(value, str):
        return value if value.strip() else None
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, int | float):  # bool too: json.dumps gives true, 5, 1.5, 1e+20
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Names from ``authors`` (1.1), else ``author`` (1.0); a person without a name by url."""
    for people in (_list(obj.get("authors")), [obj.get("author")]):
        names = tuple(name for name in map(_person, people) if name)
        if names:
            return names
    return ()


def _person(value: object) -> str | None:
    """A JSON Feed author object (or a bare string) as the name a reader is shown."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        return None
    return person_name(_str(value.get("name")), url=_str(value.get("url")))


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
        duration=parse_duration(value.get("duration_in_seconds")),
    )


def _date(value: object) -> datetime | None:
    """An RFC 3339 date (also an RFC 822 one, or a leap second); None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _LEAP_SECOND.sub(r"\g<1>59", value.strip().upper())
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:  # a mistake some publishers make: the RSS date format in a JSON Feed
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
