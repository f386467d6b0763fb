"""The shared real-world corpus through parse_feed and the sanitizer.

Every file of feedparser 6.0.14's test suite is parsed (its ``Header:`` lines served as response
headers): nothing may fail except with our own ParseError, and no title, summary or content may
keep anything active. For the ``sanitize/`` folder, each file's ``Expect:`` line states the HTML
feedparser's own sanitizer keeps; ours must keep no tag or attribute beyond it (links may gain
rel="noopener noreferrer"). Files are grouped per folder to keep the run to a couple of seconds.
"""

from __future__ import annotations

import ast
import html as htmllib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ingest.errors import ParseError
from ingest.media import MEDIA_START
from ingest.models import ParsedFeed
from ingest.parse import parse_feed
from ingest.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, sanitize_html

CORPUS = Path(__file__).resolve().parent / "data" / "shared" / "corpus"
FEEDPARSER = CORPUS / "feedparser" / "tests"
MINIFLUX = CORPUS / "miniflux" / "internal" / "reader"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
HEADER = re.compile(rb"^Header:\s*([^:\r\n]+?):\s*(.*?)\s*$", re.MULTILINE)
EXPECT = re.compile(r"^Expect:\s*(.*?)\s*$", re.MULTILINE)
ACTIVE_TEXT = ("<script", "<iframe", "<object", "<embed", "<style", "javascript:", "vbscript:")
URL_SCHEMES = ("http://", "https://", "mailto:")


def groups() -> list[str]:
    """Folders of the feedparser suite, one level below wellformed/ and illformed/."""
    names = []
    for top in sorted(p for p in FEEDPARSER.iterdir() if p.is_dir()):
        subdirs = sorted(p for p in top.iterdir() if p.is_dir())
        if top.name in ("wellformed", "illformed"):
            names += [str(p.relative_to(FEEDPARSER)) for p in subdirs]
            if any(p.is_file() for p in top.iterdir()):
                names.append(top.name + "/.")
        else:
            names.append(top.name)
    return names


def files_of(group: str) -> list[Path]:
    folder = FEEDPARSER / group
    if group.endswith("/."):
        return sorted(p for p in folder.iterdir() if p.is_file())
    return sorted(p for p in folder.rglob("*") if p.is_file())


class _Markup(HTMLParser):
    """Start tags and their attributes, as a browser-like tokenizer reads the output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: set[tuple[str, str | None]] = set()
        self.urls: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.pairs.add((tag, None))
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            self.pairs.add((tag, name))
            allowed = ALLOWED_ATTRIBUTES.get(tag, frozenset()) | {"rel"}
            if name.startswith("on") or name == "style" or name not in allowed:
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in ("href", "src"):
                self.urls.append(value or "")
                if not (value or "").lower().startswith(URL_SCHEMES):
                    self.problems.append(f"URL {value!r}")

    handle_startendtag = handle_starttag


def markup(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser


def active_content(feed: ParsedFeed) -> Iterator[str]:
    """Every active thing left in the feed's titles and HTML, described."""
    for entry in feed.entries:
        for name, html in (("summary", entry.summary_html), ("content", entry.content_html)):
            for problem in markup(html).problems:
                yield f"{name}: {problem}"
            lowered = html.lower()
            for marker in (*ACTIVE_TEXT, "expression(", "url("):
                if marker in lowered:
                    yield f"{name}: {marker}"
        for title in (entry.title, feed.title or ""):
            if any(marker in title.lower() for marker in ACTIVE_TEXT):
                yield f"title: {title!r}"


def read(path: Path) -> tuple[ParsedFeed | None, str | None]:
    """parse_feed on a corpus file; (feed, None), (None, ParseError text) or an exception."""
    data = path.read_bytes()
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in HEADER.findall(data[:4096])}
    url = "http://127.0.0.1:8097/tests/" + str(path.relative_to(FEEDPARSER))
    try:
        return parse_feed(data, headers, url, NOW), None
    except ParseError as exc:
        return None, str(exc)


@pytest.mark.parametrize("group", groups())
def test_feedparser_corpus_parses_without_crash_and_stays_inert(group: str) -> None:
    problems: list[str] = []
    parsed = 0
    for path in files_of(group):
        try:
            feed, error = read(path)
        except Exception as exc:  # every crash is reported with its file
            problems.append(f"{path.name}: {type(exc).__name__}: {exc}")
            continue
        if feed is None:
            assert error, path
            continue
        parsed += 1
        problems += [f"{path.name}: {p}" for p in active_content(feed)]
    assert not problems, "\n".join(problems)
    assert parsed or group in ("compression", "http", "entities")


def expected_html(expect: str) -> list[str]:
    """The entry-level strings an Expect expression compares with ``==``."""

    def literal(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = literal(node.left), literal(node.right)
            return left + right if left is not None and right is not None else None
        return None

    found = []
    for node in ast.walk(ast.parse(expect, mode="eval")):
        if isinstance(node, ast.Compare) and ast.unparse(node.left).startswith("entries"):
            found += [s for c in node.comparators if (s := literal(c)) is not None]
    return found


def test_sanitize_folder_keeps_no_more_than_feedparser() -> None:
    compared = 0
    problems = []
    for path in sorted((FEEDPARSER / "wellformed" / "sanitize").glob("*.xml")):
        match = EXPECT.search(path.read_text("utf-8", "replace"))
        assert match, path
        feed, _ = read(path)
        expected = expected_html(match.group(1))
        if feed is None or not expected:
            continue  # feedparser's expectation is about the feed's own fields, not entries
        allowed = {("a", "rel")}
        if MEDIA_START.search(htmllib.unescape(match.string)):  # made images and links on purpose
            allowed |= {("a", None), ("a", "href"), ("img", None), ("img", "src"), ("img", "alt")}
            allowed |= {("br", None)}
        for html in expected:
            allowed |= markup(html).pairs
        compared += 1
        for entry in feed.entries:
            kept = markup(entry.summary_html).pairs | markup(entry.content_html).pairs
            if kept - allowed:
                problems.append(f"{path.name}: keeps {sorted(kept - allowed, key=str)}")
    assert not problems, "\n".join(problems)
    assert compared > 500


def test_miniflux_feeds_parse() -> None:
    for path in sorted((MINIFLUX / "parser" / "testdata").glob("*.xml")):
        feed = parse_feed(path.read_bytes(), {}, "https://miniflux.example/feed", NOW)
        assert feed.entries, path
        assert not list(active_content(feed)), path
        assert all(e.title and e.identity for e in feed.entries), path


@pytest.mark.parametrize("name", ["koi8r.xml", "iso-8859-1.xml", "windows-1252.xml", "utf8.xml"])
def test_miniflux_encodings_decode(name: str) -> None:
    path = MINIFLUX / "encoding" / "testdata" / name
    try:
        feed = parse_feed(path.read_bytes(), {}, "https://miniflux.example/feed", NOW)
    except ParseError:
        return  # these are fragments; decoding them without a crash is the point
    assert "\ufffd" not in (feed.title or "")


@pytest.mark.parametrize("name", ["miniflux_github.html", "miniflux_wikipedia.html"])
def test_miniflux_pages_sanitize_inert(name: str) -> None:
    html = (MINIFLUX / "sanitizer" / "testdata" / name).read_text("utf-8")
    cleaned = sanitize_html(html, "https://miniflux.example/")
    result = markup(cleaned)
    assert not result.problems, result.problems[:10]
    assert "<script" not in cleaned.lower()
    assert len(cleaned) > 1000
