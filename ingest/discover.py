"""Feed autodiscovery: which feeds does a web page offer?

When the address is itself a feed, that is the answer. Otherwise the feeds are the page's
``<link rel="alternate" type="application/rss+xml">`` (Atom, JSON Feed, RDF...) elements, resolved
against the page (or its ``<base href>``). When the page advertises none, the site's well-known
paths (/feed, /rss, /atom.xml, ...) are tried and those answering with a feed are kept.

``find_links`` and ``feed_kind`` are pure (bytes in); ``discover`` fetches through ``ingest.fetch``.
``discover_checked`` then fetches and parses each candidate as a poll would, and marks those that
fail with their error, so what is listed as working is a feed Broadsheet can read.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urljoin

from lxml import etree

from ingest.errors import FetchError, ParseError
from ingest.fetch import Fetcher
from ingest.jsonfeed import load_json
from ingest.models import PollSettings
from ingest.parse import parse_feed

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/x-rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/x-atom+xml": "atom",
    "application/x.atom+xml": "atom",
    "application/feed+json": "json",
    "application/rdf+xml": "rdf",
    "text/xml": "xml",
    "application/xml": "xml",
}
MAX_FOUND = 50  # feeds listed for one page; a page advertising more is not a site's own
WELL_KNOWN = ("/feed", "/rss", "/atom.xml", "/feed.xml", "/index.xml", "/rss.xml")
_ROOTS = {"rss": "rss", "feed": "atom", "rdf": "rdf", "channel": "rss"}
_FIRST_TAG = re.compile(rb"<(?:\?.*?\?>|!--.*?-->|![^>]*>|([A-Za-z_][\w:.-]*))", re.S)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.S | re.I)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)


@dataclass(frozen=True)
class FoundFeed:
    """A feed found for a page."""

    url: str
    title: str | None
    type: str  # "rss", "atom", "json", "rdf", or "xml" when only the MIME type says so
    source: str = "link"  # "itself": the address is a feed; "link": advertised; "guess": probed
    error: str | None = None  # why fetching or parsing it failed, once checked


def find_links(page: bytes, base_url: str) -> tuple[FoundFeed, ...]:
    """The feeds an HTML page advertises with ``<link rel="alternate">``, absolute, in order.

    At most ``MAX_FOUND``: the page is read as a stream of tags (no tree is built) and reading
    stops there, so a huge page costs one pass and little memory.
    """
    links = _Links()
    parser = etree.HTMLParser(target=links, no_network=True)
    try:
        parser.feed(page)
        parser.close()
    except (_Enough, etree.LxmlError):
        pass  # enough found, or a page broken past repair: what was read before counts
    base = urljoin(base_url, links.base) if links.base is not None else base_url
    found: dict[str, FoundFeed] = {}
    for href, title, kind in links.found:
        url = urljoin(base, href)
        if url.startswith(("http://", "https://")) and url not in found:
            found[url] = FoundFeed(url, title, kind)
    return tuple(found.values())[:MAX_FOUND]


class _Enough(Exception):
    """Raised by ``_Links`` to stop reading a page that advertises more feeds than we list."""


class _Links:
    """An lxml parser target collecting ``<base href>`` and feed ``<link>`` elements."""

    def __init__(self) -> None:
        self.base: str | None = None
        self.found: list[tuple[str, str | None, str]] = []  # href, title, kind

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        """One opening tag."""
        if tag == "base" and self.base is None and "href" in attrib:
            self.base = attrib["href"].strip()
        if tag != "link" or "href" not in attrib:
            return
        rels = {rel.lower() for rel in (attrib.get("rel") or "").split()}
        kind = FEED_TYPES.get((attrib.get("type") or "").split(";")[0].strip().lower())
        if "alternate" not in rels or kind is None:
            return
        title = " ".join((attrib.get("title") or "").split()) or None
        self.found.append((attrib["href"].strip(), title, kind))
        if len(self.found) > 2 * MAX_FOUND:  # room for duplicates and non-http links
            raise _Enough

    def close(self) -> None:
        """The end of the page."""


def feed_kind(content: bytes) -> str | None:
    """ "rss", "atom", "rdf" or "json" when ``content`` looks like a feed, else None."""
    head = _text_head(content)
    if head.lstrip().startswith(b"{"):
        try:
            data = load_json(content)
        except ParseError:
            return None
        version = data.get("version", "") if isinstance(data, dict) else ""
        return "json" if str(version).startswith("https://jsonfeed.org/version/") else None
    for match in _FIRST_TAG.finditer(head):
        if match[1]:
            return _ROOTS.get(match[1].decode("ascii").rpartition(":")[2].lower())
    return None


def feed_title(content: bytes, kind: str) -> str | None:
    """The feed's own title, read roughly (enough to show next to its URL)."""
    if kind == "json":
        document = load_json(content)
        title = document.get("title") if isinstance(document, dict) else None
        return " ".join(str(title).split()) or None if isinstance(title, str) else None
    match = _TITLE.search(_text_head(content, 8192))
    if not match:
        return None
    text = _CDATA.sub(r"\1", match[1].decode("utf-8", "replace"))
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split()) or None


