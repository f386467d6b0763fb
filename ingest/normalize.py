"""A parsed entry (feedparser's, or a JSON Feed item) -> ``Entry``: identity, text, dates, image."""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import html as htmllib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .excerpts import story_excerpt
from .images import Image, body_images, lead_image, pixels
from .models import Enclosure, Entry
from .people import fp_people
from .sanitize import clean_text, excerpt, sanitize_html, to_text
from .urls import canonical_link, is_web_url, resolve_url

EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # no web feed is older; earlier dates are bogus
FUTURE_SLACK = timedelta(days=2)  # clocks and time zones drift; beyond this a date is bogus
EXCERPT_LENGTH = 400
TITLE_LENGTH = 300
UNTITLED = "(untitled)"
MAX_HTML_CHARS = 512 * 1024  # an article body longer than this is cut before cleaning
MAX_ID_CHARS = 1024  # longer guids are hashed into the identity
MAX_NAMES = 50  # authors, tags and enclosures kept per entry
MAX_NAME_CHARS = 200
_get = dict.get
# json.dumps(value, ensure_ascii=False) without building an encoder per call (the same text:
# check_circular only matters for a value that contains itself, which these lists never do).
_to_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


@dataclass(frozen=True)
class FeedContext:
    """What an entry is read against: the feed's address, its base, `now` and inherited authors."""

    url: str
    now: datetime
    authors: tuple[str, ...] = ()  # feed-level authors inherited by entries without their own


@dataclass(frozen=True)
class RawEntry:
    """An entry's fields as the format gave them, before cleaning."""

    guid: str | None = None
    link: str | None = None  # as written (or as xml:base made it); never taken from a guid
    base: str | None = None  # the xml:base in force on the entry, absolute
    title: str = ""
    title_is_html: bool = False
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    summary: str = ""
    summary_is_html: bool = True
    summary_base: str | None = None
    content: str = ""
    content_is_html: bool = True
    content_base: str | None = None
    images: tuple[Image, ...] = ()  # lead-image candidates from metadata, with their sizes
    tags: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()


def build_entry(raw: RawEntry, ctx: FeedContext) -> Entry:
    """Clean, normalise and identify one entry."""
    link = canonical_link(raw.link, ctx.url)
    # Relative URLs resolve against xml:base, else the feed's own address (RFC 4287 section 2,
    # RFC 3986 section 5.1), never against the entry's link: a link blog links elsewhere.
    base = raw.base or ctx.url
    summary_html = _body_html(raw.summary, raw.summary_is_html, raw.summary_base or base)
    content_html = _body_html(raw.content, raw.content_is_html, raw.content_base or base)
    text = clean_text(summary_html or content_html)  # for the identity: never changes meaning
    image = _lead_image(raw.images, content_html or summary_html, base)
    given_title = plain_title(raw.title, raw.title_is_html)
    title = given_title or excerpt(text, 80) or UNTITLED
    updated = sane_date(raw.updated, ctx.now)
    # Atom requires only <updated>; without <published> it is the best date of first publication.
    published = sane_date(raw.published, ctx.now) or updated
    guid = raw.guid.strip() if raw.guid else None
    authors = _names(raw.authors) or ctx.authors
    image_url = image.url if image else None
    return Entry(
        identity=_identity(guid, link, given_title, raw.published or raw.updated, title, text),
        title=title,
        link=link,
        guid=guid or None,
        authors=authors,
        published=published,
        updated=updated,
        summary_html=summary_html,
        content_html=content_html,
        excerpt=_excerpt(summary_html, content_html, raw.authors or ctx.authors),
        image=image_url,
        image_width=image.width if image else None,
        tags=_names(raw.tags, casefold=True),
        enclosures=_enclosures(raw.enclosures, base),
        content_hash=_shown_hash(
            title, link, authors, published, updated, summary_html, content_html, image_url
        ),
    )


def content_hash(entry: Entry) -> str:
    """sha256 over what a reader is shown, so that any change to it is noticed."""
    return _shown_hash(
        entry.title,
        entry.link,
        entry.authors,
        entry.published,
        entry.updated,
        entry.summary_html,
        entry.content_html,
        entry.image,
    )


def _shown_hash(
    title: str,
    link: str | None,
    authors: tuple[str, ...],
    published: datetime | None,
    updated: datetime | None,
    summary_html: str,
    content_html: str,
    image: str | None,
) -> str:
    shown = [title, link, authors, _iso(published), _iso(updated), summary_html, content_html]
    return _sha256(_to_json([*shown, image]))


