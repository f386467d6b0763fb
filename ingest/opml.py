"""OPML 2.0 subscription lists, in and out. Pure: bytes in, records out, and back.

A file read is bounded: at most ``MAX_BYTES`` and ``MAX_OUTLINES`` outlines, so a huge or hostile
file is refused with the limit named instead of filling memory and the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from itertools import islice
from xml.etree import ElementTree

from lxml import etree

from ingest.errors import BroadsheetError
from ingest.inflate import size_text
from ingest.models import FeedSpec

MAX_BYTES = 10_000_000  # an OPML file read at once; real subscription lists are kilobytes
MAX_OUTLINES = 10_000  # feeds and folders in one file


class OpmlError(BroadsheetError):
    """The file is not an OPML subscription list we can read."""


def read(content: bytes, source: str = "the OPML file") -> list[FeedSpec]:
    """The feeds an OPML document lists; folder outlines become tags (lower-cased)."""
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
    found: dict[str, FeedSpec] = {}
    _walk(body, (), found)
    return list(found.values())


def _walk(node: etree._Element, tags: tuple[str, ...], found: dict[str, FeedSpec]) -> None:
    for outline in node.iterfind("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        title = (outline.get("title") or outline.get("text") or "").strip() or None
        if url:
            if url.startswith(("http://", "https://")) and url not in found:
                found[url] = FeedSpec(url=url, title=title, tags=tags)
            continue
        folder = (title or "").lower()
        _walk(outline, (*tags, folder) if folder else tags, found)


def write(feeds: Sequence[FeedSpec], title: str, now: datetime) -> str:
    """An OPML 2.0 document listing ``feeds``, grouped in folders by their first tag."""
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
        ElementTree.SubElement(
            parent, "outline", type="rss", text=name, title=name, xmlUrl=feed.url
        )
    ElementTree.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ElementTree.tostring(root, encoding="unicode")
        + "\n"
    )
