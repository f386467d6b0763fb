"""Plain RSS 2.0 and Atom 1.0 read the way feedparser reads them, in a fraction of its time.

Most feeds use a handful of elements: an RSS 2.0 item's title, link, guid, pubDate, description,
content:encoded, dc:creator and categories; an Atom entry's title, links, id, dates, summary,
content, authors and categories. For such a document ``read`` builds the same dictionaries
feedparser would (every key ``ingest.parse`` and ``ingest.normalize`` read, with feedparser's
own rules: whitespace, xml:base, permalink guids, the Windows-1252 and double-encoded UTF-8
repairs, the RSS "is this title HTML?" guess, author strings, dates by feedparser's own date parser), from a
tree lxml builds in C. feedparser stays the parser of record: anything else in the document
(another element or attribute, markup inside a text element, a DOCTYPE, an encoding
other than UTF-8, a media type feedparser would warn about, a repeated single element...) makes
``read`` return None and feedparser reads the document. ``tests/test_plain_feeds.py`` proves the
two agree on every document of the corpus this path accepts, and on generated ones.

RSS is read here, Atom in ``ingest/plain_atom.py``; what both share (and feedparser's rules they
follow) is in ``ingest/feedparser_rules.py``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from lxml import etree

from . import feedparser_rules as rules
from .plain_atom import ATOM_FEED, atom_link, read_atom

CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
SY = "http://purl.org/rss/1.0/modules/syndication/"
# Elements of an item or entry whose text is data nobody downstream reads: feedparser keeps them
# under their own keys and they change nothing else.
_IGNORED_ITEM = {
    "comments",
    "{http://wellformedweb.org/CommentAPI/}commentRss",
    "{http://purl.org/rss/1.0/modules/slash/}comments",
    "{com-wordpress:feed-additions:1}post-id",  # WordPress.com
}
_RSS_CHANNEL_KEPT = {"title", "link", "description", "ttl", f"{{{SY}}}updatePeriod"}
_RSS_CHANNEL_KEPT |= {f"{{{SY}}}updateFrequency"}
_RSS_CHANNEL_IGNORED = {"language", "copyright", "webMaster", "pubDate", "lastBuildDate"}
_RSS_CHANNEL_IGNORED |= {"generator", "docs", f"{{{SY}}}updateBase"}
_RSS_CHANNEL_IGNORED |= {"{com-wordpress:feed-additions:1}site"}
_IMAGE_CHILDREN = {"url", "title", "link", "width", "height", "description"}
_RSS_ITEM_SINGLE = {"title", "link", "guid", "pubDate", "description", f"{{{CONTENT}}}encoded"}
_NONE: frozenset[str] = frozenset()
_VERSION = frozenset({"version"})
_GUID = rules.accepted("isPermaLink")
_DOMAIN = rules.accepted("domain")
_ENCLOSURE = rules.accepted("url", "length", "type")
_RSS_CHANNEL_KEYS = {"ttl": "ttl", f"{{{SY}}}updatePeriod": "sy_updateperiod"}
_RSS_CHANNEL_KEYS[f"{{{SY}}}updateFrequency"] = "sy_updatefrequency"
_XML_TYPES = {"application/rss+xml", "application/atom+xml", "application/xml"}
_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding=[\"']([^\"']*)[\"']")
_PARSERS = threading.local()  # an lxml parser may not be shared between threads
_ATOM_LINK = f"{{{rules.ATOM}}}link"


def read(content: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """feedparser's result for a plain RSS 2.0 or Atom 1.0 document, else None.

    ``headers`` are the response headers, lower-cased, as ``ingest.parse`` hands them to
    feedparser. Only the keys ``ingest.parse`` and ``ingest.normalize`` read are filled.
    """
    if not _plain_bytes(content, headers):
        return None
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError:
        return None
    if root.getroottree().docinfo.doctype:
        return None  # feedparser reads the DOCTYPE (RSS 0.91's, entity declarations)
    bases = rules.Bases(tracking=b"base" in content)
    try:
        if root.tag == "rss" and root.get("version") == "2.0" and rules.only(root, _VERSION):
            return _rss(root, bases)
        if root.tag == ATOM_FEED and rules.only(root, _NONE):
            return read_atom(root, bases)
    except rules.Unusual:
        return None
    return None


def _parser() -> Any:
    """This thread's lxml parser: no entities resolved, no network, comments and PIs dropped
    (feedparser reads the text around them as one)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
        )
        _PARSERS.parser = parser
    return parser


def _plain_bytes(content: bytes, headers: Mapping[str, str]) -> bool:
    """True for UTF-8 served with a media type feedparser takes as XML, as it is."""
    media, _, parameters = headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    charset = parameters.strip().lower().replace(" ", "")
    if charset and charset not in ("charset=utf-8", 'charset="utf-8"'):
        return False
    # text/xml is US-ASCII unless it names its charset (RFC 3023, which feedparser follows)
    if media not in _XML_TYPES and not (media == "text/xml" and charset):
        return False
    if not content.startswith(b"<"):
        return False
    declared = _DECLARATION.match(content, 0, 200)
    return declared is None or declared.group(1).lower() == b"utf-8"


