"""Plain RSS 2.0 and Atom 1.0 documents read without feedparser give what feedparser gives.

``ingest.plain_feeds`` reads the common shape of a feed from lxml's tree and hands back the
dictionaries feedparser would; anything else it leaves to feedparser. Proved on every feed
document the suite holds (the shared corpus, the fixtures, the regression files and the
fidelity suite's documents, each served with its own headers and with each XML media type),
and on generated documents: wherever the plain path reads a document, the ``ParsedFeed`` made
from its reading is the one made from feedparser's, entry for entry.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from suites import size
from test_splice import documents

from ingest import plain_feeds
from ingest.errors import ParseError
from ingest.models import ParsedFeed
from ingest.parse import _feedparser_itself, _to_parsed, _xml_media_type, replace_bad_charrefs

NOW = datetime(2024, 6, 1, tzinfo=UTC)
URL = "https://news.example/feed.xml"
MEDIA_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml")
MEDIA_TYPES += ("text/xml; charset=utf-8",)


def both(data: bytes, headers: dict[str, str]) -> tuple[Any, Any]:
    """(the plain path's reading or None, feedparser's), given what ``parse_feed`` gives them."""
    lowered = _xml_media_type({key.lower(): value for key, value in headers.items()})
    lowered.pop("content-location", None)
    data = replace_bad_charrefs(data)
    return plain_feeds.read(data, lowered), _feedparser_itself(data, lowered)


def parsed(result: Any, data: bytes, headers: dict[str, str]) -> ParsedFeed | str:
    """The ParsedFeed made from a reading, or the ParseError it raises."""
    try:
        return _to_parsed(result, URL, NOW, data, headers.get("content-type", ""))
    except ParseError as exc:
        return f"ParseError: {exc}"


def variants(headers: dict[str, str]) -> list[dict[str, str]]:
    """The document's own headers, and each XML media type where it names none."""
    if any(key.lower() == "content-type" for key in headers):
        return [headers]
    return [headers | {"content-type": media} for media in MEDIA_TYPES]


def test_every_document_the_plain_path_reads_gives_feedparsers_entries() -> None:
    read = compared = 0
    for name, data, headers in documents():
        for served in variants(headers):
            plain, reference = both(data, served)
            compared += 1
            if plain is None:
                continue
            read += 1
            ours, theirs = parsed(plain, data, served), parsed(reference, data, served)
            assert ours == theirs, f"{name} served as {served}"
    # The plain path is not vacuous: a good share of the real documents take it.
    assert compared > 6000
    assert read > 400, read


@pytest.mark.parametrize(
    ("fixture", "media"),
    [("newswire.rss", "application/rss+xml"), ("harbor-times.atom", "application/atom+xml")],
)
def test_the_news_story_feeds_take_the_plain_path(fixture: str, media: str) -> None:
    # Curly quotes, author lines, categories, a thumbnail; in Atom an xml:base on the content.
    data = next(d for name, d, _ in documents() if name.endswith(f"fixtures/{fixture}"))
    plain, reference = both(data, {"content-type": media})
    assert plain is not None
    ours = parsed(plain, data, {"content-type": media})
    assert isinstance(ours, ParsedFeed) and ours.entries
    assert ours == parsed(reference, data, {"content-type": media})


def test_what_the_plain_path_leaves_to_feedparser() -> None:
    fixtures = {name: d for name, d, _ in documents() if "fixtures/" in name}
    latin1_rss092 = fixtures["data/shared/fixtures/no-guids.rss"]
    assert plain_feeds.read(latin1_rss092, {"content-type": "application/rss+xml"}) is None
    served_as_html = fixtures["data/shared/fixtures/newswire.rss"]
    assert plain_feeds.read(served_as_html, {"content-type": "text/html"}) is None
    # A DOCTYPE anywhere before the root, however far in, is feedparser's to read (it takes
    # the version from Netscape's RSS 0.91 DOCTYPE).
    late_doctype = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<!--' + b" " * 8192 + b"-->\n"
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        b'<rss version="2.0"><channel><title>t</title><item><title>Story</title>'
        b"</item></channel></rss>"
    )
    assert plain_feeds.read(late_doctype, {"content-type": "application/rss+xml"}) is None


