"""Items already stored are not parsed again, and what is stored is what a whole parse stores.

``parse_feed`` with the keys of the body parsed last time reads only the items it does not know
(ingest/splice.py). Proved three ways: on every feed of the shared corpus, the shared fixtures,
the regression files and the feed documents the fidelity suite writes out (each item read
alone, and all items but one, against the whole document); on generated feeds (hypothesis),
a body after another; and through poll rounds into SQLite and PostgreSQL, where a feed read
spliced and the same feed read whole end up with the same rows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server import RSS_TYPE, FeedServer
from sqlalchemy import Engine, select, update
from suites import size
from test_corpus import FEEDPARSER, HEADER, MINIFLUX

from ingest.errors import ParseError
from ingest.models import FeedSpec, ParsedFeed, PollSettings
from ingest.parse import parse_feed
from ingest.parsing_pool import known_items
from ingest.poll import poll
from ingest.splice import split
from ingest.store import feeds as stored_feeds
from ingest.store.schema import entries, feeds

TESTS = Path(__file__).resolve().parent
SHARED = TESTS / "data" / "shared"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
LATE = datetime(2099, 1, 1, tzinfo=UTC)  # no corpus item is dated ahead of it
URL = "https://news.example/feed.xml"
MOST = 12  # items of a long feed read alone and left out one by one (the first ones)
FEED_FIELDS = ("title", "link", "warning", "duplicates", "kind", "min_interval", "item_keys")


def documents() -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """Every feed document the suite holds: name, bytes, response headers."""
    corpus = sorted(FEEDPARSER.rglob("*.xml")) + sorted(MINIFLUX.rglob("*.xml"))
    for path in corpus + sorted((SHARED / "fixtures").glob("*.*")):
        data = path.read_bytes()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in HEADER.findall(data[:4096])}
        yield str(path.relative_to(TESTS)), data, headers
    for path in sorted((TESTS / "data" / "regressions").glob("*.xml")):
        yield str(path.relative_to(TESTS)), path.read_bytes(), {}
    for path in sorted(TESTS.glob("test_fidelity_*.py")):
        for number, text in enumerate(_feed_literals(path.read_text())):
            yield f"{path.name} document {number}", text.encode(), {}


def _feed_literals(source: str) -> Iterator[str]:
    """The string constants of a test module that are whole feed documents."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lstrip()
            if text.startswith(("<?xml", "<rss", "<feed", "<rdf:RDF")) and "</" in text:
                yield node.value


def read(
    data: bytes, headers: dict[str, str], known: Any = (), now: datetime = NOW
) -> ParsedFeed | None:
    """parse_feed, or None when the document is not a feed."""
    try:
        return parse_feed(data, headers, URL, now, known)
    except ParseError:
        return None


def check_document(data: bytes, headers: dict[str, str]) -> int:
    """Each item alone, then all but one, read spliced: the whole parse's entries for them.

    Returns how many spliced parses were made (0 when the document cannot be cut).
    """
    whole = read(data, headers, now=LATE)
    if whole is None or whole.item_keys is None:
        return 0
    pairs, entries_ = whole.item_keys, whole.entries
    assert len(pairs) == len(entries_)
    made = 0
    for i in range(min(len(pairs), MOST)):
        for fresh in ([i], [j for j in range(len(pairs)) if j != i]):
            known = [pair for j, pair in enumerate(pairs) if j not in fresh]
            if not known:
                continue
            spliced = read(data, headers, known, LATE)
            assert spliced is not None
            if not spliced.spliced:
                assert spliced.entries == entries_  # read whole after all
                continue
            made += 1
            assert spliced.entries == tuple(entries_[j] for j in fresh)
            for name in FEED_FIELDS:
                assert getattr(spliced, name) == getattr(whole, name), name
    return made


def test_every_item_of_every_feed_the_suite_holds_reads_the_same_spliced() -> None:
    cut = spliced = total = 0
    for name, data, headers in documents():
        total += 1
        try:
            made = check_document(data, headers)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from failure
        cut += made > 0
        spliced += made
    # Most documents can be cut (the corpus also holds broken ones, DTDs and other encodings).
    assert total > 2000 and cut > total // 4 and spliced > 1000, (total, cut, spliced)


def test_the_fixtures_are_cut_and_read_spliced() -> None:
    for name in ("newswire.rss", "harbor-times.atom"):
        data = (SHARED / "fixtures" / name).read_bytes()
        assert split(data) is not None, name
        assert check_document(data, {}) > 0, name


