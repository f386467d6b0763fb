"""feedparser's rules for the elements ``ingest.plain_feeds`` reads, as plain functions.

Each mirrors what feedparser 6 does when it meets the element (its ``pop`` with the repairs of
double-encoded UTF-8 and Windows-1252 code points, ``_start_link``'s defaults, the author string
from an author's details and the reverse, category bookkeeping), so that a dictionary built here
is the one feedparser builds. ``tests/test_plain_feeds.py`` holds them to that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from typing import Any, NamedTuple

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_XML_ATTRIBUTES = {XML_LANG: "xml:lang", XML_BASE: "xml:base"}
# feedparser's own: its date parser (every format it knows) and its guess at HTML in RSS text.
parse_date = _parse_date
looks_like_html = _FeedParserMixin.looks_like_html
_CONTENT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
AMPERSAND_FIX = re.compile("&([A-Za-z0-9_]+);")
# The C1 code points feedparser reads as Windows-1252 (U+0080 to U+009F), in UTF-8: a search
# for a literal first byte runs a few times faster over an article than one for a class of
# characters in the text itself.
WINDOWS_1252 = re.compile(b"\xc2[\x80-\x9f]")
EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)


class Unusual(Exception):
    """The document holds something this path does not read as feedparser would."""


class Bases:
    """feedparser's xml:base bookkeeping: the base in force as elements open and close.

    With ``tracking`` off (a document without xml:base) the base stays empty, as it does in
    feedparser when it is handed bytes and no Content-Location.
    """

    def __init__(self, *, tracking: bool) -> None:
        self.uri = ""
        self.tracking = tracking
        self._stack: list[str] = []

    def enter(self, element: Any) -> None:
        """An element opens: its xml:base, resolved against the base in force, is in force."""
        if not self.tracking:
            return
        given = element.get(XML_BASE) or self.uri
        if self.uri:
            self.uri = make_safe_absolute_uri(self.uri, given) or self.uri
        else:
            self.uri = _urljoin(self.uri, given)
        self._stack.append(self.uri)

    def leave(self) -> None:
        """An element closes: the enclosing one's base is back, unless that one is empty."""
        if not self.tracking:
            return
        self._stack.pop()
        if self._stack and self._stack[-1]:
            self.uri = self._stack[-1]


def only(element: Any, allowed: Set[str]) -> bool:
    """True when ``element`` has no attribute but ``allowed`` ones (and xml:lang, xml:base)."""
    names = element.keys()  # a list, cheaper than the ``attrib`` proxy
    return all(name in allowed or name in _XML_ATTRIBUTES for name in names)


def accepted(*names: str) -> frozenset[str]:
    """Attribute names for ``attributes``: each as written and lower-cased (feedparser
    lower-cases names, so both spellings read alike)."""
    return frozenset(names) | {name.lower() for name in names}


def attributes(element: Any, allowed: frozenset[str] | None) -> dict[str, str]:
    """feedparser's attribute dictionary: names lower-cased, rel and type values too.

    Only ``allowed`` attributes (from ``accepted``; any without a namespace but ``base`` when
    None), xml:lang and xml:base may be there.
    """
    found: dict[str, str] = {}
    for name, value in element.items():
        if allowed is None:
            if name.startswith("{") or name == "base":
                raise Unusual  # a namespaced one (xml:lang and xml:base among them)
        elif name in _XML_ATTRIBUTES:
            found[_XML_ATTRIBUTES[name]] = value
            continue
        elif name not in allowed:
            raise Unusual
        key = name.lower()
        found[key] = value.lower() if key in ("rel", "type") else value
    return found


def text(element: Any) -> str:
    """The text of an element holding nothing but text."""
    if len(element):
        raise Unusual
    return element.text or ""


def pop(element: Any, base: str | None = None) -> str:
    """A text element's value after feedparser's ``pop``: stripped, resolved against ``base``
    when it is a URI (None: it is not), repaired."""
    if len(element):
        raise Unusual
    value = element.text
    if not value:
        return ""
    value = value.strip()
    if base is not None and value:
        value = resolved(value, base)
    return value if value.isascii() else repaired(value)


def resolved(value: str, base: str) -> str:
    """feedparser's ``resolve_uri``: extra slashes after the scheme dropped, joined to ``base``."""
    if not base and ":///" not in value:
        return value  # nothing to drop, nothing to join: what _urljoin gives, without its regex
    return _urljoin(base, value)


def repaired(value: str) -> str:
    """feedparser's double-encoded UTF-8 and Windows-1252 repairs."""
    if value.isascii():
        return value  # both repairs leave ASCII as it is
    value = _double_encoded(value)
    if WINDOWS_1252.search(value.encode("utf-8", "surrogatepass")):
        return value.translate(_cp1252)
    return value


def _double_encoded(value: str) -> str:
    """``value`` read as UTF-8 when its code points are the bytes of UTF-8, else as it is."""
    try:
        return value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def content_type(given: str) -> str:
    """feedparser's ``map_content_type``."""
    given = given.lower()
    return _CONTENT_TYPES.get(given, given)


def detail(kind: str, base: str, value: str) -> dict[str, Any]:
    """A text element's ``*_detail``: feedparser's content parameters (its language left out:
    nothing reads it) and the value."""
    return {"type": kind, "base": base, "value": value}


