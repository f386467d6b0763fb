"""Feed formats to the letter: JSON Feed 1.0/1.1 fields and Atom authors, as a reader sees them.

Each case is real feed bytes: parsed with ``parse_feed`` or served by the test server through
``broadsheet poll`` and read back from the store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from server import FeedServer, static
from sqlalchemy import select
from test_poll import health, poll_json, write_config

from ingest.models import Entry
from ingest.parse import parse_feed
from ingest.store.database import open_store
from ingest.store.schema import entries

NOW = datetime(2025, 3, 1, tzinfo=UTC)
URL = "https://news.example/feed"
JSON_TYPE = {"Content-Type": "application/feed+json"}
ATOM_TYPE = {"Content-Type": "application/atom+xml"}


def json_feed(items: list[Any], version: str = "1.1", **top: Any) -> bytes:
    document = {"version": f"https://jsonfeed.org/version/{version}", "title": "T", **top}
    return json.dumps(document | {"items": items}).encode()


def json_entries(items: list[Any], version: str = "1.1", **top: Any) -> tuple[Entry, ...]:
    return parse_feed(json_feed(items, version, **top), JSON_TYPE, URL, NOW).entries


def one(item: dict[str, Any], version: str = "1.1", **top: Any) -> Entry:
    (entry,) = json_entries([{"id": "x", "url": "https://news.example/x"} | item], version, **top)
    return entry


# --- JSON Feed: id -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "guid"),
    [
        (42, "42"),
        (1.5, "1.5"),
        (12345678901234567890, "12345678901234567890"),
        (True, "true"),
        ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
        ("  urn:x  ", "urn:x"),
    ],
)
def test_an_id_of_any_type_is_coerced_to_a_string(value: object, guid: str) -> None:
    # "If an id is presented as a number or other type, a JSON Feed reader must coerce it to a
    # string." Two items sharing a link stay two entries, each known by its own id.
    link = "https://news.example/same"
    items = [{"id": value, "url": link, "title": "A"}, {"id": "other", "url": link, "title": "B"}]
    first, second = json_entries(items)
    assert (first.guid, first.identity) == (guid, guid)
    assert second.guid == "other"


def test_a_numeric_id_keeps_its_identity_across_polls_whatever_its_json_form() -> None:
    as_int = one({"id": 7, "url": "https://news.example/a"})
    as_string = one({"id": "7", "url": "https://news.example/b"})
    assert as_int.identity == as_string.identity == "7"


# --- JSON Feed: authors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "authors"),
    [
        ({"authors": [{"url": "mailto:jane@news.example"}]}, ("jane@news.example",)),
        (
            {"authors": [{"url": "mailto:Jane%20Roe%20<jr@news.example>?subject=x"}]},
            ("Jane Roe <jr@news.example>",),
        ),
        ({"authors": [{"url": "https://jane.example/"}]}, ("https://jane.example/",)),
        ({"author": {"url": "mailto:old@news.example"}}, ("old@news.example",)),  # 1.0
        ({"author": {"name": "Old Style"}}, ("Old Style",)),
        (
            {"authors": [{"name": "Ann"}, {"avatar": "x.png"}, {"url": "https://b.example"}]},
            ("Ann", "https://b.example"),
        ),
        ({"authors": [{"name": "New"}], "author": {"name": "Old"}}, ("New",)),  # 1.1 wins
        ({"authors": [{}], "author": {"name": "Old"}}, ("Old",)),
        ({"author": "Plain String"}, ("Plain String",)),
        ({}, ("Feed Person",)),  # no author of its own: the feed's
        ({"authors": [{}]}, ("Feed Person",)),
    ],
)
def test_an_author_known_only_by_address_is_that_author_not_the_feeds(
    item: dict[str, Any], authors: tuple[str, ...]
) -> None:
    assert one(item, authors=[{"name": "Feed Person"}]).authors == authors


def test_feed_authors_known_only_by_address_are_inherited() -> None:
    entry = one({}, authors=[{"url": "mailto:desk@news.example"}])
    assert entry.authors == ("desk@news.example",)
    entry = one({}, version="1", author={"url": "https://news.example/about"})
    assert entry.authors == ("https://news.example/about",)


# --- JSON Feed: attachments ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "length"),
    [
        (1234, 1234),
        (1234.0, 1234),
        (1234.6, 1235),
        ("1234", 1234),
        (" 1234.0 ", 1234),
        ("1e3", 1000),
        (-5, None),
        ("-5", None),
        ("lots", None),
        (True, None),
        (None, None),
        ("nan", None),
        (1e30, None),
    ],
)
def test_size_in_bytes_is_read_from_any_numeric_form(size: object, length: int | None) -> None:
    attachment = {"url": "https://cdn.example/a.mp3", "mime_type": "audio/mpeg"}
    entry = one({"attachments": [attachment | {"size_in_bytes": size}]})
    (enclosure,) = entry.enclosures
    assert (enclosure.url, enclosure.type, enclosure.length) == (
        "https://cdn.example/a.mp3",
        "audio/mpeg",
        length,
    )


@pytest.mark.parametrize(
    ("duration", "seconds"), [(3600, 3600.0), (90.5, 90.5), ("61", 61.0), ("x", None), (-1, None)]
)
def test_duration_in_seconds_is_kept(duration: object, seconds: float | None) -> None:
    attachment = {"url": "https://cdn.example/a.mp3", "duration_in_seconds": duration}
    assert one({"attachments": [attachment]}).enclosures[0].duration == seconds


def test_attachments_that_are_not_objects_or_have_no_url_are_skipped() -> None:
    good = {"url": "/files/ep1.mp3", "mime_type": "Audio/MPEG"}
    entry = one({"attachments": [None, "x", 5, {"mime_type": "audio/mpeg"}, good]})
    assert [(e.url, e.type) for e in entry.enclosures] == [
        ("https://news.example/files/ep1.mp3", "audio/mpeg")
    ]


# --- JSON Feed: dates, bodies, links, images, items ----------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-02-03T04:05:06Z", datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2025-02-03t04:05:06.123456789z", datetime(2025, 2, 3, 4, 5, 6, 123456, tzinfo=UTC)),
        ("2025-02-03T05:05:06+01:00", datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2025-02-03T05:05:06+0100", datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2025-02-03 04:05:06Z", datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),  # leap second
        ("2025-02-03", datetime(2025, 2, 3, tzinfo=UTC)),
        ("Mon, 03 Feb 2025 04:05:06 GMT", datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("Mon, 03 Feb 2025 05:05:06 +0100", datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("yesterday", None),
        (1738555506, None),
        ("2999-01-01T00:00:00Z", None),  # far in the future: bogus
    ],
)
def test_date_published_forms(value: object, expected: datetime | None) -> None:
    entry = one({"date_published": value, "date_modified": "2025-02-04T00:00:00Z"})
    assert entry.published == (expected or datetime(2025, 2, 4, tzinfo=UTC))


def test_content_html_wins_over_content_text_and_an_empty_one_does_not() -> None:
    both = one({"content_html": "<p>Rich <b>body</b></p>", "content_text": "Plain body"})
    assert both.content_html == "<p>Rich <b>body</b></p>"
    text = one({"content_html": "  ", "content_text": "a < b & c\n\nsecond <i>para</i>"})
    assert text.content_html == "<p>a &lt; b &amp; c</p><p>second &lt;i&gt;para&lt;/i&gt;</p>"
    assert text.excerpt == "a < b & c — second <i>para</i>"
    only_text = one({"content_text": "x <script>alert(1)</script>"})
    assert only_text.content_html == "x &lt;script&gt;alert(1)&lt;/script&gt;"
    summary = one({"summary": "A <b>plain</b> summary", "content_html": "<p>Body</p>"})
    assert summary.summary_html == "A &lt;b&gt;plain&lt;/b&gt; summary"


def test_url_is_the_link_and_external_url_stands_in_without_one() -> None:
    both = one({"url": "https://news.example/post", "external_url": "https://else.example/"})
    assert both.link == "https://news.example/post"
    link_post = one({"url": None, "external_url": "https://else.example/story"})
    assert link_post.link == "https://else.example/story"


def test_image_then_banner_image_then_an_image_attachment_make_the_lead_image() -> None:
    images = {
        "image": "/img/main.jpg",
        "banner_image": "https://cdn.example/banner.jpg",
        "attachments": [{"url": "https://cdn.example/att.png", "mime_type": "image/png"}],
        "content_html": '<p><img src="https://cdn.example/body.jpg"></p>',
    }
    assert one(images).image == "https://news.example/img/main.jpg"
    assert one(images | {"image": ""}).image == "https://cdn.example/banner.jpg"
    assert one(images | {"image": 5, "banner_image": None}).image == "https://cdn.example/att.png"
    assert one({"content_html": images["content_html"]}).image == "https://cdn.example/body.jpg"


def test_items_that_are_not_objects_are_skipped_and_counted() -> None:
    items = [None, "text", 3, ["a"], {"id": "1", "title": "Kept"}]
    parsed = parse_feed(json_feed(items), JSON_TYPE, URL, NOW)
    assert [e.title for e in parsed.entries] == ["Kept"]
    assert parsed.warning == "4 of the feed's items are not JSON objects and were skipped"


def test_a_json_feed_through_poll_reaches_the_store_as_written(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    attachment = {"url": "/ep/1.mp3", "mime_type": "audio/mpeg"}
    items = [
        {"id": 101, "url": "/a", "title": "Numbered", "content_text": "One & two"},
        {
            "id": 102.5,
            "url": "/b",
            "title": "Mailed",
            "authors": [{"url": "mailto:reporter@news.example"}],
            "date_published": "Mon, 03 Feb 2025 04:05:06 GMT",
            "attachments": [attachment | {"size_in_bytes": 2048.0, "duration_in_seconds": 61}],
        },
        "not an item",
    ]
    body = json_feed(items, authors=[{"name": "The Desk"}])
    url = feed_server.route("/feed.json", static(body, content_type="application/feed+json"))
    path = write_config(tmp_path, [url])
    assert poll_json(path)["new_entries"] == 2
    assert health(path)[url]["warning"] == (
        "1 of the feed's items are not JSON objects and were skipped"
    )
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    with engine.connect() as conn:
        rows = {r.guid: r for r in conn.execute(select(entries))}
    engine.dispose()
    assert set(rows) == {"101", "102.5"}
    assert rows["101"].authors == ["The Desk"] and rows["101"].content_html == "One &amp; two"
    mailed = rows["102.5"]
    assert mailed.authors == ["reporter@news.example"]
    assert mailed.published_at.replace(tzinfo=UTC) == datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert mailed.enclosures == [
        {"url": feed_server.url("/ep/1.mp3"), "type": "audio/mpeg", "length": 2048, "duration": 61}
    ]


# --- Atom: authors from <source> -----------------------------------------------------------

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Aggregated</title><id>urn:feed</id><updated>2025-02-01T00:00:00Z</updated>
  <author><name>Planet Editor</name></author>
  {entries}
</feed>"""

