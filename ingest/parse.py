"""Bytes + response headers -> ``ParsedFeed``.

RSS, Atom and RDF are read by feedparser, handed the bytes (never a URL or a path) with its own
sanitizer and relative-URI rewriting off: ``ingest.sanitize`` cleans every HTML field once, which
is most of the time feedparser would otherwise spend. A plain RSS 2.0 or Atom 1.0 document (the
common case) is read by ``ingest.plain_feeds`` into the same dictionaries, in a fraction of
feedparser's time; anything it is not sure of, feedparser reads. JSON Feed is read by
``ingest.jsonfeed``.

Before feedparser sees a document, XML entity declarations are bounded (``ingest/entities.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import re
import sys
import xml.sax
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.sax.expatreader import ExpatParser

import feedparser
import nh3

from . import (
    excerpts,
    feedparser_rules,
    images,
    media,
    normalize,
    people,
    plain_atom,
    plain_feeds,
    sanitize,
    splice,
    urls,
)
from .decide import declared_interval
from .entities import ascii_transparent, check_entities
from .errors import ParseError
from .jsonfeed import looks_like_json, parse_json_feed
from .models import ParsedFeed
from .normalize import (
    FUTURE_SLACK,
    FeedContext,
    date_from_struct,
    dedupe,
    entry_from_feedparser,
    is_html_type,
    plain_title,
)
from .people import fp_people
from .urls import canonical_link

MAX_ENTRIES = 1000  # entries normalised per document; the rest are reported in the warning
MAX_ENTRY_TAGS = 20_000  # more <item>/<entry> tags than this and the document is refused
# feedparser spends ~15 microseconds per XML element, twice when the strict parse fails; no real
# feed comes near this many tags outside CDATA sections (a 1,000-entry feed has ~30,000).
MAX_MARKUP_TAGS = 200_000
MAX_ATTRIBUTES = 64  # xml.sax looks attributes up in a list, quadratic in their number

# An HTML page starts with its <html> (or <head>/<body>) element; a DOCTYPE alone is not enough,
# as some feeds carry an XHTML DOCTYPE by mistake.
_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:(?:<!--.*?-->|<!doctype[^>]*>)\s*)*<(?:html|head|body)[\s>]",
    re.IGNORECASE | re.DOTALL,
)
_LABELS = ("NonXMLContentType", "CharacterEncodingOverride")  # problems of headers, not XML
_HTML_DOCTYPE = re.compile(rb"<!doctype\s+html", re.IGNORECASE)
# Numeric character references long enough to be out of range or surrogates (U+D800 and above).
_LONG_CHARREF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")


def parse_feed(
    content: bytes,
    headers: Mapping[str, str],
    url: str,
    now: datetime,
    known: Sequence[tuple[str, str]] = (),
) -> ParsedFeed:
    """Parse a fetched feed body; ParseError when it is not a feed we can read.

    ``known`` is the ``item_keys`` of the body parsed last time: items with one of those keys are
    not parsed again, and the entries returned are only the others (``spliced``; see
    ``ingest/splice.py``). The result's ``item_keys`` are what to pass next time.

    ParseError is the only exception that leaves (but for MemoryError): feedparser and the
    standard library's parsers raise on inputs nobody tested (a character reference past
    U+10FFFF, ...), and one feed's bytes must never end a poll round or a parser process.
    """
    try:
        return _parse(content, headers, url, now, dict(known))
    except (ParseError, MemoryError):
        raise
    except Exception as exc:
        raise ParseError(
            f"could not read this feed: the parser failed with {type(exc).__name__}: "
            f"{str(exc)[:200] or 'no detail'}; the document is malformed in a way the parser "
            "does not survive (ask the publisher to validate it); it is retried with backoff"
        ) from exc


def _parse(
    content: bytes, headers: Mapping[str, str], url: str, now: datetime, known: dict[str, str]
) -> ParsedFeed:
    """parse_feed without its boundary."""
    lowered = {key.lower(): value for key, value in headers.items()}
    content_type = lowered.get("content-type", "")
    if not content.strip():
        raise ParseError("not a feed: the response body is empty")
    if looks_like_json(content, content_type):
        return parse_json_feed(content, url, now)
    if _HTML_START.match(content, 0, 4096):
        raise _html_page(content_type, url)
    _check_size(content)
    # Relative URLs resolve against the URL that answered (RFC 7231 dropped Content-Location as
    # a base), and without it feedparser skips a urljoin per element.
    lowered.pop("content-location", None)
    lowered = _xml_media_type(lowered)
    check_entities(content, lowered)
    content = replace_bad_charrefs(content)
    cut = splice.split(content) if ascii_transparent(content, lowered) else None
    if cut is None:
        return _to_parsed(_feedparser(content, lowered), url, now, content, content_type)
    keys = splice.keys(cut, _context(url, lowered))
    if known and (spliced := _spliced(cut, keys, known, lowered, url, now)) is not None:
        return spliced
    result = _feedparser(content, lowered)
    parsed = _to_parsed(result, url, now, content, content_type)
    if not _keyable(result, keys) or parsed.duplicates:
        return parsed
    entries = result["entries"]
    return dataclasses.replace(parsed, item_keys=_pairs(keys, {}, parsed.entries, entries, now))


def _feedparser(content: bytes, headers: dict[str, str]) -> Any:
    """feedparser's reading of ``content``, its sanitizer and relative URIs off: taken from
    ``ingest.plain_feeds`` when the document is plain enough for it to read alike."""
    return plain_feeds.read(content, headers) or _feedparser_itself(content, headers)


def _feedparser_itself(content: bytes, headers: dict[str, str]) -> Any:
    """feedparser's reading of ``content``, its sanitizer and relative URIs off."""
    return feedparser.parse(
        io.BytesIO(content),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _spliced(
    cut: splice.Split,
    keys: tuple[str, ...],
    known: dict[str, str],
    headers: dict[str, str],
    url: str,
    now: datetime,
) -> ParsedFeed | None:
    """The entries of the items whose key is not ``known``, read without the others; None when
    the whole document must be read (nothing known, or it would not give the same entries)."""
    fresh = [i for i, key in enumerate(keys) if key not in known]
    if len(fresh) == len(keys) or len(set(keys)) != len(keys) or len(keys) > MAX_ENTRIES:
        return None
    document = cut.join(fresh)
    result = _feedparser(document, headers)
    if not _keyable(result, [keys[i] for i in fresh]) or not result.get("version"):
        return None
    parsed = _to_parsed(result, url, now, document, headers.get("content-type", ""))
    identities = [known[key] for key in keys if key in known]
    identities += [entry.identity for entry in parsed.entries]
    if parsed.duplicates or len(set(identities)) != len(identities):
        return None  # the whole document counts and drops the repeats
    pairs = _pairs(keys, known, parsed.entries, result["entries"], now)
    return dataclasses.replace(parsed, item_keys=pairs, spliced=True)


def _keyable(result: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """True when feedparser read one entry per item cut, and read the document cleanly."""
    entries = result.get("entries") or []
    return not result.get("bozo") and len(entries) == len(keys) <= MAX_ENTRIES


def _pairs(
    keys: Sequence[str],
    known: Mapping[str, str],
    entries: Sequence[Any],
    raw: Sequence[dict[str, Any]],
    now: datetime,
) -> tuple[tuple[str, str], ...]:
    """(key, identity) of each item: known ones as they were, the others from their entries.

    An item dated beyond ``now``'s slack gets no key: its entry has no date today and would
    have one in a later round, so it is read again until then.
    """
    fresh = iter(zip(entries, raw, strict=True))
    pairs = []
    for key in keys:
        if key in known:
            pairs.append((key, known[key]))
            continue
        entry, fields = next(fresh)
        if not _dated_ahead(fields, now):
            pairs.append((key, entry.identity))
    return tuple(pairs)


def _dated_ahead(fields: dict[str, Any], now: datetime) -> bool:
    """True when an entry's date is past what ``now`` accepts (it will be accepted later)."""
    for name in ("published_parsed", "updated_parsed"):
        date = date_from_struct(dict.get(fields, name))  # not FeedParserDict's aliases
        if date is not None and date > now + FUTURE_SLACK:
            return True
    return False


def _context(url: str, headers: Mapping[str, str]) -> bytes:
    """What besides the bytes shapes this document's entries (see ``splice.context``)."""
    read = [
        (name, headers[name]) for name in ("content-type", "content-language") if name in headers
    ]
    return splice.context(url, read, _code())


@functools.cache
def _code() -> bytes:
    """The fingerprint of the code that turns an item into an entry (see ``splice.fingerprint``)."""
    modules = [sys.modules[__name__], excerpts, feedparser_rules, images, media, normalize, people]
    modules += [plain_atom, plain_feeds, sanitize, urls]
    versions = [feedparser.__version__, str(getattr(nh3, "__version__", "")), splice.__name__]
    return splice.fingerprint([*modules, splice], versions)


def replace_bad_charrefs(content: bytes) -> bytes:
    """Character references to no character (past U+10FFFF, surrogates) as U+FFFD.

    expat refuses them and feedparser's lenient parser then raises on them, losing the whole
    feed; a browser shows U+FFFD instead, and so does the entry.
    """
    if b"&#" not in content:
        return content
    return _LONG_CHARREF.sub(_charref_or_replacement, content)


def _charref_or_replacement(match: re.Match[bytes]) -> bytes:
    hexadecimal, decimal = match.group(1), match.group(2)
    digits = hexadecimal or decimal
    if len(digits) > 8:  # leading zeros are stripped by the pattern: surely out of range
        return b"&#xFFFD;"
    value = int(digits, 16 if hexadecimal else 10)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return b"&#xFFFD;"
    return match.group(0)


class _BufferedExpatParser(ExpatParser):
    """xml.sax's expat driver with adjacent character data delivered in one piece."""

    def reset(self) -> None:
        """Create the expat parser, then turn on its text buffering."""
        super().reset()
        self._parser.buffer_text = True  # type: ignore[attr-defined]  # set by reset(), untyped

    def start_element(self, name: str, attrs: Mapping[str, str]) -> None:
        """An element start, with at most MAX_ATTRIBUTES attributes."""
        super().start_element(name, _first_attributes(attrs))

    def start_element_ns(self, name: str, attrs: Mapping[str, str]) -> None:
        """A namespaced element start, with at most MAX_ATTRIBUTES attributes."""
        super().start_element_ns(name, _first_attributes(attrs))


def _first_attributes(attrs: Mapping[str, str]) -> Mapping[str, str]:
    if len(attrs) <= MAX_ATTRIBUTES:
        return attrs
    return dict(itertools.islice(attrs.items(), MAX_ATTRIBUTES))


def create_parser() -> ExpatParser:
    """xml.sax driver hook: expat with text buffering, a quarter faster on escaped HTML."""
    return _BufferedExpatParser()


# feedparser asks xml.sax.make_parser for its PREFERRED_XML_PARSERS first; by default expat then
# calls feedparser once per text run between two entity references (&lt; ...), which is most of
# its time on Atom's escaped HTML. Naming this module as a driver makes expat buffer the text.
if __name__ not in feedparser.api.PREFERRED_XML_PARSERS:
    feedparser.api.PREFERRED_XML_PARSERS.insert(0, __name__)


def _to_parsed(
    result: Mapping[str, Any], url: str, now: datetime, content: bytes, content_type: str
) -> ParsedFeed:
    """feedparser's result -> ``ParsedFeed``, or ParseError when it found no feed."""
    raw_entries = result.get("entries") or []
    version = result.get("version") or ""
    bozo = result.get("bozo_exception") if result.get("bozo") else None
    problem = None
    if bozo is not None:  # feedparser adds an XML declaration line to documents without one
        declared = content.lstrip(b"\xef\xbb\xbf").startswith(b"<?xml")
        problem = describe_bozo(bozo, 0 if declared else 1)
    # A feed with no entries is fine unless the XML itself was broken (not just mislabelled).
    broken = bozo is not None and type(bozo).__name__ not in _LABELS
    if not raw_entries and (broken or not version):
        if "html" in content_type.lower() or _HTML_DOCTYPE.search(content, 0, 1024):
            raise _html_page(content_type, url)
        raise ParseError(f"not a feed: {problem or 'no RSS, Atom or RDF element found'}")
    feed = result.get("feed") or {}
    authors = fp_people(feed) if version.startswith("atom") else ()
    ctx = FeedContext(url=url, now=now, authors=authors)
    entries, duplicates = dedupe(entry_from_feedparser(e, ctx) for e in raw_entries[:MAX_ENTRIES])
    warnings = [problem] if problem else []
    if len(raw_entries) > MAX_ENTRIES:
        warnings.append(
            f"the feed lists {len(raw_entries)} entries; only the first {MAX_ENTRIES} were read"
        )
    title = feed.get("title_detail") or {}
    return ParsedFeed(
        title=plain_title(title.get("value") or "", is_html_type(title.get("type"))) or None,
        link=canonical_link(feed.get("link"), url),
        entries=entries,
        warning="; ".join(warnings) or None,
        duplicates=duplicates,
        kind=version,
        min_interval=_asked_interval(feed),
    )


def _asked_interval(feed: Mapping[str, Any]) -> float | None:
    """Seconds the feed asks between polls (RSS ``<ttl>``, ``sy:updatePeriod``/``Frequency``)."""
    fields = (feed.get(key) for key in ("ttl", "sy_updateperiod", "sy_updatefrequency"))
    ttl, period, frequency = (value if isinstance(value, str) else None for value in fields)
    return declared_interval(ttl, period, frequency)


def describe_bozo(exc: BaseException, added_lines: int = 0) -> str:
    """feedparser's bozo exception as a sentence an admin can act on."""
    if isinstance(exc, xml.sax.SAXParseException):
        line = max(1, (exc.getLineNumber() or 1) - added_lines)
        return f"malformed XML at line {line}, column {exc.getColumnNumber()}: {exc.getMessage()}"
    message = str(exc) or type(exc).__name__
    prefixes = {
        "CharacterEncodingOverride": "wrong character encoding: ",
        "CharacterEncodingUnknown": "unknown character encoding: ",
        "NonXMLContentType": "unexpected Content-Type: ",
        "UndeclaredNamespace": "undeclared XML namespace: ",
    }
    return prefixes.get(type(exc).__name__, "") + message


def _xml_media_type(headers: dict[str, str]) -> dict[str, str]:
    """``text/xml`` without a charset read as the document declares, not as US-ASCII.

    RFC 3023 made such a body US-ASCII, and feedparser follows it, so a UTF-8 feed served as
    plain ``text/xml`` (common) carried an encoding warning. RFC 7303, which replaced 3023,
    leaves the encoding to the BOM and the XML declaration, as for ``application/xml``.
    """
    media, _, parameters = headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    textual_xml = media == "text/xml" or (media.startswith("text/") and media.endswith("+xml"))
    if textual_xml and "charset" not in parameters.lower():
        return headers | {"content-type": "application/xml"}
    return headers


def _html_page(content_type: str, url: str) -> ParseError:
    served = f" (Content-Type {content_type})" if content_type else ""
    return ParseError(
        f"not a feed: got an HTML page{served}; the site may have moved its feed: "
        f"`broadsheet feeds discover {url}` lists the feeds the page links to"
    )


def _check_size(content: bytes) -> None:
    """Refuse documents with absurdly many entries or tags before feedparser spends time on them."""
    entries = content.count(b"<item") + content.count(b"<entry")
    if entries > MAX_ENTRY_TAGS:
        raise ParseError(
            f"refused: the feed has about {entries:,} entries (limit {MAX_ENTRY_TAGS:,}); "
            "ask the publisher for a shorter feed"
        )
    tags = content.count(b"<")
    if tags > MAX_MARKUP_TAGS:
        tags -= _in_cdata(content)
    if tags > MAX_MARKUP_TAGS:
        raise ParseError(
            f"refused: the document has {tags:,} XML tags (limit {MAX_MARKUP_TAGS:,}); "
            "it is too large or too broken to read in reasonable time"
        )


def _in_cdata(content: bytes) -> int:
    """How many '<' sit inside CDATA sections (text to the XML parser, not elements)."""
    inside = 0
    start = content.find(b"<![CDATA[")
    while start >= 0:
        end = content.find(b"]]>", start)
        end = len(content) if end < 0 else end
        inside += content.count(b"<", start + 1, end)
        start = content.find(b"<![CDATA[", end)
    return inside
