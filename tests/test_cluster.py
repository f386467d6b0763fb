"""Clustering: one story from several feeds becomes one item, and nothing else merges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from bs4 import BeautifulSoup
from cluster_sets import entry, generated
from hypothesis import given, settings
from hypothesis import strategies as st

from digests.cluster import (
    MAX_POSTING,
    THRESHOLD,
    Clustering,
    cluster,
    same_story,
    signature,
    similarity,
    words,
)
from digests.models import DigestEntry

FIXTURES = Path(__file__).resolve().parent / "data" / "shared" / "fixtures"
MOMENT = datetime(2022, 3, 30, 12, 0, tzinfo=UTC)


def from_fixture(name: str, index: int, id: int) -> DigestEntry:
    """Entry ``index`` of a shared fixture feed, its excerpt the plain text of its summary."""
    parsed = feedparser.parse((FIXTURES / name).read_bytes())
    item = parsed.entries[index]
    summary = BeautifulSoup(item.get("summary", ""), "html.parser").get_text(" ")
    stamp = item.get("published_parsed") or item.updated_parsed  # Atom may give only <updated>
    published = datetime(*stamp[:6], tzinfo=UTC)
    return DigestEntry(
        id=id,
        feed_url=f"https://fixtures.example/{name}",
        feed_title=parsed.feed.title,
        feed_tags=("world",),
        title=BeautifulSoup(item.title, "html.parser").get_text(),
        link=item.link,
        authors=tuple(a["name"] for a in item.get("authors", []) if a.get("name")),
        published=published,
        first_seen=published,
        summary_html="",
        content_html="",
        excerpt=" ".join(summary.split()),
        image=None,
        tags=(),
    )


def shape(result: Clustering) -> list[tuple[int, tuple[int, ...]]]:
    """Items as (lead id, also ids), the way the digest shows them."""
    return [(item.entry.id, tuple(e.id for e in item.also)) for item in result.items]


# The two-outlet story from the shared fixtures -------------------------------------------------


@pytest.fixture(scope="module")
def offer() -> tuple[DigestEntry, DigestEntry]:
    """The written-offer story as Northwind Wire and Harbor Times carried it."""
    return from_fixture("newswire.rss", 0, 1), from_fixture("harbor-times.atom", 0, 2)


def test_fixture_entries_are_what_the_feeds_say(offer: tuple[DigestEntry, DigestEntry]) -> None:
    northwind, harbor = offer
    assert northwind.title.startswith("Capital Welcomes Rival’s Written Offer")
    assert "appeared first on Northwind Wire" in northwind.excerpt  # the WordPress footer
    assert harbor.title.startswith("Written peace offer welcomed")
    assert harbor.published < northwind.published


def test_the_two_outlets_story_merges(offer: tuple[DigestEntry, DigestEntry]) -> None:
    northwind, harbor = offer
    a, b = signature(northwind), signature(harbor)
    assert {"written", "offer", "welcom", "breakthrough"} <= a.title & b.title
    title_only = len(a.title & b.title) / len(a.title | b.title)
    assert title_only < 0.5  # the titles alone overlap moderately ...
    assert similarity(a, b) >= THRESHOLD  # ... the shared lead words carry it
    result = cluster([northwind, harbor])
    assert shape(result) == [(2, (1,))]  # Harbor Times published first: it leads


def test_the_other_stories_in_the_fixtures_stay_apart() -> None:
    entries = [
        from_fixture("newswire.rss", 0, 1),
        from_fixture("newswire.rss", 1, 2),
        from_fixture("newswire.rss", 2, 3),
        from_fixture("harbor-times.atom", 0, 4),
        from_fixture("harbor-times.atom", 1, 5),
    ]
    assert sorted(shape(cluster(entries))) == [(2, ()), (3, ()), (4, (1,)), (5, ())]


# What must merge -----------------------------------------------------------------------------


def test_same_canonical_link_merges_whatever_the_titles() -> None:
    link = "https://agency.example/2022/03/30/quake"
    a = entry(1, "Feed A", "Quake hits coast", link=link)
    b = entry(2, "Feed B", "Strong tremor felt in harbour towns", link=link, minutes=-5)
    assert shape(cluster([a, b])) == [(2, (1,))]


def test_a_story_in_three_feeds_is_one_item_with_two_also_in() -> None:
    lead = "The central bank raised its main rate by half a percentage point on Thursday"
    entries = [
        entry(1, "Feed C", "Central bank raises interest rates by half a point", lead, minutes=9),
        entry(2, "Feed A", "Central bank raises rates by half point", lead + ".", minutes=3),
        entry(3, "Feed B", "Central bank raises rates by half a point", lead, minutes=5),
    ]
    result = cluster(entries)
    assert shape(result) == [(2, (3, 1))]  # earliest leads; also-in by feed title
    assert result.items[0].also[0].feed_title == "Feed B"


def test_lead_ties_go_to_the_richer_entry() -> None:
    title, lead = "Ferry operator posts record quarter profits", "Revenue rose by a third."
    plain = entry(1, "Feed A", title, lead)
    rich = entry(2, "Feed B", title, lead, image="https://b.example/i.jpg", authors=("Ines",))
    assert shape(cluster([plain, rich])) == [(2, (1,))]


# What must not merge -------------------------------------------------------------------------


def test_same_topic_different_stories_stay_apart() -> None:
    entries = [
        entry(
            1, "Harbor", "Port strike enters third week", "Dock workers rejected the latest offer."
        ),
        entry(
            2,
            "Quayside",
            "Port strike halts grain exports as talks stall",
            "Grain ships queued outside the harbour as exporters counted the cost of the "
            "stoppage to the harvest trade.",
        ),
        entry(
            3,
            "Northwind",
            "Port strike: talks collapse",
            "Union leaders walked out of talks with the port authority on Wednesday night.",
        ),
        entry(
            4,
            "Gazette",
            "Port strike talks resume",
            "Negotiators for dock workers and the port authority returned to the table on "
            "Wednesday.",
        ),
        entry(
            5,
            "Ledger",
            "Port strike: union and operators agree to resume talks on Friday",
            "Mediators said both sides would return to the table after the union dropped its "
            "demand for a backdated pay rise.",
        ),
    ]
    assert len(cluster(entries).items) == 5


def test_other_news_from_the_same_talks_stays_apart(
    offer: tuple[DigestEntry, DigestEntry],
) -> None:
    northwind, _ = offer
    later = entry(
        9,
        "Harbor",
        "Talks to continue on Friday as delegations leave capital",
        "The delegations left the capital on Wednesday evening and agreed to meet again on "
        "Friday by video link, officials said.",
    )
    assert not same_story(northwind, later)


def test_the_same_feed_never_merges_with_itself() -> None:
    title, lead = "Port strike enters third week", "Dock workers rejected the latest offer."
    a = entry(1, "Harbor", title, lead, link="https://harbor.example/a")
    b = entry(2, "Harbor", title, lead, link="https://harbor.example/a")
    assert not same_story(a, b)
    assert len(cluster([a, b]).items) == 2


def test_an_item_holds_at_most_one_entry_per_feed() -> None:
    title, lead = "Port strike enters third week", "Dock workers rejected the latest offer."
    entries = [
        entry(1, "Harbor", title, lead),
        entry(2, "Harbor", title + " as talks fail", lead),
        entry(3, "Quayside", title, lead),
    ]
    items = cluster(entries).items
    assert sorted(len(item.also) for item in items) == [0, 1]
    for item in items:
        feeds = [e.feed_url for e in (item.entry, *item.also)]
        assert len(feeds) == len(set(feeds))


@pytest.mark.parametrize("title", ["Live updates", "Morning briefing", "Breaking news", "Live"])
def test_short_generic_titles_do_not_merge(title: str) -> None:
    a = entry(1, "Harbor", title, "Follow the port strike as it happens.")
    b = entry(2, "Quayside", title, "The election count, constituency by constituency.")
    assert words(title) == []
    assert len(cluster([a, b]).items) == 2


def test_words_are_normalised() -> None:
    assert words("Rival’s “No Breakthrough” — Welcomes, welcomed; WELCOME café") == [
        "rival",
        "breakthrough",
        "welcom",
        "welcom",
        "welcom",
        "cafe",
    ]


# Determinism and scale -----------------------------------------------------------------------

STORIES = [
    entry(1, "Harbor", "Port strike enters third week", "Dock workers rejected the offer."),
    entry(2, "Quayside", "Port strike enters its third week", "Dock workers rejected an offer."),
    entry(3, "Northwind", "Third week of port strike", "Dock workers rejected the new offer."),
    entry(4, "Harbor", "Central bank raises rates", "Rates rose by half a point.", minutes=5),
    entry(5, "Gazette", "Central bank raises rates again", "Rates rose by half a point."),
    entry(6, "Quayside", "Rates raised by central bank", "The rise was half a point."),
    entry(7, "Gazette", "Live updates", "Everything from the count."),
    entry(8, "Northwind", "Live updates", "Everything from the count."),
    entry(9, "Ledger", "Ferry operator posts record quarter", "Revenue rose by a third."),
    entry(10, "Gazette", "Port strike enters third week", "Dock workers rejected the offer."),
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(STORIES))
def test_clustering_does_not_depend_on_input_order(entries: list[DigestEntry]) -> None:
    assert cluster(entries) == cluster(STORIES)


def test_candidate_pairs_grow_near_linearly() -> None:
    counts = {n: cluster(generated(n)).candidates for n in (1_000, 10_000)}
    assert 0 < counts[1_000] < 100 * 1_000  # all pairs would be 499,500
    assert counts[10_000] / counts[1_000] < 13  # ten times the entries
    assert counts[10_000] < 100 * 10_000  # all pairs would be 49,995,000


def test_stories_carried_by_several_outlets_merge_at_scale() -> None:
    entries = generated(10_000)
    result = cluster(entries)
    stories = {e.excerpt.split("x")[0] for e in entries}
    assert len(result.items) == len(stories)


def test_a_common_word_bounds_the_work() -> None:
    # Every title shares "port strike talks"; a word in more than MAX_POSTING titles is not
    # indexed, so only each story's own words find candidates.
    entries = [
        entry(i, f"Outlet {i % 7}", f"Port strike talks w{i // 2}a w{i // 2}b", "")
        for i in range(4 * MAX_POSTING)
    ]
    result = cluster(entries)
    assert result.candidates <= len(entries)
    assert len(result.items) == len(entries) // 2


def test_a_word_in_every_title_is_not_indexed() -> None:
    entries = [entry(i, f"Outlet {i}", "Port strike talks", "") for i in range(MAX_POSTING + 50)]
    result = cluster(entries)
    assert result.candidates == 0
    assert len(result.items) == len(entries)
