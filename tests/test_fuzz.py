"""Fuzzing the per-feed path and the sanitizer with hypothesis.

Properties, over inputs seeded from the shared corpus and fixtures and then mutated (byte flips,
truncation, deletion, repetition, splicing in hostile snippets: out-of-range and huge character
references, bad dates, invalid UTF-8, nested CDATA, entity declarations, deep nesting...):

- ``parse_feed`` gives a ``ParsedFeed`` or raises ``ParseError``, never anything else; what it
  gives is sane (one-line titles, inert HTML, web URLs, dates between 1995 and now + 2 days);
- its entries stored with ``ingest.store.entries.upsert`` into a real SQLite store read back
  exactly as given, and storing them again adds and changes nothing;
- ``sanitize_html`` leaves no active content (no script, style, iframe, object, embed, form...
  element, no on* attribute, no javascript:/data:/vbscript: URL) and is idempotent.

Every input that ever failed is kept under tests/data/regressions/ and replayed here first. When
a property fails, the shrunk input is written to tests/data/regressions/found-<kind>.* so that it
can be renamed and kept. Short run: ~150 examples per property from a fixed seed; ``--long``:
thousands, from a random seed (hypothesis prints the seed of a failure).
"""

from __future__ import annotations

import html as htmllib
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from suites import long_run, size

from ingest.errors import ParseError
from ingest.models import Entry, FeedSpec, ParsedFeed
from ingest.parse import parse_feed
from ingest.sanitize import sanitize_html
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import open_store
from ingest.store.schema import entries

DATA = Path(__file__).resolve().parent / "data"
SHARED = DATA / "shared"
REGRESSIONS = DATA / "regressions"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://site.example/feed.xml"
BASE = "https://news.example/2024/05/01/story/"
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".json")
SEEDS = sorted(
    path
    for path in SHARED.rglob("*")
    if path.suffix in FEED_SUFFIXES and path.is_file() and path.stat().st_size < 64_000
)
FUZZ = settings(
    max_examples=size(150, 3000),
    derandomize=not long_run(),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_XML = [
    b"&#x110000;",
    b"&#99999999999999999999999999;",
    b"&#xD800;",
    b"&#56320;",
    b"&#0;",
    b"&#x1F600;",
    b"<title>a &#x110000; b</title>",
    b"<item><title>a &#x110000; b</title></item>",
    b"<![CDATA[ a <![CDATA[ nested ]]> b ]]>",
    b"<![CDATA[",
    b"]]>",
    b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
    b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE rss [<!ENTITY % p "x">]>',
    b"&a;&b;&x;&nbsp;&unknown;",
    b"<pubDate>Mon, 99 Foo 99999 99:99:99 +9999</pubDate>",
    b"<pubDate>Tue, 30 Feb 2022 25:61:61 GMT</pubDate>",
    b"<updated>0000-00-00T00:00:00Z</updated>",
    b"<published>9999-12-31T23:59:59+14:00</published>",
    b"<dc:date>-0001-01-01</dc:date>",
    b"<pubDate>1</pubDate>",
    b"\xff\xfe\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\x80",
    b"\x00\x01\x0b\x1f",
    b'<?xml version="1.0" encoding="utf-16"?>',
    b'<?xml version="1.0" encoding="no-such-charset"?>',
    b'<?xml version="1.0" encoding="iso-8859-1"?>',
    b"<link>javascript:alert(1)</link>",
    b'<link href="data:text/html,x" rel="alternate"/>',
    b"<guid>" + b"g" * 3000 + b"</guid>",
    b'<enclosure url="" length="-1" type=""/>',
    b'<enclosure url="//x" length="99999999999999999999999" type="image/png"/>',
    b'<media:thumbnail url="data:image/png;base64,AAAA"/>',
    b'<entry xml:base="javascript:alert(1)//"><content type="html">&lt;a href="x"&gt;</content>',
    b"<description>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=y&gt;</description>",
    b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>',
    b"<b>" * 300,
    b"<item>" * 50,
    b"</channel></rss>",
    b'<rss version="2.0"><channel>',
    b'<feed xmlns="http://www.w3.org/2005/Atom">',
    b'<a xmlns:x="urn:x" x:y="1" x:y="2"/>',
    b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": 1e999}]}',
    b'"\\ud800"',
    b'{"items": [{"id": "x", "content_html": "<script>x</script>", "date_published": "x"}]}',
    b"\xef\xbb\xbf",
]
CONTENT_TYPES = [
    "",
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    "text/html",
    "application/feed+json",
    "application/json",
    "text/plain",
    "application/octet-stream",
]
CHARSETS = ["", "utf-8", "iso-8859-1", "utf-16", "utf-32", "shift_jis", "koi8-r", "x-bogus"]


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A corpus feed, mutated a few times; now and then plain random bytes."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(min_size=1, max_size=2000))
    data = bytearray(draw(st.sampled_from(SEEDS)).read_bytes())
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "truncate", "splice", "splice", "delete", "repeat"]))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[max(1, at) :]
        elif kind == "splice":
            data[at:at] = draw(st.sampled_from(HOSTILE_XML))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 200))] * draw(st.integers(1, 5))
    return bytes(data)