@pytest.mark.parametrize(
    "document",
    [
        "<!DOCTYPE rss [<!ENTITY a 'b'>]><rss><channel><item>&a;</item></channel></rss>",
        "<rss><channel><item>a</item><!-- note --><item>b</item></channel></rss>",
        "<rss><channel><item>a</item><image><item>b</item></image></channel></rss>",
        "<rss><channel><item>a<item>b</item></item></channel></rss>",
        "<rss><channel><item>a</item></channel><item>b</item></rss>",
        "<rss><channel><item>a</channel></rss>",
        "<feed><atom:entry>a</atom:entry></feed>",
        "<rss><channel><item>a < b</item></channel></rss>",
        "<rss><channel><title>none</title></channel></rss>",
    ],
)
def test_documents_the_scan_is_not_sure_of_are_read_whole(document: str) -> None:
    assert split(document.encode()) is None


def test_comments_and_cdata_that_look_like_items_do_not_cut() -> None:
    document = (
        b"<rss><channel><!-- <item>x</item> --><item><description><![CDATA[</item><item>]]>"
        b"</description><title a='>'>t</title></item>\n<item/></channel></rss>"
    )
    cut = split(document)
    assert cut is not None and len(cut.items) == 2
    assert cut.items[1] == b"<item/>" and cut.join([0, 1]) == document


# Generated feeds, a body after another


def _rss_item(number: int, guid: bool, title: str, day: int, text: str) -> str:
    when = format_datetime(NOW + timedelta(days=day))
    ident = f"<guid>urn:item:{number}</guid>" if guid else ""
    return (
        f"<item><title>{title}</title><link>https://news.example/{number}</link>{ident}"
        f"<pubDate>{when}</pubDate><description><![CDATA[<p>{text}</p>]]></description></item>"
    )


def _atom_item(number: int, guid: bool, title: str, day: int, text: str) -> str:
    when = (NOW + timedelta(days=day)).isoformat()
    ident = f"<id>urn:item:{number}</id>" if guid else ""
    return (
        f"<entry><title>{title}</title><link href='https://news.example/{number}'/>{ident}"
        f"<updated>{when}</updated><content type='html'>&lt;p&gt;{text}&lt;/p&gt;</content></entry>"
    )


items = st.lists(
    st.tuples(
        st.integers(0, 6),  # number: repeats make duplicate identities
        st.booleans(),  # with a guid
        st.sampled_from(["Rates", "Rates rise", "Café & co", ""]),
        st.integers(-400, 5),  # days from NOW: past 2 is ahead of what NOW accepts
        st.sampled_from(["one", "two <b>bold</b>", "<img src='/a.png'>"]),
    ),
    max_size=7,
)


def generated(kind: str, feed_day: int, author: str, chosen: list[Any]) -> bytes:
    """An RSS or Atom document of ``chosen`` items, with the feed's own date and author."""
    if kind == "rss":
        body = "\n".join(_rss_item(*item) for item in chosen)
        when = format_datetime(NOW + timedelta(days=feed_day))
        return (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
            f"<lastBuildDate>{when}</lastBuildDate><managingEditor>{author}</managingEditor>"
            f"{body}</channel></rss>"
        ).encode()
    body = "\n".join(_atom_item(*item) for item in chosen)
    return (
        f"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>T</title>"
        f"<updated>{(NOW + timedelta(days=feed_day)).isoformat()}</updated>"
        f"<author><name>{author}</name></author><id>urn:feed</id>{body}</feed>"
    ).encode()


@settings(max_examples=size(60, 2000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["rss", "atom"]),
    first=items,
    second=items,
    days=st.tuples(st.integers(-3, 0), st.integers(-3, 0)),
    authors=st.tuples(st.sampled_from(["Ann", "Bo"]), st.sampled_from(["Ann", "Bo"])),
)
def test_a_body_read_spliced_after_another_stores_what_the_whole_body_gives(
    kind: str, first: list[Any], second: list[Any], days: tuple[int, int], authors: Any
) -> None:
    before = read(generated(kind, days[0], authors[0], first), {})
    document = generated(kind, days[1], authors[1], first[-2:] + second + first[:3])
    whole, spliced = (
        read(document, {}),
        read(document, {}, before.item_keys or () if before else ()),
    )
    if whole is None or spliced is None:
        assert whole is None and spliced is None
        return
    for name in FEED_FIELDS:
        assert getattr(spliced, name) == getattr(whole, name), name
    if not spliced.spliced:
        assert spliced.entries == whole.entries
        return
    # The entries left out are the ones the store holds already, as the whole parse gives them.
    assert before is not None and before.item_keys is not None
    stored = {entry.identity: entry for entry in before.entries}
    read_again = iter(spliced.entries)
    upcoming = next(read_again, None)
    for entry in whole.entries:
        if entry == upcoming:
            upcoming = next(read_again, None)
        else:
            assert stored[entry.identity] == entry
    assert upcoming is None  # the spliced entries are the whole parse's, in its order


# Poll rounds: a feed read spliced and the same feed read whole store the same rows