# --- generated documents --------------------------------------------------------------------

# Text that exercises feedparser's rules: entities, markup that looks like HTML or not, curly
# quotes, Windows-1252 code points, double-encoded UTF-8, addresses in author strings, spaces.
PIECES = st.sampled_from(
    [
        "Talks",
        " “continue” ",
        "&amp;",
        "&lt;b&gt;bold&lt;/b&gt;",
        "&lt;p&gt;para&lt;/p&gt;",
        "&lt;blink&gt;x&lt;/blink&gt;",
        "&amp;nbsp;",
        "&amp;bogus;",
        "&#x93;quoted&#x94;",
        "&#x80;",
        "Ã©tÃ©",
        "caf\u00e9",
        "joe@news.example",
        "(Joe Bloggs)",
        "<![CDATA[<em>cdata</em> & more]]>",
        "\n  ",
        "\u00a0",
        "https://news.example/a?b=1&amp;c=2",
        "/relative/path",
        "http:///three-slashes",
        "&amp;x=1;",
    ]
)
TEXT = st.lists(PIECES, max_size=5).map("".join)
# xml:base: absolute, relative (to the base in force), with extra slashes, not a web scheme.
BASE = st.sampled_from(
    [
        "",
        "",
        ' xml:base="https://news.example/section/"',
        ' xml:base="sub/dir/"',
        ' xml:base="../up"',
        ' xml:base="http:///extra-slashes/"',
        ' xml:base="javascript:alert(1)"',
        ' xml:base=""',
    ]
)
DATES = st.sampled_from(
    [
        "Tue, 28 May 2024 12:00:00 +0000",
        "Tue, 28 May 2024 12:00:00 GMT",
        "2024-05-28T12:00:00Z",
        "2024-05-28T12:00:00+02:00",
        "28 May 2024",
        "not a date",
        "",
        "2099-01-01T00:00:00Z",
    ]
)


@st.composite
def rss_item(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(f"<title>{draw(TEXT)}</title>")
    if draw(st.booleans()):
        parts.append(f"<link>{draw(TEXT)}</link>")
    if draw(st.booleans()):
        permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
        parts.append(f"<guid{permalink}>{draw(TEXT)}</guid>")
    if draw(st.booleans()):
        parts.append(f"<pubDate>{draw(DATES)}</pubDate>")
    if draw(st.booleans()):
        parts.append(f"<description>{draw(TEXT)}</description>")
    if draw(st.booleans()):
        parts.append(f"<content:encoded>{draw(TEXT)}</content:encoded>")
    for _ in range(draw(st.integers(0, 2))):
        tag = draw(st.sampled_from(["dc:creator", "author"]))
        parts.append(f"<{tag}>{draw(TEXT)}</{tag}>")
    for _ in range(draw(st.integers(0, 3))):
        domain = draw(st.sampled_from(["", ' domain="https://news.example/tags"']))
        parts.append(f"<category{domain}>{draw(TEXT)}</category>")
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["image/jpeg", "audio/mpeg", "IMAGE/PNG"]))
        length = draw(st.sampled_from(["1234", "", "-5", "lots"]))
        parts.append(f'<enclosure url="/media/{length}.x" length="{length}" type="{kind}"/>')
    if draw(st.booleans()):
        parts.append("<comments>https://news.example/c</comments>")
    if draw(st.booleans()):  # WordPress.com's own element
        parts.append('<post-id xmlns="com-wordpress:feed-additions:1">188231</post-id>')
    order = draw(st.permutations(parts))
    return f"<item{draw(BASE)}>" + "".join(order) + "</item>"


@st.composite
def rss(draw: st.DrawFn) -> bytes:
    channel = [f"<title>{draw(TEXT)}</title>", f"<link>{draw(TEXT)}</link>"]
    channel.append(f"<description>{draw(TEXT)}</description>")
    if draw(st.booleans()):
        channel.append(f"<ttl>{draw(st.sampled_from(['60', 'soon', '']))}</ttl>")
    if draw(st.booleans()):
        channel.append("<sy:updatePeriod>hourly</sy:updatePeriod>")
        channel.append(f"<sy:updateFrequency>{draw(st.integers(0, 4))}</sy:updateFrequency>")
    if draw(st.booleans()):
        channel.append("<image><url>/logo.png</url><title>Logo</title><link>/</link></image>")
    if draw(st.booleans()):
        channel.append('<atom:link href="https://news.example/feed.xml" rel="self"/>')
    if draw(st.booleans()):
        channel.append('<site xmlns="com-wordpress:feed-additions:1">12345</site>')
    items = draw(st.lists(rss_item(), max_size=4))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
        f' xmlns:atom="http://www.w3.org/2005/Atom"><channel{draw(BASE)}>'
        + "".join(draw(st.permutations(channel)))
        + "".join(items)
        + "</channel></rss>"
    ).encode()