@st.composite
def header_sets(draw: st.DrawFn) -> dict[str, str]:
    """Response headers: a Content-Type, maybe a charset contradicting the document, and others."""
    headers: dict[str, str] = {}
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    if content_type:
        headers["Content-Type"] = content_type + (f"; charset={charset}" if charset else "")
    if draw(st.booleans()):
        headers["Content-Location"] = draw(st.sampled_from(["/other.xml", "javascript:x", "::"]))
    if draw(st.booleans()):
        headers["Content-Language"] = draw(st.sampled_from(["en", "", "x" * 300]))
    return headers


def check_parse(content: bytes, headers: dict[str, str]) -> ParsedFeed | None:
    """The per-feed property: a sane ParsedFeed or ParseError, nothing else."""
    try:
        parsed = parse_feed(content, headers, URL, NOW)
    except ParseError as error:
        assert str(error), "a ParseError must say what is wrong"
        return None
    assert isinstance(parsed, ParsedFeed)
    for entry in parsed.entries:
        assert_sane(entry)
    assert len({e.identity for e in parsed.entries}) == len(parsed.entries)
    return parsed


def assert_sane(entry: Entry) -> None:
    """What every stored entry must be, whatever the feed's bytes were."""
    assert entry.identity and entry.content_hash
    assert entry.title and "\n" not in entry.title and len(entry.title) <= 300
    for html in (entry.summary_html, entry.content_html):
        assert active_content(html) == [], html
    for url in (entry.link, entry.image, *(e.url for e in entry.enclosures)):
        assert url is None or url.startswith(("http://", "https://")), url
    for when in (entry.published, entry.updated):
        assert when is None or (
            when.tzinfo is not None and when.year >= 1995 and when <= NOW.replace(year=NOW.year + 1)
        )


# Store round-trip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One real SQLite store for the module's examples, each on a feed of its own."""
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'store.db'}")
    yield engine
    engine.dispose()


_feed_numbers = itertools.count()


def check_round_trip(engine: Engine, parsed: ParsedFeed) -> None:
    """The entries read back as given; storing them again adds and changes nothing."""
    url = f"https://fuzz.example/{next(_feed_numbers)}.xml"
    stored_feeds.sync(engine, [FeedSpec(url)], NOW)
    feed = stored_feeds.get(engine, url)
    assert feed is not None
    with engine.begin() as conn:
        assert stored_entries.upsert(conn, feed.id, parsed.entries, NOW) == (
            len(parsed.entries),
            0,
        )
    with engine.begin() as conn:
        assert stored_entries.upsert(conn, feed.id, parsed.entries, NOW) == (0, 0)
        rows = {
            r.identity: r for r in conn.execute(select(entries).where(entries.c.feed_id == feed.id))
        }
    assert len(rows) == len(parsed.entries)
    for entry in parsed.entries:
        row = rows[entry.identity]
        assert stored(row) == given_values(entry), entry.identity