def _round_items(round_: int) -> list[tuple[int, bool, str, int, str]]:
    """Round by round: added, removed, reordered, edited, repeated, guid-less, dated ahead."""
    base = [(n, n % 3 != 0, f"Story {n}", -10 - n, f"text {n}") for n in range(1, 6)]
    ahead = (9, True, "Ahead", 3, "dated three days past the first round")
    rounds = [
        [*base, ahead],
        [(6, True, "Story 6", -1, "new"), *base, ahead],
        [(6, True, "Story 6", -1, "new"), base[1], base[0], base[3], base[4], ahead],
        [(6, True, "Story 6", -1, "new"), base[1], base[0], (4, True, "Retitled", -14, "x")],
        [(7, False, "Story 7", 0, "a"), (7, False, "Story 7", 0, "a"), base[1], base[0]],
        [(8, False, "", 0, "untitled"), base[1], base[0], (5, True, "Story 5", -15, "edited")],
    ]
    return rounds[round_]


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_rounds_store_the_same_whether_items_are_read_spliced_or_whole(
    engine: Engine, feed_server: FeedServer, kind: str
) -> None:
    urls = [feed_server.url(f"/{name}/{kind}.xml") for name in ("spliced", "whole")]
    stored_feeds.sync(engine, [FeedSpec(url=url) for url in urls], NOW)
    settings_ = PollSettings(allow_private=True, workers=1)
    for round_ in range(6):
        title = "Changed frame" if round_ == 5 else "T"
        body = generated(kind, -round_, "Ann", _round_items(round_)).replace(
            b"<title>T</title>", f"<title>{title}</title>".encode(), 1
        )
        for url in urls:
            feed_server.route(url.removeprefix(feed_server.base_url), body=body)
        with engine.begin() as conn:
            conn.execute(update(feeds).where(feeds.c.url == urls[1]).values(item_keys=None))
        now = NOW + timedelta(days=round_)
        report = poll(engine, settings_, everything=True, clock=lambda now=now: now)
        assert report.failed == 0 and report.fetched == 2, report.summary()
        spliced_rows, whole_rows = _stored_rows(engine, urls)
        assert spliced_rows == whole_rows, f"round {round_}"
    with engine.connect() as conn:
        keys = conn.execute(select(feeds.c.item_keys).where(feeds.c.url == urls[0])).scalar()
    assert keys  # the last body's items are known for the next round


def test_a_claimed_feed_brings_its_stored_keys_and_the_next_body_is_read_spliced(
    engine: Engine, feed_server: FeedServer
) -> None:
    url = feed_server.url("/keys/rss.xml")
    stored_feeds.sync(engine, [FeedSpec(url=url)], NOW)
    first = generated("rss", 0, "Ann", _round_items(0))
    feed_server.route("/keys/rss.xml", body=first)
    report = poll(engine, PollSettings(allow_private=True, workers=1), everything=True)
    assert report.fetched == 1, report.summary()
    with engine.connect() as conn:
        stored = conn.execute(select(feeds.c.item_keys).where(feeds.c.url == url)).scalar()
    later = LATE - timedelta(days=1)
    (claimed,) = stored_feeds.claim(engine, "test", later, 60, 10, since=later, everything=True)
    known = known_items(claimed.item_keys_json)
    looked_up = stored_feeds.get(engine, url)
    assert looked_up is not None and looked_up.item_keys_json == claimed.item_keys_json
    assert known == [tuple(pair) for pair in stored]
    assert len(known) == len(_round_items(0))
    following = generated("rss", -1, "Ann", _round_items(1))
    headers = {"content-type": RSS_TYPE}  # as the server sent the first body
    parsed = parse_feed(following, headers, url, NOW + timedelta(days=1), known)
    assert parsed.spliced and len(parsed.entries) < len(known)


@pytest.mark.parametrize("text", [None, "", "null", "[]", "{", '{"a": 1}', "[1, 2]", '[["k"]]'])
def test_stored_keys_that_are_missing_or_malformed_mean_the_body_is_read_whole(
    text: str | None,
) -> None:
    assert known_items(text) == []


def _stored_rows(engine: Engine, urls: list[str]) -> list[Any]:
    """Each feed's row (what rounds write on it) and its entries, ids and keys left out."""
    kept = [c for c in entries.c if c.name not in ("id", "feed_id")]
    shown = [feeds.c[name] for name in ("title", "site_url", "warning", "duplicates", "replaced")]
    rows = []
    with engine.connect() as conn:
        for url in urls:
            feed = conn.execute(select(feeds.c.id, *shown).where(feeds.c.url == url)).one()
            stored = conn.execute(
                select(*kept).where(entries.c.feed_id == feed.id).order_by(entries.c.identity)
            ).all()
            rows.append((tuple(feed)[1:], [tuple(row) for row in stored]))
    return rows
