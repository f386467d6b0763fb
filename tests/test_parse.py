"""parse_feed: golden records of the shared fixtures, hostile XML, HTML pages, bozo, JSON Feed.

The golden files in tests/data/parse/ hold the exact records parse_feed gives for each fixture.
After a deliberate change, regenerate them and review the diff by eye:

    BROADSHEET_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_parse.py -k golden
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import ParseError
from ingest.models import ParsedFeed
from ingest.parse import MAX_ENTRIES, MAX_ENTRY_TAGS, parse_feed

FIXTURES = Path(__file__).resolve().parent / "data" / "shared" / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "data" / "parse"
NOW = datetime(2022, 3, 31, 6, 0, tzinfo=UTC)
CASES = {
    "newswire.rss": ("https://news.northwind.example/feed/", "application/rss+xml; charset=UTF-8"),
    "harbor-times.atom": ("https://harbortimes.example/world/atom.xml", "application/atom+xml"),
    "no-guids.rss": ("http://bulletin.example/rss.xml", "text/xml"),
    "newswire.json": ("https://news.northwind.example/feed.json", "application/feed+json"),
}


def as_json(parsed: ParsedFeed) -> dict[str, Any]:
    """A ParsedFeed as plain JSON data, datetimes in ISO 8601; its items' keys left out (they
    hash the parsing code too, so they change with any change to it; tests/test_splice.py)."""
    fields = dataclasses.asdict(parsed)
    del fields["item_keys"], fields["spliced"]
    return json.loads(json.dumps(fields, default=datetime.isoformat))


def parse_fixture(name: str) -> ParsedFeed:
    url, content_type = CASES[name]
    return parse_feed((FIXTURES / name).read_bytes(), {"Content-Type": content_type}, url, NOW)


def rss(items: str, *, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0"><channel>'
        f"<title>T</title><link>https://site.example/</link>{items}</channel></rss>"
    ).encode()


URL = "https://site.example/feed"


def parse(content: bytes, content_type: str = "application/rss+xml") -> ParsedFeed:
    return parse_feed(content, {"Content-Type": content_type}, URL, NOW)


# Golden files


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    actual = as_json(parse_fixture(name))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("BROADSHEET_REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert actual == json.loads(path.read_text(encoding="utf-8"))


def test_golden_newswire_points_reviewed() -> None:
    feed = parse_fixture("newswire.rss")
    first, _, hostile = feed.entries
    assert first.link == "https://news.northwind.example/2022/03/30/written-offer/"
    assert "pixel.tracker.example" not in first.content_html
    assert 'href="https://news.northwind.example/tag/repositioning/"' in first.content_html
    assert first.title == "Capital Welcomes Rival’s Written Offer but Sees “No Breakthrough”"
    assert first.authors == ("Mara Velden",)
    assert first.published == datetime(2022, 3, 30, 17, 42, 10, tzinfo=UTC)
    for marker in ("<script", "alert", "javascript:", "onclick", "steal"):
        assert marker not in hostile.summary_html
    assert hostile.title == "Markets & Energy: Gas Prices Ease After Talks"


def test_golden_legacy_feed_points_reviewed() -> None:
    feed = parse_fixture("no-guids.rss")
    assert feed.title == "Café Bulletin"
    assert feed.entries[0].title == "Café reopens"
    assert feed.entries[0].link == "http://bulletin.example/cafe-reopens"
    assert feed.entries[0].identity.startswith("sha256:")  # no guid: link, title and date
    untitled = feed.entries[2]
    assert untitled.identity.startswith("sha256:")
    assert untitled.link is None
    assert untitled.title == "An item with neither title nor link, only a description."
    assert untitled.published is None


def test_raw_latin1_bytes_are_decoded() -> None:
    body = (FIXTURES / "no-guids.rss").read_bytes().replace(b"&#233;", b"\xe9")
    assert b"Caf\xe9" in body
    feed = parse_feed(body, {}, "http://bulletin.example/rss.xml", NOW)
    assert [feed.title, feed.entries[0].title] == ["Café Bulletin", "Café reopens"]


def test_golden_atom_times_are_utc_and_xml_base_applies() -> None:
    feed = parse_fixture("harbor-times.atom")
    entry = feed.entries[0]
    assert entry.published == datetime(2022, 3, 30, 17, 20, tzinfo=UTC)
    assert entry.updated == datetime(2022, 3, 30, 17, 45, tzinfo=UTC)
    assert 'href="https://harbortimes.example/world/2022/03/30/peace-offer-analysis"' in (
        entry.content_html
    )


# Entity expansion


def refused_before_parsing(body: bytes, message: str) -> None:
    """Refused by our checks, which run before feedparser (the message is theirs): no blow-up.

    How long that takes is measured in bench/, not asserted here.
    """
    with pytest.raises(ParseError, match=message):
        parse(body)


def test_billion_laughs_is_refused_before_parsing() -> None:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    prolog = "<!DOCTYPE rss [\n" + "\n".join(levels) + "\n]>\n"
    body = rss("<item><title>&lol9;</title></item>", prolog=prolog)
    refused_before_parsing(
        body, r"refused: the feed declares XML entities that would expand to [\d,.]+ MB"
    )


@pytest.mark.parametrize("sep", ["\n", ""])  # feedparser's own regex misses one-line subsets
def test_quadratic_blowup_is_refused_before_parsing(sep: str) -> None:
    prolog = f'<!DOCTYPE rss [{sep}<!ENTITY big "{"A" * 100_000}">{sep}]>\n'
    item = f"<item><title>x</title><description>{'&big;' * 100_000}</description></item>"
    refused_before_parsing(rss(item, prolog=prolog), r"expand to 10,000\.0 MB \(limit 1 MB\)")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-7"])
def test_bomb_in_an_encoding_that_hides_it_is_refused(encoding: str) -> None:
    # UTF-16 interleaves NULs and UTF-7 can spell "<!ENTITY" in base64: the raw bytes never
    # contain it, only the text feedparser decodes does.
    declare = "<!ENTITY"
    if encoding == "utf-7":
        declare = "+" + base64.b64encode(declare.encode("utf-16-be")).decode().rstrip("=") + "-"
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<!DOCTYPE rss [\n'
        f'{declare} big "{"A" * 10_000}">\n]>\n<rss version="2.0"><channel>'
        f"<item><title>{'&big;' * 1000}</title></item></channel></rss>"
    )
    body = text.encode("utf-16") if encoding == "utf-16" else text.encode("ascii")
    assert b"<!ENTITY" not in body
    refused_before_parsing(body, r"expand to 10\.0 MB")


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "external XML entity &xxe;"),
        ('<!ENTITY xxe PUBLIC "-//x//EN" "https://evil.example/x">', "external XML entity &xxe;"),
        ("<!ENTITY % pe \"<!ENTITY x 'y'>\"> %pe;", "parameter entity %pe;"),
        ('<!ENTITY loop "&loop;">', "refers to itself"),
    ],
)
def test_external_parameter_and_recursive_entities_are_refused(
    declaration: str, message: str
) -> None:
    body = rss("<item><title>&xxe;</title></item>", prolog=f"<!DOCTYPE rss [\n{declaration}\n]>\n")
    with pytest.raises(ParseError, match=message):
        parse(body)


def test_small_internal_entities_are_fine() -> None:
    prolog = '<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n<!ENTITY org "Northwind">\n]>\n'
    item = "<item><title>&org;&nbsp;news</title><guid>1</guid></item>"
    assert parse(rss(item, prolog=prolog)).entries[0].title == "Northwind news"


# Not feeds, broken feeds


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!DOCTYPE html>\n<html lang=en><head><title>Home</title></head></html>", "text/html"),
        (b"  <!-- banner -->\n<HTML><BODY>Hi</BODY></HTML>", "application/octet-stream"),
        (b"<!DOCTYPE html><title>Home</title><p>No html element", "text/html; charset=utf-8"),
    ],
)
def test_html_page_is_not_a_feed(body: bytes, content_type: str) -> None:
    with pytest.raises(ParseError, match="not a feed: got an HTML page") as caught:
        parse(body, content_type)
    assert str(caught.value).endswith(
        f"`broadsheet feeds discover {URL}` lists the feeds the page links to"
    )


@pytest.mark.parametrize("content_type", ["text/xml", "text/rss+xml", "TEXT/XML; q=1"])
def test_utf8_served_as_text_xml_without_charset_reads_as_declared(content_type: str) -> None:
    body = rss(
        "<item><title>Talks \u201cclose,\u201d says caf\u00e9 owner</title><guid>1</guid></item>"
    )
    parsed = parse(body, content_type)
    assert parsed.warning is None
    assert parsed.entries[0].title == "Talks \u201cclose,\u201d says caf\u00e9 owner"


def test_a_charset_on_text_xml_is_still_honoured() -> None:
    body = rss("<item><title>caf\u00e9</title><guid>1</guid></item>").replace(
        b'encoding="utf-8"', b'encoding="iso-8859-1"'
    )
    parsed = parse(body.decode("utf-8").encode("latin-1"), "text/xml; charset=iso-8859-1")
    assert parsed.entries[0].title == "caf\u00e9"


def test_feed_with_xhtml_doctype_is_still_a_feed() -> None:
    prolog = '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "x">\n'
    assert parse(rss("<item><title>t</title><guid>1</guid></item>", prolog=prolog)).entries


def test_bozo_feed_with_entries_has_a_warning() -> None:
    feed = parse(
        rss("<item><title>Fish & Chips</title><guid>1</guid></item><item><guid>2</guid></item>")
    )
    assert [e.title for e in feed.entries] == ["Fish & Chips", "(untitled)"]
    assert feed.warning is not None
    assert feed.warning.startswith("malformed XML at line 2, column")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not a feed: the response body is empty"),
        (b"   \n", "not a feed: the response body is empty"),
        (b"<rss><channel><title>cut off", "not a feed: malformed XML at line 1"),
        (b"<?xml version='1.0'?><config><key>v</key></config>", "not a feed: no RSS, Atom or RDF"),
        (b"/etc/passwd", "not a feed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a feed"),
    ],
)
def test_unreadable_documents_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body)


def test_empty_but_valid_feed_has_no_entries() -> None:
    feed = parse(rss(""))
    assert feed.entries == ()
    assert feed.kind == "rss20"
    assert feed.title == "T"


# Limits


def test_too_many_entries_are_cut_with_a_warning() -> None:
    feed = parse(rss("".join(f"<item><guid>{n}</guid></item>" for n in range(MAX_ENTRIES + 5))))
    assert len(feed.entries) == MAX_ENTRIES
    assert (
        feed.warning == f"the feed lists {MAX_ENTRIES + 5} entries; only the first 1000 were read"
    )


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("<item/>" * (MAX_ENTRY_TAGS + 1), "refused: the feed has about 20,001 entries"),
        ("<item><description>" + "<a>" * 200_000, "refused: the document has 200,011 XML tags"),
    ],
)
def test_absurd_documents_are_refused_before_parsing(items: str, message: str) -> None:
    refused_before_parsing(rss(items), message)


def test_element_with_thousands_of_attributes_is_cheap() -> None:
    # Quadratic in xml.sax, so only the first MAX_ATTRIBUTES of an element reach it.
    attributes = " ".join(f'a{n}="x"' for n in range(20_000))
    feed = parse(
        rss(f"<item><guid>1</guid><link {attributes}>https://site.example/a</link></item>")
    )
    assert feed.entries[0].link == "https://site.example/a"


def test_huge_fields_are_bounded() -> None:
    title = "word " * 50_000
    content = "<p>" + "text " * 400_000 + "</p>"
    body = rss(
        f"<item><title>{title}</title><guid>1</guid><description>{content}</description></item>"
    )
    entry = parse(body).entries[0]
    assert len(entry.title) <= 300
    assert len(entry.summary_html) <= 600_000
    assert len(entry.excerpt) <= 400


# Normalisation


def test_identity_is_stable_across_reorder_and_tracking_changes() -> None:
    linked = "<item><link>https://site.example/a?utm_source={}</link></item>"
    unlinked = "<item><title>no link</title><description>body</description></item>"
    first = parse(rss(linked.format("rss") + unlinked))
    second = parse(rss(unlinked + linked.format("mail&amp;fbclid=1")))
    assert {e.identity for e in first.entries} == {e.identity for e in second.entries}
    assert "https://site.example/a" in {e.link for e in first.entries}


def test_duplicate_identities_keep_the_first() -> None:
    feed = parse(
        rss(
            "<item><guid> 7 </guid><title>first</title></item>"
            "<item><guid>7</guid><title>second</title></item>"
            "<item><guid>8</guid><title>third</title></item>"
        )
    )
    assert [e.title for e in feed.entries] == ["first", "third"]
    assert feed.entries[0].identity == "7"
    assert feed.duplicates == 1


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Wed, 30 Mar 2022 17:42:10 +0200", datetime(2022, 3, 30, 15, 42, 10, tzinfo=UTC)),
        ("Thu, 01 Jan 1970 00:00:00 GMT", None),
        ("Tue, 31 Dec 1994 23:59:59 GMT", None),
        ("Fri, 01 Apr 2022 06:00:00 GMT", datetime(2022, 4, 1, 6, 0, tzinfo=UTC)),
        ("Sun, 03 Apr 2022 06:00:00 GMT", None),
        ("Fri, 31 Dec 2099 00:00:00 GMT", None),
        ("not a date", None),
    ],
)
def test_dates_are_utc_and_sane(date: str, expected: datetime | None) -> None:
    entry = parse(rss(f"<item><guid>1</guid><pubDate>{date}</pubDate></item>")).entries[0]
    assert entry.published == expected


def test_titles_tags_authors_images_and_enclosures() -> None:
    body = rss(
        "<item><guid>1</guid><description><![CDATA[<p>Body <img src='/p.gif' width='1'>"
        "<img src='/lead.jpg'></p>]]></description>"
        "<category> World </category><category>world</category><category>Politics</category>"
        "<dc:creator>A. Writer</dc:creator>"
        '<enclosure url="/audio.mp3" type="Audio/MPEG" length="1234"/>'
        '<enclosure url="https://cdn.example/big.mp4" type="video/mp4" length="n/a"/></item>'
        '<item><guid>2</guid><media:content url="https://cdn.example/m.jpg" medium="image"/></item>'
        '<item><guid>3</guid><enclosure url="https://cdn.example/e.png" type="image/png"/></item>'
        "<item><guid>4</guid></item>"
    ).replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        b'xmlns:media="http://search.yahoo.com/mrss/">',
    )
    first, second, third, empty = parse(body).entries
    assert first.title == "Body"
    assert first.tags == ("World", "Politics")
    assert first.authors == ("A. Writer",)
    assert first.image == "https://site.example/lead.jpg"
    assert [(e.url, e.type, e.length) for e in first.enclosures] == [
        ("https://site.example/audio.mp3", "audio/mpeg", 1234),
        ("https://cdn.example/big.mp4", "video/mp4", None),
    ]
    assert second.image == "https://cdn.example/m.jpg"
    assert third.image == "https://cdn.example/e.png"
    assert empty.title == "(untitled)"


def test_content_hash_follows_what_is_shown() -> None:
    def entry(title: str, link: str) -> Any:
        return parse(
            rss(f"<item><guid>1</guid><title>{title}</title><link>{link}</link></item>")
        ).entries[0]

    base = entry("A", "https://site.example/a?utm_source=x")
    assert entry("A", "https://site.example/a?utm_source=y").content_hash == base.content_hash
    assert entry("B", "https://site.example/a").content_hash != base.content_hash
    assert entry("A", "https://site.example/b").content_hash != base.content_hash


def test_atom_feed_author_is_inherited() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>'
        b"<author><name>Desk</name></author><entry><id>1</id><title>a</title></entry>"
        b"<entry><id>2</id><title>b</title><author><name>Own</name></author></entry></feed>"
    )
    feed = parse(body, "application/atom+xml")
    assert [e.authors for e in feed.entries] == [("Desk",), ("Own",)]


# JSON Feed


def test_json_feed_10_and_plain_text_content() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1",
        "title": "J",
        "author": {"name": "Desk"},
        "items": [
            {
                "id": 42,
                "url": "/posts/42?utm_medium=json",
                "content_text": "First paragraph.\n\nSecond <b>paragraph</b>.",
                "date_published": "2022-03-30T10:00:00+02:00",
                "date_modified": "garbage",
                "tags": ["a", "A", 3],
                "attachments": [{"url": "/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 99}],
            },
            "not an item",
        ],
    }
    feed = parse(json.dumps(document).encode(), "application/json")
    assert feed.kind == "json10"
    (entry,) = feed.entries
    assert entry.identity == "42"
    assert entry.link == "https://site.example/posts/42"
    assert entry.authors == ("Desk",)
    assert (
        entry.content_html == "<p>First paragraph.</p><p>Second &lt;b&gt;paragraph&lt;/b&gt;.</p>"
    )
    assert entry.published == datetime(2022, 3, 30, 8, 0, tzinfo=UTC)
    assert entry.updated is None
    assert entry.tags == ("a",)
    assert entry.enclosures[0].url == "https://site.example/a.mp3"
    assert entry.enclosures[0].length == 99


def test_json_detected_by_leading_brace_and_xml_by_its_markup() -> None:
    body = b'\xef\xbb\xbf {"version": "https://jsonfeed.org/version/1.1", "items": []}'
    assert parse(body, "text/plain").kind == "json11"
    assert parse(rss(""), "application/json").kind == "rss20"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"items": [', "not a feed: invalid JSON at line 1, column 12"),
        (b'{"title": "no items"}', "no 'items' list"),
        (b"[1, 2]", "not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "not a feed"),
    ],
)
def test_broken_json_raises_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body, "application/feed+json")


@pytest.mark.parametrize(
    "ref", ["&#x110000;", "&#xD800;", "&#56320;", "&#99999999999999999999;", "&#x00FFFFFFFF;"]
)
def test_a_reference_to_no_character_reads_as_a_replacement_character(ref: str) -> None:
    parsed = parse(rss(f"<item><title>a {ref} b</title><guid>1</guid></item>"))
    assert [e.title for e in parsed.entries] == ["a \ufffd b"]


def test_whatever_the_parser_raises_leaves_parse_feed_as_a_parse_error() -> None:
    # In UTF-16 the reference hides from the byte-level repair, and feedparser raises on it.
    body = rss("<item><title>a &#x110000; b</title></item>").decode().replace("utf-8", "utf-16")
    with pytest.raises(
        ParseError, match=r"^could not read this feed: the parser failed with ValueError: "
    ):
        parse(body.encode("utf-16"))