def given_values(entry: Entry) -> dict[str, Any]:
    """An entry's stored columns as the store should give them back."""
    return {
        "guid": entry.guid,
        "title": entry.title,
        "link": entry.link,
        "authors": list(entry.authors),
        "published_at": entry.published or NOW,
        "updated_at": entry.updated,
        "summary_html": entry.summary_html,
        "content_html": entry.content_html,
        "excerpt": entry.excerpt,
        "image": entry.image,
        "tags": list(entry.tags),
        "enclosures": [asdict(e) for e in entry.enclosures],
        "content_hash": entry.content_hash,
    }


def stored(row: Any) -> dict[str, Any]:
    """The same columns of a stored row."""
    return {key: getattr(row, key) for key in _COLUMNS}


_COLUMNS = (
    "guid",
    "title",
    "link",
    "authors",
    "published_at",
    "updated_at",
    "summary_html",
    "content_html",
    "excerpt",
    "image",
    "tags",
    "enclosures",
    "content_hash",
)


# Active content in HTML


class _Tokens(HTMLParser):
    """Start tags with their attributes, as a browser-like tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


ACTIVE_ELEMENTS = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form"}
    | {"input", "button", "textarea", "select", "svg", "math", "base", "meta", "link"}
    | {"template", "noscript"}
)
_BAD_SCHEME = re.compile(r"^\s*(?:javascript|data|vbscript)\s*:", re.IGNORECASE)
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "background", "xlink:href"})


def active_content(html: str) -> list[str]:
    """Whatever in ``html`` could run or load something: empty when inert."""
    tokens = _Tokens()
    tokens.feed(html)
    tokens.close()
    found: list[str] = []
    for tag, attrs in tokens.tags:
        if tag in ACTIVE_ELEMENTS:
            found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                found.append(f"<{tag} {name}>")
            elif name in _URL_ATTRIBUTES and _BAD_SCHEME.match(_squeeze(value or "")):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def _squeeze(url: str) -> str:
    """A URL as a browser reads its scheme: entities decoded, tabs and newlines dropped."""
    return re.sub(r"[\t\n\r\x00]", "", htmllib.unescape(url))


HTML_PIECES = [
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "text",
    " & ",
    "&amp;",
    "&lt;script&gt;",
    "<script>alert(1)</script>",
    "<script",
    "<SCRIPT SRC=//evil.example/x.js>",
    "<style>p{x:url(javascript:y)}</style>",
    '<iframe src="https://evil.example/">',
    "<object data=x.swf>",
    "<embed src=x.swf>",
    '<form action="https://evil.example/"><input name=pw><button>go</button></form>',
    "<svg><a xlink:href='javascript:x'>s</a></svg>",
    "<math><mi>x</mi></math>",
    '<img src="x.jpg" onerror="alert(1)">',
    '<img src="data:image/png;base64,AAAA">',
    '<img data-src="javascript:alert(1)">',
    '<img data-src="/lazy.jpg" src="data:image/gif;base64,R0lGOD">',
    '<img src="/a.jpg" width="1" height="1">',
    '<a href="javascript:alert(1)">',
    '<a href="JaVaScRiPt:alert(1)">',
    '<a href="java&#x09;script:alert(1)">',
    '<a href="&#106;avascript:alert(1)">',
    '<a href="  vbscript:x">',
    '<a href="data:text/html,<script>x</script>">',
    '<a href="/relative?a=1&amp;b=2">',
    '<a href="//cdn.example/x">',
    '<a href="mailto:a@b.example">',
    "</a>",
    '<a onclick="x()" onmouseover="y()" href="https://ok.example/">',
    '<p style="background:url(x)">',
    "<noscript><img src=/real.jpg></noscript>",
    "<noscript>",
    "<template><script>x</script></template>",
    "<!-- comment <script>x</script> -->",
    "<![CDATA[<script>x</script>]]>",
    "<!--",
    "-->",
    "<table><tr><td colspan=2 onclick=x>",
    "<textarea><script>x</script></textarea>",
    "<base href=javascript:x//>",
    "<meta http-equiv=refresh content='0;url=javascript:x'>",
    "<b><i><u>",
    "</b></i></u>",
    "<",
    ">",
    '"',
    "'",
    "\x00",
    "&#x110000;",
    "&#0;",
]


@st.composite
def html_fragments(draw: st.DrawFn) -> str:
    """HTML made of hostile and ordinary pieces, with a random string now and then."""
    pieces = draw(
        st.lists(st.one_of(st.sampled_from(HTML_PIECES), st.text(max_size=20)), max_size=30)
    )
    return "".join(pieces)


def check_sanitize(html: str, base: str | None) -> None:
    """Nothing active survives, and sanitizing twice gives what sanitizing once gave."""
    once = sanitize_html(html, base)
    assert active_content(once) == [], once
    assert sanitize_html(once, base) == once


# The kept regressions, replayed first


def keep_found(kind: str, data: bytes, extra: dict[str, Any] | None = None) -> Path:
    """Write a failing input where a developer will find it (the last one written is the shrunk one)."""
    path = REGRESSIONS / f"found-{kind}.bin"
    path.write_bytes(data)
    if extra is not None:
        path.with_suffix(".json").write_text(json.dumps(extra, indent=1) + "\n")
    return path


def regression_files(prefix: str) -> list[Path]:
    """The kept inputs of one kind."""
    kept = [p for p in REGRESSIONS.glob(f"{prefix}-*") if p.suffix != ".json"]
    return sorted(kept) + sorted(REGRESSIONS.glob(f"found-{prefix}.bin"))  # found, not yet named


def headers_of(path: Path) -> dict[str, str]:
    """The response headers kept beside a parse regression (none when no .json)."""
    sidecar = path.with_suffix(".json")
    return json.loads(sidecar.read_text())["headers"] if sidecar.exists() else {}


@pytest.mark.parametrize("path", regression_files("parse"), ids=lambda p: p.name)
def test_kept_feed_inputs_parse_or_raise_parse_error(path: Path, store: Engine) -> None:
    parsed = check_parse(path.read_bytes(), headers_of(path))
    if parsed is not None:
        check_round_trip(store, parsed)


def test_kept_html_inputs_sanitize_inert_and_idempotent() -> None:
    for path in regression_files("sanitize"):  # none has failed yet
        check_sanitize(path.read_text(encoding="utf-8", errors="surrogatepass"), BASE)


# The properties


@FUZZ
@given(content=documents(), headers=header_sets())
def test_any_feed_bytes_give_a_parsed_feed_or_a_parse_error_and_store_as_given(
    store: Engine, content: bytes, headers: dict[str, str]
) -> None:
    note(f"headers: {headers!r}")
    try:
        parsed = check_parse(content, headers)
        if parsed is not None:
            check_round_trip(store, parsed)
    except BaseException:
        keep_found("parse", content, {"headers": headers})
        raise


@FUZZ
@given(html=html_fragments(), base=st.sampled_from([BASE, None, "https://x.example", "::"]))
def test_any_html_sanitizes_inert_and_idempotent(html: str, base: str | None) -> None:
    try:
        check_sanitize(html, base)
    except BaseException:
        keep_found("sanitize", html.encode("utf-8", "surrogatepass"), {"base": base})
        raise


def test_the_seeds_are_the_corpus() -> None:
    assert len(SEEDS) > 1000  # the shared corpus is where the mutations start