def entry_from_feedparser(entry: dict[str, Any], ctx: FeedContext) -> Entry:
    """One feedparser entry dictionary -> ``Entry``."""
    # dict.get, not FeedParserDict.get: its key aliases are slow and some of them warn.
    title = _get(entry, "title_detail") or {}
    summary = _get(entry, "summary_detail") or {}
    content = _pick_content(_get(entry, "content") or ())
    enclosures = [link for link in _dicts(entry, "links") if _get(link, "rel") == "enclosure"]
    raw = RawEntry(
        guid=_text(_get(entry, "id")),
        link=_fp_link(entry),
        base=_entry_base(entry, ctx),
        title=_text(_get(title, "value")) or "",
        title_is_html=is_html_type(_get(title, "type")),
        authors=_fp_authors(entry),
        published=date_from_struct(_get(entry, "published_parsed")),
        updated=date_from_struct(_get(entry, "updated_parsed")),
        summary=_text(_get(summary, "value")) or "",
        summary_is_html=is_html_type(_get(summary, "type", "text/html")),
        summary_base=_declared_base(summary, ctx),
        content=_text(_get(content, "value")) or "",
        content_is_html=is_html_type(_get(content, "type", "text/html")),
        content_base=_declared_base(content, ctx),
        images=_fp_images(entry, enclosures),
        tags=tuple(
            _text(_get(t, "label")) or _text(_get(t, "term")) or "" for t in _dicts(entry, "tags")
        ),
        enclosures=tuple(_fp_enclosure(e) for e in enclosures),
    )
    return build_entry(raw, ctx)


def dedupe(entries: Iterable[Entry]) -> tuple[tuple[Entry, ...], int]:
    """Entries with a repeated identity dropped (the first kept), and how many were dropped."""
    seen: set[str] = set()
    kept: list[Entry] = []
    dropped = 0
    for entry in entries:
        if entry.identity in seen:
            dropped += 1
        else:
            seen.add(entry.identity)
            kept.append(entry)
    return tuple(kept), dropped


def date_from_struct(value: object) -> datetime | None:
    """A UTC ``struct_time`` (as feedparser gives) -> aware datetime; None when unusable."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def sane_date(value: datetime | None, now: datetime) -> datetime | None:
    """``value`` in UTC, or None when before 1995 or more than two days after ``now``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value < EARLIEST or value > now + FUTURE_SLACK:
        return None
    return value


def plain_title(value: str, is_html: bool) -> str:
    """A title as one line of plain text, at most ``TITLE_LENGTH`` characters."""
    if is_html:
        text = to_text(value)
    else:  # entities too: many feeds escape their plain-text titles twice ("AT&amp;amp;T")
        text = " ".join(htmllib.unescape(value[: TITLE_LENGTH * 4]).split())
    return excerpt(text, TITLE_LENGTH)


def _body_html(value: str, is_html: bool, base: str) -> str:
    """Sanitized HTML of a summary or content, plain text escaped into paragraphs."""
    value = value[:MAX_HTML_CHARS].strip()
    if not value:
        return ""
    if is_html:
        return sanitize_html(value, base)
    paragraphs = [" ".join(p.split()) for p in value.split("\n\n")]
    paragraphs = [htmllib.escape(p, quote=False) for p in paragraphs if p]
    if len(paragraphs) == 1:
        return paragraphs[0]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def _identity(
    guid: str | None,
    link: str | None,
    given_title: str,
    dated: datetime | None,
    title: str,
    text: str,
) -> str:
    """guid; else link, the feed's title and date; else title and text: stable across re-polls.

    Without a guid the link alone is not enough: a changelog links every release to one page,
    and a comment feed links every comment to one article (the fragment tells them apart).
    """
    if guid:
        return guid if len(guid) <= MAX_ID_CHARS else "sha256:" + _sha256(guid)
    if link:
        return "sha256:" + _sha256(json.dumps(["link", link, given_title, _iso(dated)]))
    return "sha256:" + _sha256(f"{title}\n{text}")


def _lead_image(candidates: Sequence[Image], clean_html: str, base: str) -> Image | None:
    """The best of the metadata's images and the (cleaned) body's (see ``ingest/images.py``)."""
    return lead_image([*candidates, *body_images(clean_html)], base)


def _excerpt(summary_html: str, content_html: str, authors: Sequence[str]) -> str:
    """The summary's story text (see ``ingest/excerpts.py``), else the content's."""
    return story_excerpt(summary_html, EXCERPT_LENGTH, authors) or story_excerpt(
        content_html, EXCERPT_LENGTH, authors
    )


