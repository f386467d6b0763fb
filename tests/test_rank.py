"""Ranking: the documented formula, its reasons, and the properties a reader relies on."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_render import GOLDEN_WINDOW, HARBOR, NORTHWIND, QUAYSIDE, golden_subscriber, make_entry

from digests.cluster import Item
from digests.digest import build_digest
from digests.models import DigestEntry
from digests.rank import (
    BOOST_POINTS,
    OUTLET_POINTS,
    READING_POINTS,
    READING_WORDS,
    RECENCY_POINTS,
    Ranked,
    Reason,
    rank,
)
from digests.settings import DigestSettings

FEEDS = [(f"https://feed{n}.example/rss", f"Feed {n}", ("world",)) for n in range(8)]
SUBSCRIBER = golden_subscriber(tags=(), feeds=())
WINDOW = GOLDEN_WINDOW  # 2022-03-30 05:00 to 2022-03-31 05:00 UTC


def story(id: int, feed: int = 0, hour: int = 12, words: int = 10, title: str = "") -> DigestEntry:
    """An entry of ``feed`` published at ``hour`` on 30 March with ``words`` words to read."""
    return make_entry(
        id,
        FEEDS[feed],
        title or f"Story number {id}",
        f"2022-03-30 {hour:02d}:00",
        link=f"https://feed{feed}.example/{id}",
        excerpt=" ".join(["word"] * words),
    )


def ids(ranked: tuple[Ranked, ...]) -> list[int]:
    return [r.item.entry.id for r in ranked]


def test_the_formula_and_its_reasons_add_up() -> None:
    lead = story(1, feed=0, hour=17, words=150, title="Ceasefire agreed at the border")
    also = (story(2, feed=1), story(3, feed=2), story(4, feed=3))
    subscriber = replace(SUBSCRIBER, boost=("ceasefire", "/rate (hike|cut)/", "border"))
    (ranked,) = rank([Item(lead, also)], subscriber, WINDOW, {FEEDS[0][0]: 2.0})
    points = {(r.signal, r.value): r.points for r in ranked.reasons}
    subtotal = 1 + OUTLET_POINTS * 2 + RECENCY_POINTS * 0.5 + 2 * BOOST_POINTS + 0.25
    assert points == {
        ("base", "every story"): 1.0,
        ("outlets", "4 outlets (Feed 0, Feed 1, Feed 2, Feed 3)"): OUTLET_POINTS * 2,
        ("recency", "published 12 h before the window closed"): RECENCY_POINTS * 0.5,
        ("boost", "ceasefire"): BOOST_POINTS,
        ("boost", "border"): BOOST_POINTS,
        ("reading", "150 words"): READING_POINTS * 150 / READING_WORDS,
        ("weight", "×2 (Feed 0)"): pytest.approx(subtotal),
    }
    assert ranked.score == pytest.approx(2 * subtotal)
    assert math.isclose(sum(r.points for r in ranked.reasons), ranked.score)


def test_recency_counts_within_the_window_only() -> None:
    late = make_entry(1, FEEDS[0], "Late", "2022-04-02 09:00")
    early = make_entry(2, FEEDS[0], "Back-dated", "2021-12-30 09:00")
    ranked = rank([Item(early), Item(late)], SUBSCRIBER, WINDOW, {})
    recency = {r.item.entry.id: r.reasons[1] for r in ranked}
    assert recency[1] == Reason("recency", "published at the window's close or later", 2.0)
    assert recency[2].points == 0.0 and recency[2].value == (
        "published 90 d 20 h before the window closed"
    )
    assert ids(ranked) == [1, 2]


def test_a_heavier_feed_leads_and_ties_fall_to_content() -> None:
    a, b = story(10, feed=0), story(11, feed=1)
    assert ids(rank([Item(a), Item(b)], SUBSCRIBER, WINDOW, {})) == [10, 11]  # by link
    heavier = rank([Item(a), Item(b)], SUBSCRIBER, WINDOW, {FEEDS[1][0]: 1.5})
    assert ids(heavier) == [11, 10]
    lighter = rank([Item(a), Item(b)], SUBSCRIBER, WINDOW, {FEEDS[0][0]: 0.5})
    assert ids(lighter) == [11, 10]


def test_by_tag_keeps_the_grouping_and_ranks_inside_each_feed() -> None:
    entries = [
        make_entry(1, NORTHWIND, "Quiet story", "2022-03-30 20:00"),
        make_entry(2, NORTHWIND, "Harbour deal signed", "2022-03-30 08:00"),
        make_entry(3, HARBOR, "Harbour deal signed, unions say", "2022-03-30 09:00"),
        make_entry(4, QUAYSIDE, "Rates on hold", "2022-03-30 10:00"),
    ]
    subscriber = golden_subscriber(order="by_tag")
    digest = build_digest(entries, subscriber, WINDOW, DigestSettings())
    assert [g.name for g in digest.groups] == ["world", "business"]
    (northwind,) = digest.groups[0].sections  # Harbor Times carries the deal: "also in"
    # the deal, carried by two outlets, outranks the newer quiet story inside its feed
    assert [i.entry.id for i in northwind.items] == [2, 1]
    assert digest.ranking == (2, 1, 4) and digest.index == ()  # 3 stories: too few for an index
    more = build_digest([*entries, make_entry(5, QUAYSIDE, "Ferry", "2022-03-30 06:00")],
                        subscriber, WINDOW, DigestSettings())  # fmt: skip
    assert [i.entry.id for i in more.index] == [2, 1, 4, 5]
    ranked = build_digest(entries, golden_subscriber(), WINDOW, DigestSettings())
    assert [g.name for g in ranked.groups] == [""]
    assert [i.entry.id for i in ranked.items] == [2, 1, 4]


# Properties ----------------------------------------------------------------------------------


@st.composite
def items(draw: st.DrawFn) -> list[Item]:
    """Up to 12 items from 8 feeds: hours, lengths, titles and outlets drawn."""
    count = draw(st.integers(0, 12))
    found = []
    for n in range(count):
        feeds = draw(st.lists(st.integers(0, 7), min_size=1, max_size=4, unique=True))
        hour = draw(st.integers(0, 23))
        words = draw(st.integers(0, 900))
        title = draw(st.sampled_from(["Rate cut", "Ceasefire talks", "Port strike", "Quiet"]))
        members = [
            story(100 * n + k, feed=f, hour=hour, words=words, title=title)
            for k, f in enumerate(feeds)
        ]
        found.append(Item(members[0], tuple(members[1:])))
    return found


WEIGHTS = st.dictionaries(st.sampled_from([f[0] for f in FEEDS]), st.floats(0.1, 10.0))
BOOSTS = st.lists(st.sampled_from(["ceasefire", "/rate (hike|cut)/", "strike", "port"]))


@settings(max_examples=60, deadline=None)
@given(items(), WEIGHTS, BOOSTS, st.randoms(use_true_random=False))
def test_ranking_is_deterministic_and_ignores_input_order(
    found: list[Item], weights: dict[str, float], boost: list[str], rng: random.Random
) -> None:
    subscriber = replace(SUBSCRIBER, boost=tuple(boost))
    first = rank(found, subscriber, WINDOW, weights)
    shuffled = list(found)
    rng.shuffle(shuffled)
    assert rank(shuffled, subscriber, WINDOW, weights) == first
    assert [r.score for r in first] == sorted((r.score for r in first), reverse=True)


@settings(max_examples=60, deadline=None)
@given(items(), WEIGHTS, st.integers(0, 11), st.integers(1, 3))
def test_more_outlets_never_ranks_lower(
    found: list[Item], weights: dict[str, float], pick: int, extra: int
) -> None:
    if not found:
        return
    target = found[pick % len(found)]
    entry = target.entry
    used = {e.feed_url for e in (entry, *target.also)}
    spare = [n for n, f in enumerate(FEEDS) if f[0] not in used][:extra]
    # the same story from more outlets, published with the lead, at the lead's feed's weight
    more = tuple(
        replace(story(9000 + n, feed=n), published=entry.published, first_seen=entry.first_seen)
        for n in spare
    )
    weights = {**weights, **{FEEDS[n][0]: weights.get(entry.feed_url, 1.0) for n in spare}}
    wider = Item(entry, (*target.also, *more))
    before = rank(found, SUBSCRIBER, WINDOW, weights)
    after = rank([wider if i is target else i for i in found], SUBSCRIBER, WINDOW, weights)
    place = ids(before).index(entry.id)
    assert ids(after).index(entry.id) <= place
    assert after[ids(after).index(entry.id)].score >= before[place].score


@settings(max_examples=60, deadline=None)
@given(items(), WEIGHTS, BOOSTS, st.sampled_from(["ceasefire", "/rate (hike|cut)/", "port"]))
def test_a_boost_never_lowers_a_story(
    found: list[Item], weights: dict[str, float], boost: list[str], rule: str
) -> None:
    """A new boost rule lowers no score; at equal weights no story it matches loses its place."""
    before = replace(SUBSCRIBER, boost=tuple(boost))
    after = replace(SUBSCRIBER, boost=(*boost, rule))
    plain, boosted = rank(found, before, WINDOW, weights), rank(found, after, WINDOW, weights)
    score = {r.item.entry.id: r.score for r in plain}
    assert all(r.score >= score[r.item.entry.id] for r in boosted)
    plain, boosted = rank(found, before, WINDOW, {}), rank(found, after, WINDOW, {})
    for place, ranked in enumerate(boosted):
        if Reason("boost", rule, BOOST_POINTS) in ranked.reasons:
            assert place <= ids(plain).index(ranked.item.entry.id)


def test_a_story_a_week_old_in_a_week_long_window_still_counts_its_age() -> None:
    window = replace(WINDOW, start=WINDOW.end - timedelta(days=7))
    old, new = story(1, hour=5), story(2, hour=23)
    ranked = rank([Item(old), Item(new)], SUBSCRIBER, window, {})
    assert ids(ranked) == [2, 1] and 0 < ranked[1].score < ranked[0].score