# --- RSS 2.0 (Atom 1.0: ingest/plain_atom.py) ------------------------------------------------


def _rss(root: Any, bases: rules.Bases) -> dict[str, Any]:
    bases.enter(root)
    channels = list(root)
    if len(channels) != 1 or channels[0].tag != "channel" or not rules.only(channels[0], _NONE):
        raise rules.Unusual
    bases.enter(channels[0])
    feed, entries = rules.feed(channels[0], bases, _RSS_CHANNEL, "item", _RSS_ITEM)
    return {"bozo": False, "version": "rss20", "feed": feed, "entries": entries}


def _rss_channel_element(feed: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    tag = element.tag
    if tag == "title":
        _rss_title(feed, element, bases)
    elif tag == "link":
        rules.only_attributes(element)
        value = rules.AMPERSAND_FIX.sub(r"&\g<1>", rules.pop(element, bases.uri))
        feed["link"] = value
        link = {"rel": "alternate", "type": "text/html"}
        if value:
            link["href"] = value
        feed.setdefault("links", []).append(link)
    elif tag == "description":
        rules.only_attributes(element)
        rules.text(element)
    else:  # ttl, sy:updatePeriod, sy:updateFrequency
        rules.only_attributes(element)
        feed[_RSS_CHANNEL_KEYS[tag]] = rules.pop(element)


def _rss_image(feed: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """A channel's ``<image>``: nothing downstream reads it, but it must hold plain text only."""
    rules.only_attributes(element)
    if any(c.tag not in _IMAGE_CHILDREN or len(c) or len(c.attrib) for c in element):
        raise rules.Unusual


def _rss_channel_category(feed: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    rules.text(element)


def _rss_channel_ignored(feed: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    if len(element):
        raise rules.Unusual


def _rss_title(context: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """An RSS title: plain text unless feedparser's guess finds HTML in it (before repairs)."""
    rules.only_attributes(element)
    value = rules.text(element).strip()
    kind = "text/html" if rules.looks_like_html(value) else "text/plain"
    context["title"] = value = rules.repaired(value)
    context["title_detail"] = rules.detail(kind, bases.uri, value)


def _rss_link(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    rules.only_attributes(element)
    entry.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
    value = rules.pop(element, bases.uri).replace("&amp;", "&")
    value = rules.AMPERSAND_FIX.sub(r"&\g<1>", value)
    entry["link"] = value
    if value:
        entry["links"][-1]["href"] = value


def _rss_guid(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    attributes = rules.attributes(element, _GUID)
    permalink = attributes.get("ispermalink", "true") == "true"
    value = rules.pop(element, bases.uri if permalink else None)
    entry["id"] = value
    entry.setdefault("guidislink", permalink and "link" not in entry)
    if permalink:
        entry.setdefault("link", value)


def _rss_description(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    rules.only_attributes(element)
    entry["summary"] = value = rules.pop(element)
    entry["summary_detail"] = rules.detail("text/html", bases.uri, value)


def _rss_content(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """``<content:encoded>``."""
    rules.only_attributes(element)
    value = rules.pop(element)
    entry.setdefault("content", []).append(rules.detail("text/html", bases.uri, value))
    entry.setdefault("summary", value)


def _rss_author(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    """``<author>`` or ``<dc:creator>``: feedparser's _start_author, pop and _end_author."""
    rules.only_attributes(element)
    value = rules.pop(element)
    entry.setdefault("authors", []).append({})
    entry["author"] = value
    rules.sync_author_detail(entry)


def _rss_category(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    domain = rules.attributes(element, _DOMAIN).get("domain")
    rules.category(entry, None, domain, None, rules.pop(element))


def _rss_enclosure(entry: dict[str, Any], element: Any, bases: rules.Bases) -> None:
    attributes = rules.attributes(element, _ENCLOSURE)
    rules.text(element)
    rules.enforce_href(attributes)
    attributes["rel"] = "enclosure"
    entry.setdefault("links", []).append(attributes)


# What reads each element of an item: one look-up instead of a chain of comparisons.
_RSS_ITEM_READERS: dict[str, rules.Reader] = {
    "title": _rss_title,
    "link": _rss_link,
    "guid": _rss_guid,
    "pubDate": rules.published,
    "description": _rss_description,
    f"{{{CONTENT}}}encoded": _rss_content,
    "author": _rss_author,
    f"{{{DC}}}creator": _rss_author,
    "category": _rss_category,
    "enclosure": _rss_enclosure,
} | dict.fromkeys(_IGNORED_ITEM, rules.ignored)
_RSS_ITEM = rules.Elements(_RSS_ITEM_READERS, _RSS_ITEM_SINGLE)
_RSS_CHANNEL = rules.Elements(
    dict.fromkeys(_RSS_CHANNEL_KEPT, _rss_channel_element)
    | {"image": _rss_image, "category": _rss_channel_category, _ATOM_LINK: atom_link}
    | dict.fromkeys(_RSS_CHANNEL_IGNORED, _rss_channel_ignored),
    _RSS_CHANNEL_KEPT,
)
