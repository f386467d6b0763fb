"""Plain Atom 1.0 read the way feedparser reads it: the feed's and its entries' elements.

``ingest.plain_feeds.read`` hands the root of an Atom document here; each element goes to its
reader, and anything this module does not know raises ``feedparser_rules.Unusual`` so that
feedparser reads the document instead (see ``ingest/plain_feeds.py``).
"""

from __future__ import annotations

from typing import Any

from . import feedparser_rules as rules
from .feedparser_rules import ATOM

ATOM_FEED = f"{{{ATOM}}}feed"
_ATOM_ENTRY = f"{{{ATOM}}}entry"
_ATOM_LINK, _ATOM_URI = f"{{{ATOM}}}link", f"{{{ATOM}}}uri"
_ATOM_FEED_IGNORED = {f"{{{ATOM}}}{name}" for name in ("subtitle", "generator", "icon", "logo")}
_ATOM_FEED_IGNORED |= {f"{{{ATOM}}}rights", f"{{{ATOM}}}category"}
_ATOM_FEED_SINGLE = {f"{{{ATOM}}}{name}" for name in ("title", "id", "updated")}
_ATOM_ENTRY_SINGLE = {f"{{{ATOM}}}{name}" for name in ("title", "id", "published", "updated")}
_ATOM_ENTRY_SINGLE |= {f"{{{ATOM}}}summary", f"{{{ATOM}}}content"}
_TYPE = frozenset({"type"})
_CATEGORY = rules.accepted("term", "scheme", "label")
_LINK = rules.accepted("rel", "type", "href", "title", "length", "hreflang")
_FEED_IGNORED_ATTRIBUTES = rules.accepted("type", "uri", "version", "term", "scheme", "label")
_PERSON = {f"{{{ATOM}}}{name}" for name in ("name", "email", "uri")}


def read_atom(root: Any, bases: rules.Bases) -> dict[str, Any]:
    """feedparser's result for an Atom 1.0 ``<feed>`` (Unusual for anything it would read
    otherwise)."""
    bases.enter(root)
    feed, entries = rules.feed(root, bases, _ATOM_FEED_ELEMENTS, _ATOM_ENTRY, _ATOM_ENTRY_ELEMENTS)
    return {"bozo": False, "version": "atom10", "feed": feed, "entries": entries}


def _atom_updated(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    rules.only_attributes(element)
    entry["updated"] = value = rules.pop(element)
    entry["updated_parsed"] = rules.parse_date(value)


def _atom_summary(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    kind, value = _atom_text(element)
    entry["summary"] = value
    entry["summary_detail"] = rules.detail(kind, bases.uri, value)


def _atom_content(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    kind, value = _atom_text(element)
    entry.setdefault("content", []).append(rules.detail(kind, bases.uri, value))
    entry.setdefault("summary", value)


def _atom_category(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    attributes = rules.attributes(element, _CATEGORY)
    term, scheme, label = attributes.get("term"), attributes.get("scheme"), attributes.get("label")
    rules.category(entry, term, scheme, label, rules.pop(element))


def _atom_title(context: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    kind, value = _atom_text(element)
    context["title"] = value
    context["title_detail"] = rules.detail(kind, bases.uri, value)


def _atom_text(element: Any) -> tuple[str, str]:
    """An Atom text construct of type text or html: feedparser's content type and value."""
    rules.only_attributes(element, _TYPE)
    kind = rules.content_type(element.get("type", "text/plain"))
    if kind not in ("text/plain", "text/html"):
        raise rules.Unusual  # xhtml is markup inside the element; others may be base64
    return kind, rules.pop(element)


def _atom_id(context: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """``<id>``: feedparser reads it as a permalink guid."""
    rules.only_attributes(element)
    value = rules.pop(element, bases.uri)
    context["id"] = value
    context.setdefault("guidislink", "link" not in context)
    context.setdefault("link", value)


def atom_link(context: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """``<link>`` with an href: feedparser's _start_link."""
    attributes = rules.attributes(element, _LINK)
    rules.text(element)
    attributes.setdefault("rel", "alternate")
    self_link = attributes["rel"] == "self"
    attributes.setdefault("type", "application/atom+xml" if self_link else "text/html")
    rules.enforce_href(attributes)
    if "href" not in attributes:
        raise rules.Unusual  # the link is then the element's text, read differently per context
    attributes["href"] = rules.resolved(attributes["href"], bases.uri)
    context.setdefault("links", []).append(attributes)
    html = rules.content_type(attributes["type"]) in ("application/xhtml+xml", "text/html")
    if attributes["rel"] == "alternate" and html:
        context["link"] = attributes["href"]


def _atom_author(context: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """``<author>`` with name, email and uri: feedparser's _start_author ... _end_author."""
    rules.only_attributes(element)
    context.setdefault("authors", []).append({})
    seen: set[str] = set()
    for child in rules.children(element, bases):
        tag = child.tag
        if tag in seen or tag not in _PERSON:
            raise rules.Unusual
        seen.add(tag)
        rules.only_attributes(child)
        if child.tail and child.tail.strip():
            raise rules.Unusual  # text beside the elements
        if tag == _ATOM_URI:
            rules.save_author(context, "href", rules.pop(child, bases.uri))
        else:  # feedparser pops name and email before its repairs
            rules.save_author(context, tag.rpartition("}")[2], rules.text(child).strip())
    if element.text and element.text.strip():
        raise rules.Unusual
    context["author"] = ""
    rules.sync_author_detail(context)


def _atom_feed_ignored(feed: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    rules.attributes(element, _FEED_IGNORED_ATTRIBUTES)
    rules.text(element)


_ATOM_FEED_READERS: dict[str, rules.Reader] = {
    f"{{{ATOM}}}title": _atom_title,
    f"{{{ATOM}}}id": _atom_id,
    f"{{{ATOM}}}updated": rules.ignored,
    _ATOM_LINK: atom_link,
    f"{{{ATOM}}}author": _atom_author,
} | dict.fromkeys(_ATOM_FEED_IGNORED, _atom_feed_ignored)
_ATOM_ENTRY_READERS: dict[str, rules.Reader] = {
    f"{{{ATOM}}}title": _atom_title,
    f"{{{ATOM}}}id": _atom_id,
    _ATOM_LINK: atom_link,
    f"{{{ATOM}}}published": rules.published,
    f"{{{ATOM}}}updated": _atom_updated,
    f"{{{ATOM}}}summary": _atom_summary,
    f"{{{ATOM}}}content": _atom_content,
    f"{{{ATOM}}}author": _atom_author,
    f"{{{ATOM}}}category": _atom_category,
}
_ATOM_FEED_ELEMENTS = rules.Elements(_ATOM_FEED_READERS, _ATOM_FEED_SINGLE)
_ATOM_ENTRY_ELEMENTS = rules.Elements(_ATOM_ENTRY_READERS, _ATOM_ENTRY_SINGLE)