def discover(url: str, settings: PollSettings) -> tuple[FoundFeed, ...]:
    """The feeds at ``url`` (a page or a feed; https:// when no scheme is given), maybe none."""
    if "://" not in url:
        url = f"https://{url}"

    async def run() -> tuple[FoundFeed, ...]:
        async with Fetcher(settings) as fetcher:
            return await discover_with(fetcher, url)

    return asyncio.run(run())


def discover_checked(url: str, settings: PollSettings) -> tuple[FoundFeed, ...]:
    """``discover``, then each candidate fetched and parsed; a failing one carries its error."""
    if "://" not in url:
        url = f"https://{url}"

    async def run() -> tuple[FoundFeed, ...]:
        async with Fetcher(settings) as fetcher:
            found = await discover_with(fetcher, url)
            return tuple(await asyncio.gather(*(check_with(fetcher, feed) for feed in found)))

    return asyncio.run(run())


async def check_with(fetcher: Fetcher, feed: FoundFeed) -> FoundFeed:
    """``feed`` after fetching and parsing it: with the feed's own title, or with the error."""
    try:
        fetched = await fetcher.fetch(feed.url)
        parsed = parse_feed(fetched.content or b"", fetched.headers, fetched.url, datetime.now(UTC))
    except (FetchError, ParseError) as exc:
        return replace(feed, error=str(exc))
    return replace(feed, title=feed.title or parsed.title)


async def discover_with(fetcher: Fetcher, url: str) -> tuple[FoundFeed, ...]:
    """``discover`` with a Fetcher already open; raises FetchError when the page fails."""
    page = await fetcher.fetch(url)
    content = page.content or b""
    if kind := feed_kind(content):
        return (FoundFeed(page.url, feed_title(content, kind), kind, "itself"),)
    return find_links(content, page.url) or await probe(fetcher, page.url)


async def probe(fetcher: Fetcher, page_url: str) -> tuple[FoundFeed, ...]:
    """The site's well-known feed paths that answer with a feed (after redirects)."""
    candidates = [urljoin(page_url, path) for path in WELL_KNOWN]
    found: dict[str, FoundFeed] = {}
    for feed in await asyncio.gather(*(_probe_one(fetcher, url) for url in candidates)):
        if feed is not None:
            found.setdefault(feed.url, feed)  # several paths may redirect to one feed
    return tuple(found.values())


async def _probe_one(fetcher: Fetcher, url: str) -> FoundFeed | None:
    try:
        fetched = await fetcher.fetch(url)
    except FetchError:
        return None  # nothing there, or not reachable: not a feed we can offer
    content = fetched.content or b""
    kind = feed_kind(content)
    return FoundFeed(fetched.url, feed_title(content, kind), kind, "guess") if kind else None


def _text_head(content: bytes, size: int = 4096) -> bytes:
    """The start of ``content`` as UTF-8-ish bytes (UTF-16 re-encoded, BOM removed)."""
    head = content[:size]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "replace").encode("utf-8")
    return head.removeprefix(b"\xef\xbb\xbf")