def children(element: Any, bases: Bases) -> Iterable[Any]:
    """The child elements, each with its xml:base in force while it is handled."""
    if not bases.tracking:
        return element  # no base to keep: the element iterates over its children itself
    return _tracked_children(element, bases)


def _tracked_children(element: Any, bases: Bases) -> Iterator[Any]:
    for child in element:
        bases.enter(child)
        yield child
        bases.leave()


def enforce_href(attributes: dict[str, str]) -> None:
    """feedparser's ``_enforce_href``: ``url`` or ``uri`` become ``href``."""
    href = attributes.get("url", attributes.get("uri", attributes.get("href")))
    if href:
        attributes.pop("url", None)
        attributes.pop("uri", None)
        attributes["href"] = href


def category(
    context: dict[str, Any], term: str | None, scheme: str | None, label: str | None, text: str
) -> None:
    """feedparser's _start_category and _end_category."""
    tags = context.setdefault("tags", [])
    add_tag(tags, term, scheme, label)
    if not text:
        return
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = text
    else:
        add_tag(tags, text, None, None)


def add_tag(tags: list[dict[str, Any]], term: Any, scheme: Any, label: Any) -> None:
    """feedparser's ``_add_tag``: a tag unless empty or already there."""
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


def save_author(context: dict[str, Any], key: str, value: str) -> None:
    """feedparser's ``_save_author``: an author's name, email or href."""
    context.setdefault("author_detail", {})[key] = value
    sync_author_detail(context)
    context.setdefault("authors", [{}])
    context["authors"][-1][key] = value


def sync_author_detail(context: dict[str, Any]) -> None:
    """feedparser's ``_sync_author_detail``: the author string from the detail, or the reverse."""
    detail = context.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name:
            context["author"] = name
        elif email:
            context["author"] = email
        return
    author, email = context.get("author"), None
    if not author:
        return
    match = EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def only_attributes(element: Any, allowed: Set[str] = frozenset()) -> None:
    """Unusual unless ``element`` has no attribute but ``allowed`` ones (and xml:lang, xml:base)."""
    names = element.keys()  # a list, cheaper than the ``attrib`` proxy
    for name in names:
        if name not in allowed and name not in _XML_ATTRIBUTES:
            raise Unusual


# --- element readers RSS 2.0 and Atom 1.0 share (ingest/plain_feeds.py, ingest/plain_atom.py) ---

ATOM = "http://www.w3.org/2005/Atom"
MEDIA = ("http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss")
_THUMBNAIL = {f"{{{uri}}}thumbnail" for uri in MEDIA}
_MEDIA_CONTENT = {f"{{{uri}}}content" for uri in MEDIA}
# An element's reader: it adds what the element holds to a feed's or an entry's dictionary.
Reader = Callable[[dict[str, Any], Any, Bases], None]


def media(context: dict[str, Any], element: Any, bases: Bases) -> bool:
    """media:thumbnail and an empty media:content, as feedparser keeps them; False for others."""
    tag = element.tag
    if tag in _THUMBNAIL:
        found = attributes(element, None)
        url = pop(element, bases.uri)
        if url.strip():
            found.setdefault("url", url)
        context.setdefault("media_thumbnail", []).append(found)
        return True
    if tag in _MEDIA_CONTENT:
        found = attributes(element, None)
        if text(element).strip():
            raise Unusual
        context.setdefault("media_content", []).append(found)
        return True
    return False


def published(entry: dict[str, Any], element: Any, bases: Bases) -> None:
    """RSS ``<pubDate>``, Atom ``<published>``."""
    only_attributes(element)
    entry["published"] = value = pop(element)
    entry["published_parsed"] = parse_date(value)


def ignored(entry: dict[str, Any], element: Any, bases: Bases) -> None:
    """An element whose text nobody downstream reads: only checked to be plain."""
    only_attributes(element)
    text(element)


def once(seen: set[str], tag: str) -> None:
    """Unusual when an element that comes once comes again (feedparser then keeps one of them
    by rules of its own)."""
    if tag in seen:
        raise Unusual
    seen.add(tag)


class Elements(NamedTuple):
    """What an element may hold: each child element's reader, and those that may come once."""

    readers: Mapping[str, Reader]
    single: Set[str] = frozenset()


def feed(
    parent: Any, bases: Bases, own: Elements, entry_tag: str, entries: Elements
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A feed's dictionary (its ``own`` elements, each to its reader) and its entries (the
    ``entry_tag`` children, read by ``entry``). Unusual for an element no reader takes, a single
    one twice, or one of the feed's after the entries (feedparser's state then differs)."""
    found: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for child in children(parent, bases):
        tag = child.tag
        if tag == entry_tag:
            only_attributes(child)
            items.append(entry(child, bases, entries))
            continue
        if items:
            raise Unusual
        if tag in own.single:
            once(seen, tag)
        reader = own.readers.get(tag)
        if reader is None:
            raise Unusual
        reader(found, child, bases)
    return found, items


def entry(element: Any, bases: Bases, elements: Elements) -> dict[str, Any]:
    """An RSS item's or an Atom entry's dictionary: each child to its reader (media:thumbnail
    and media:content to ``media``); Unusual for another element or a single one twice."""
    found: dict[str, Any] = {}
    seen: set[str] = set()
    for child in children(element, bases):
        tag = child.tag
        if tag in elements.single:
            once(seen, tag)
        reader = elements.readers.get(tag)
        if reader is not None:
            reader(found, child, bases)
        elif not media(found, child, bases):
            raise Unusual
    return found
