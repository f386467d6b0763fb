"""OPML 2.0 subscription lists, in and out. Pure: bytes in, records out, and back.

A file read is bounded: at most ``MAX_BYTES`` and ``MAX_OUTLINES`` outlines, so a huge or hostile
file is refused with the limit named instead of filling memory and the config. Every outline not
taken is reported with the reason (no ``xmlUrl``, not http(s), a duplicate).

Two addresses name the same feed when they differ only where RFC 3986 (6.2.2, 6.2.3) says they
are equivalent: the case of the scheme and host, a default port, an empty path. A trailing slash
is not one of those (``/feed`` and ``/feed/`` are two resources a server may answer
differently), nor is the case of the path or the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from itertools import islice
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

from lxml import etree

from ingest.errors import BroadsheetError
from ingest.inflate import size_text
from ingest.models import FeedSpec

MAX_BYTES = 10_000_000  # an OPML file read at once; real subscription lists are kilobytes
MAX_OUTLINES = 10_000  # feeds and folders in one file


class OpmlError(BroadsheetError):
    """The file is not an OPML subscription list we can read."""


_DEFAULT_PORTS = {"http": 80, "https": 443}


def feed_key(url: str) -> str:
    """``url`` with the parts that do not change which feed it names made canonical."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


@dataclass(frozen=True)
class Skipped:
    """An outline not imported: what it was (its address or title) and why."""

    outline: str
    reason: str


@dataclass
class Reading:
    """What an OPML file gave: the feeds, and every outline left out with the reason."""

    feeds: list[FeedSpec] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def read(content: bytes, source: str = "the OPML file") -> list[FeedSpec]:
    """The feeds an OPML document lists; folder outlines become tags (lower-cased)."""
    return read_outlines(content, source).feeds


def read_outlines(content: bytes, source: str = "the OPML file") -> Reading:
    """The feeds an OPML document lists, and the outlines skipped with the reason."""
    if len(content) > MAX_BYTES:
        raise OpmlError(
            f"{source} is larger than {size_text(MAX_BYTES)}, the most an OPML import reads: "
            "split it into smaller files and import each"
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"{source} is not well-formed XML: {exc}") from exc
    if root.tag != "opml":
        raise OpmlError(f"{source} is not OPML: its root element is <{root.tag}>, not <opml>")
    body = root.find("body")
    if body is None:
        raise OpmlError(f"{source} has no <body>: there are no subscriptions in it")
    if sum(1 for _ in islice(body.iter("outline"), MAX_OUTLINES + 1)) > MAX_OUTLINES:
        raise OpmlError(
            f"{source} has more than {MAX_OUTLINES:,} outlines, the most an OPML import takes: "
            "split it into smaller files and import each"
        )
    reading = Reading()
    _walk(body, (), {}, reading)
    return reading


def _walk(
    node: etree._Element, tags: tuple[str, ...], found: dict[str, str], reading: Reading
) -> None:
    for outline in node.iterfind("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        title = (outline.get("title") or outline.get("text") or "").strip() or None
        if not url and len(outline):
            folder = (title or "").lower()
            _walk(outline, (*tags, folder) if folder else tags, found, reading)
        elif not url:
            name = title or outline.get("htmlUrl") or "an outline without text"
            reading.skipped.append(Skipped(name, "no xmlUrl: not a feed"))
        elif urlsplit(url).scheme.lower() not in ("http", "https"):
            reading.skipped.append(Skipped(url, "not an http:// or https:// address"))
        elif (key := feed_key(url)) in found:
            reading.skipped.append(Skipped(url, f"a duplicate of {found[key]} in this file"))
        else:
            found[key] = url
            both = (*tags, *_categories(outline.get("category") or ""))
            reading.feeds.append(FeedSpec(url=url, title=title, tags=tuple(dict.fromkeys(both))))


def _categories(text: str) -> list[str]:
    """OPML's ``category``: comma-separated, slash-delimited; each last segment is a tag."""
    paths = (part.strip().strip("/") for part in text.split(","))
    return [path.rpartition("/")[2].lower() for path in paths if path]


def write(feeds: Sequence[FeedSpec], title: str, now: datetime) -> str:
    """An OPML 2.0 document listing ``feeds``: in folders by their first tag, every tag a category."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ElementTree.SubElement(root, "body")
    folders: dict[str, ElementTree.Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            tag = feed.tags[0]
            if tag not in folders:
                folders[tag] = ElementTree.SubElement(body, "outline", text=tag, title=tag)
            parent = folders[tag]
        name = feed.title or feed.url
        outline = ElementTree.SubElement(
            parent, "outline", type="rss", text=name, title=name, xmlUrl=feed.url
        )
        if feed.tags:
            outline.set("category", ",".join(f"/{tag}" for tag in feed.tags))
    ElementTree.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ElementTree.tostring(root, encoding="unicode")
        + "\n"
    )
