"""Feed autodiscovery: the pure link finding, and discovery against the real test server."""

from __future__ import annotations

from dataclasses import replace

import pytest
from server import SHARED, FeedServer, redirect

from ingest.discover import MAX_FOUND, FoundFeed, discover, feed_kind, feed_title, find_links
from ingest.errors import FetchError
from ingest.models import PollSettings

SETTINGS = PollSettings(
    connect_timeout=2.0, read_timeout=2.0, timeout=5.0, user_agent="test", allow_private=True
)
FIXTURES = SHARED / "fixtures"
PAGE = (FIXTURES / "page-with-feeds.html").read_bytes()
HTML = b"<!doctype html><html><head><title>Plain</title></head><body>No feeds</body></html>"


def test_the_fixture_page_advertises_three_feeds() -> None:
    found = find_links(PAGE, "https://news.northwind.example/2025/story.html")
    assert found == (
        FoundFeed("https://news.northwind.example/feed/", "Northwind Wire » Feed", "rss"),
        FoundFeed("https://news.northwind.example/comments/feed/", "Comments", "atom"),
        FoundFeed("https://news.northwind.example/feed.json", "JSON", "json"),
    )


def test_links_resolve_against_base_href_and_skip_what_is_not_a_feed() -> None:
    page = b"""<html><head><base href="https://cdn.example/site/">
    <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
    <link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/1">
    <link rel="stylesheet" type="application/rss+xml" href="not-alternate.xml">
    <link rel="Alternate Feed" type="Application/RSS+XML; charset=utf-8" href="rss.xml">
    <link rel="alternate" type="application/rss+xml" href="rss.xml" title="again">
    <link rel="alternate" type="application/atom+xml" href="javascript:alert(1)">
    <link rel="alternate" type="application/rdf+xml" href="//other.example/index.rdf" title=" A
      B ">
    </head></html>"""
    assert find_links(page, "https://www.example/blog/") == (
        FoundFeed("https://cdn.example/site/rss.xml", None, "rss"),
        FoundFeed("https://other.example/index.rdf", "A B", "rdf"),
    )


def test_a_page_without_links() -> None:
    assert find_links(HTML, "https://example.com/") == ()
    assert find_links(b"", "https://example.com/") == ()


@pytest.mark.parametrize(
    ("name", "kind", "title"),
    [
        ("newswire.rss", "rss", "Northwind Wire"),
        ("harbor-times.atom", "atom", None),
        ("newswire.json", "json", None),
        ("no-guids.rss", "rss", None),
        ("page-with-feeds.html", None, None),
        ("subscriptions.opml", None, None),
    ],
)
def test_feed_kind_of_the_fixtures(name: str, kind: str | None, title: str | None) -> None:
    content = (FIXTURES / name).read_bytes()
    assert feed_kind(content) == kind
    if kind and title:
        assert feed_title(content, kind) == title
    if kind:
        assert feed_title(content, kind)  # every fixture feed has a title


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- hi --><rss version="2.0"/>', "rss"),
        ('<?xml version="1.0" encoding="utf-16"?><feed/>'.encode("utf-16"), "atom"),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', "rdf"),
        (b'<!DOCTYPE rss SYSTEM "x"><rss/>', "rss"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}', "json"),
        (b'{"version": "1.0"}', None),
        (b"{not json", None),
        (HTML, None),
        (b"", None),
    ],
)
def test_feed_kind_sniffs(content: bytes, kind: str | None) -> None:
    assert feed_kind(content) == kind


def test_feed_titles() -> None:
    rss = b"<rss><channel><title><![CDATA[Fish &amp; <b>Chips</b>]]></title></channel></rss>"
    assert feed_title(rss, "rss") == "Fish & Chips"
    assert feed_title(b'{"title": " J  F "}', "json") == "J F"
    assert feed_title(b"<feed></feed>", "atom") is None


def test_discover_on_the_fixture_page(feed_server: FeedServer) -> None:
    found = discover(feed_server.url("/fixtures/page-with-feeds.html"), SETTINGS)
    assert [(f.url, f.type, f.source) for f in found] == [
        (feed_server.url("/feed/"), "rss", "link"),
        ("https://news.northwind.example/comments/feed/", "atom", "link"),
        (feed_server.url("/feed.json"), "json", "link"),
    ]
    assert feed_server.counts == {"/fixtures/page-with-feeds.html": 1}  # nothing probed


def test_a_feed_is_its_own_answer(feed_server: FeedServer) -> None:
    found = discover(feed_server.gen_url(3), SETTINGS)
    assert found == (FoundFeed(feed_server.gen_url(3), "Generated feed 3", "rss", "itself"),)


def test_well_known_paths_are_probed_when_nothing_is_advertised(feed_server: FeedServer) -> None:
    feed_server.route("/site/", body=HTML, content_type="text/html")
    feed_server.route("/feed", body=HTML, content_type="text/html")  # answers, but not a feed
    feed_server.route("/rss", status=500)
    feed_server.route("/atom.xml", redirect(feed_server.gen_url(2), 301))
    feed_server.route("/index.xml", redirect("/rss.xml", 302))
    feed_server.route("/rss.xml", body=(FIXTURES / "newswire.rss").read_bytes())
    found = discover(feed_server.url("/site/"), SETTINGS)
    assert found == (
        FoundFeed(feed_server.gen_url(2), "Generated feed 2", "rss", "guess"),
        FoundFeed(feed_server.url("/rss.xml"), "Northwind Wire", "rss", "guess"),
    )
    for path in ("/feed", "/rss", "/atom.xml", "/feed.xml", "/index.xml", "/rss.xml"):
        assert feed_server.hits(path) >= 1


def test_nothing_found(feed_server: FeedServer) -> None:
    feed_server.route("/plain/", body=HTML, content_type="text/html")
    assert discover(feed_server.url("/plain/"), SETTINGS) == ()


def test_a_page_that_fails_says_why(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404 Not Found"):
        discover(feed_server.url("/missing/"), SETTINGS)


# -- bounded work ------------------------------------------------------------------------------


def test_a_page_advertising_thousands_of_feeds_lists_the_first_fifty() -> None:
    link = '<link rel="alternate" type="application/rss+xml" href="/feed/{}.xml">'
    page = ("<html><head>" + "".join(link.format(n) for n in range(100_000)) + "</head>").encode()
    found = find_links(page, "https://site.example/")
    assert len(found) == MAX_FOUND == 50
    assert found[0].url == "https://site.example/feed/0.xml"
    assert found[-1].url == "https://site.example/feed/49.xml"


def test_a_deeply_nested_json_page_is_no_feed_and_no_crash(feed_server: FeedServer) -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    url = feed_server.route("/deep.json", body=deep, content_type="application/json")
    assert feed_kind(deep) is None
    assert discover(url, SETTINGS) == ()  # nothing advertised, and no well-known path answers


def test_discover_on_a_huge_page_reads_what_max_bytes_allows(feed_server: FeedServer) -> None:
    link = b'<link rel="alternate" type="application/atom+xml" href="/a/%d.xml">'
    page = b"<html><head>" + b"".join(link % n for n in range(200_000)) + b"</head></html>"
    url = feed_server.route("/huge.html", body=page, content_type="text/html")
    with pytest.raises(FetchError, match=r"\(poll.max_bytes\)"):
        discover(url, SETTINGS)
    found = discover(url, replace(SETTINGS, max_bytes=len(page)))
    assert len(found) == MAX_FOUND