ENTRY = """<entry><id>urn:{n}</id><title>E{n}</title><updated>2025-02-01T00:00:00Z</updated>
  <link href="https://news.example/{n}"/>{inner}</entry>"""


def atom_authors(*inners: str, feed_author: str | None = None) -> list[tuple[str, ...]]:
    body = "".join(ENTRY.format(n=n, inner=inner) for n, inner in enumerate(inners))
    text = ATOM.format(entries=body)
    if feed_author is not None:
        text = text.replace("<name>Planet Editor</name>", feed_author)
    parsed = parse_feed(text.encode(), ATOM_TYPE, URL, NOW)
    return [e.authors for e in parsed.entries]


def test_an_atom_entry_without_authors_takes_its_sources_before_the_feeds() -> None:
    source = "<source><id>urn:s</id><title>Origin</title>{}</source>"
    inners = [
        source.format("<author><name>Origin Writer</name></author>"),
        "<author><name>Own</name></author>" + source.format("<author><name>Src</name></author>"),
        source.format("<author><email>wire@origin.example</email></author>"),
        source.format("<author><uri>https://origin.example/staff</uri></author>"),
        source.format("<contributor><name>Helper</name></contributor>"),  # not an author
        source.format(""),
        "",
    ]
    assert atom_authors(*inners) == [
        ("Origin Writer",),
        ("Own",),
        ("wire@origin.example",),
        ("https://origin.example/staff",),
        ("Planet Editor",),
        ("Planet Editor",),
        ("Planet Editor",),
    ]