def _names(values: Sequence[str], *, casefold: bool = False) -> tuple[str, ...]:
    """Stripped, non-empty, de-duplicated names (case-insensitively for tags), order kept."""
    seen: set[str] = set()
    kept: list[str] = []
    for value in values[: MAX_NAMES * 2]:
        name = " ".join(value.split())[:MAX_NAME_CHARS]
        key = name.casefold() if casefold else name
        if name and key not in seen:
            seen.add(key)
            kept.append(name)
    return tuple(kept[:MAX_NAMES])


def _enclosures(values: Sequence[Enclosure], base: str) -> tuple[Enclosure, ...]:
    kept: list[Enclosure] = []
    for enclosure in values[:MAX_NAMES]:
        url = resolve_url(enclosure.url, base)
        if url and all(url != e.url for e in kept):
            kept.append(dataclasses.replace(enclosure, url=url))
    return tuple(kept)


def _fp_link(entry: dict[str, Any]) -> str | None:
    """The entry's link; feedparser's copy of a permalink guid only when it is an http(s) URL."""
    link = _text(_get(entry, "link"))
    if link is None or link != _get(entry, "id") or not _get(entry, "guidislink"):
        return link
    written = any(
        _get(e, "href") == link and _get(e, "rel") == "alternate" for e in _dicts(entry, "links")
    )
    return link if written or is_web_url(link) else None


def _entry_base(entry: dict[str, Any], ctx: FeedContext) -> str | None:
    """The xml:base in force inside the entry, as feedparser reports it on the entry's texts."""
    for detail in (_get(entry, "title_detail"), _get(entry, "summary_detail")):
        if isinstance(detail, dict) and (base := _declared_base(detail, ctx)):
            return base
    return None


def _fp_authors(entry: dict[str, Any]) -> tuple[str, ...]:
    """The entry's own authors, else those of its Atom ``<source>`` (RFC 4287 4.2.11)."""
    source = _get(entry, "source")
    return fp_people(entry) or (fp_people(source) if isinstance(source, dict) else ())


def _fp_images(entry: dict[str, Any], enclosures: list[dict[str, Any]]) -> tuple[Image, ...]:
    images = [
        Image(_text(_get(e, "href")) or "", bytes=parse_length(_get(e, "length")))
        for e in enclosures
        if (_text(_get(e, "type")) or "").lower().startswith("image/")
    ]
    images += [_fp_media(t) for t in _dicts(entry, "media_thumbnail")]
    images += [
        _fp_media(m)
        for m in _dicts(entry, "media_content")
        if _get(m, "medium") == "image" or (_text(_get(m, "type")) or "").startswith("image/")
    ]
    return tuple(i for i in images if i.url)


def _fp_media(value: dict[str, Any]) -> Image:
    """A media:content or media:thumbnail element with its declared size."""
    return Image(
        _text(_get(value, "url")) or "",
        pixels(_get(value, "width")),
        pixels(_get(value, "height")),
        parse_length(_get(value, "filesize")),
    )


def _fp_enclosure(value: dict[str, Any]) -> Enclosure:
    return Enclosure(
        url=_text(_get(value, "href")) or "",
        type=(_text(_get(value, "type")) or "").strip().lower() or None,
        length=parse_length(_get(value, "length")),
    )


def parse_length(value: object) -> int | None:
    """A byte count from a feed: a non-negative number (or numeric text), whole; else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 10**18 else None
    number = _number(value)
    return round(number) if number is not None else None


def parse_duration(value: object) -> float | None:
    """A duration in seconds from a feed: a non-negative number (or numeric text), else None."""
    return _number(value)


def _number(value: object) -> float | None:
    """A finite, non-negative number below 10**18 given as a JSON number or as text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value or len(value) > 40:
            return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if 0 <= number < 1e18 else None  # NaN fails both comparisons


def _pick_content(contents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The first HTML content block (Atom content or content:encoded), else the first one."""
    blocks = [c for c in contents if isinstance(c, dict)]
    for block in blocks:
        if is_html_type(_get(block, "type", "")):
            return block
    return blocks[0] if blocks else {}


def _declared_base(detail: dict[str, Any], ctx: FeedContext) -> str | None:
    """The xml:base in force on a detail (feedparser is given no other base), made absolute."""
    base = _text(_get(detail, "base"))
    return resolve_url(base, ctx.url) if base else None


def is_html_type(content_type: object) -> bool:
    """True for feedparser's HTML and XHTML content types."""
    kind = _text(content_type) or ""
    return "html" in kind or "xml" in kind


def _dicts(entry: dict[str, Any], key: str) -> list[dict[str, Any]]:
    values = _get(entry, key) or ()
    if not isinstance(values, list | tuple):
        return []
    return [v for v in values if isinstance(v, dict)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