@st.composite
def atom_person(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(f"<name>{draw(TEXT)}</name>")
    if draw(st.booleans()):
        parts.append(f"<email>{draw(TEXT)}</email>")
    if draw(st.booleans()):
        parts.append(f"<uri>{draw(TEXT)}</uri>")
    return "<author>" + "".join(draw(st.permutations(parts))) + "</author>"


@st.composite
def atom_text(draw: st.DrawFn, tag: str) -> str:
    kind = draw(st.sampled_from(["", ' type="text"', ' type="html"', ' type="HTML"']))
    return f"<{tag}{kind}{draw(BASE)}>{draw(TEXT)}</{tag}>"


@st.composite
def atom_link(draw: st.DrawFn) -> str:
    rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="self"', ' rel="enclosure"']))
    kind = draw(st.sampled_from(["", ' type="text/html"', ' type="image/jpeg"', ' type="html"']))
    length = draw(st.sampled_from(["", ' length="99"']))
    return f'<link{rel}{kind}{length}{draw(BASE)} href="{draw(TEXT)}"/>'


@st.composite
def atom_entry(draw: st.DrawFn) -> str:
    parts = []
    for tag in ("title", "summary", "content"):
        if draw(st.booleans()):
            parts.append(draw(atom_text(tag)))
    if draw(st.booleans()):
        parts.append(f"<id>{draw(TEXT)}</id>")
    for tag in ("published", "updated"):
        if draw(st.booleans()):
            parts.append(f"<{tag}>{draw(DATES)}</{tag}>")
    parts += draw(st.lists(atom_link(), max_size=3))
    parts += draw(st.lists(atom_person(), max_size=2))
    for _ in range(draw(st.integers(0, 2))):
        term = draw(st.sampled_from(['term="world"', 'term=""', 'term="a" label="A"', ""]))
        parts.append(f"<category {term}>{draw(st.sampled_from(['', 'text']))}</category>")
    return f"<entry{draw(BASE)}>" + "".join(draw(st.permutations(parts))) + "</entry>"


@st.composite
def atom(draw: st.DrawFn) -> bytes:
    head = [draw(atom_text("title")), f"<id>{draw(TEXT)}</id>"]
    head += draw(st.lists(atom_link(), max_size=2)) + draw(st.lists(atom_person(), max_size=2))
    if draw(st.booleans()):
        head.append("<updated>2024-05-28T12:00:00Z</updated>")
    lang = draw(st.sampled_from(["", ' xml:lang="en"']))
    entries = draw(st.lists(atom_entry(), max_size=4))
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{lang}'
        f"{draw(BASE)}>" + "".join(draw(st.permutations(head))) + "".join(entries) + "</feed>"
    ).encode()


@settings(max_examples=size(400, 5000), suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(document=st.one_of(rss(), atom()), media=st.sampled_from(MEDIA_TYPES))
def test_generated_feeds_read_alike(document: bytes, media: str) -> None:
    headers = {"content-type": media}
    plain, reference = both(document, headers)
    if plain is not None:
        assert parsed(plain, document, headers) == parsed(reference, document, headers)


def test_threads_reading_at_once_read_alike() -> None:
    # With one parser process, feeds are parsed on several threads of the round's executor.
    data = next(d for name, d, _ in documents() if name.endswith("fixtures/newswire.rss"))
    headers = {"content-type": "application/rss+xml"}
    expected = plain_feeds.read(data, headers)
    with ThreadPoolExecutor(8) as pool:
        readings = list(pool.map(lambda _: plain_feeds.read(data, headers), range(400)))
    assert all(reading == expected for reading in readings)