def test_atom_authors_without_a_name_are_shown_by_address() -> None:
    inner = "<author><email>e@news.example</email></author>"
    assert atom_authors(inner, "") == [("e@news.example",), ("Planet Editor",)]
    feed_author = "<email>desk@news.example</email>"
    assert atom_authors("", feed_author=feed_author) == [("desk@news.example",)]
    feed_author = "<uri>https://news.example/desk</uri>"
    assert atom_authors("", feed_author=feed_author) == [("https://news.example/desk",)]


def test_rss_authors_are_their_own_and_never_inherit_the_channels_editor() -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>R</title>
    <managingEditor>ed@news.example (Ed)</managingEditor>
    <item><title>a</title><guid>a</guid><author>joe@news.example (Joe)</author></item>
    <item><title>b</title><guid>b</guid><author>ann@news.example</author></item>
    <item><title>c</title><guid>c</guid></item>
    <item><title>d</title><guid>d</guid><author>Joe Bloggs &lt;joe@news.online&gt;</author></item>
    <item><title>e</title><guid>e</guid><author>sam@site.com (Sam)</author></item>
    </channel></rss>"""
    parsed = parse_feed(rss, {"Content-Type": "application/rss+xml"}, URL, NOW)
    assert [e.authors for e in parsed.entries] == [
        ("Joe",),
        ("ann@news.example",),
        (),
        ("Joe Bloggs",),
        ("Sam",),
    ]
