"""Selecting a subscriber's entries: feeds, window, keyword rules and limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from digests.models import DigestEntry, Window
from digests.select import select
from digests.settings import Subscriber
from ingest.errors import ConfigError

START = datetime(2022, 3, 30, 5, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=1))
WORLD = "https://world.example/feed"
CITY = "https://city.example/feed"
SPORT = "https://sport.example/feed"
FEEDS = {
    WORLD: ("World Wire", ("World", "europe")),
    CITY: ("City Desk", ("local",)),
    SPORT: ("Sport Daily", ()),
}


def entry(
    id: int,
    feed: str = WORLD,
    title: str = "A story",
    *,
    minutes: float = 60,
    excerpt: str = "",
    tags: tuple[str, ...] = (),
) -> DigestEntry:
    """An entry first seen ``minutes`` after the window opens, published just before."""
    seen = START + timedelta(minutes=minutes)
    feed_title, feed_tags = FEEDS[feed]
    return DigestEntry(
        id=id,
        feed_url=feed,
        feed_title=feed_title,
        feed_tags=feed_tags,
        title=title,
        link=f"{feed}/{id}",
        authors=(),
        published=seen - timedelta(minutes=1),
        first_seen=seen,
        summary_html="",
        content_html="",
        excerpt=excerpt,
        image=None,
        tags=tags,
    )


def subscriber(**changes: object) -> Subscriber:
    """A subscriber to everything, with generous limits unless changed."""
    base = Subscriber(email="ann@example.org", schedule="daily 07:00", cron="0 7 * * *")
    return replace(base, **changes)


def ids(entries: list[DigestEntry], **changes: object) -> list[int]:
    """The ids selected for a subscriber with ``changes``, in the order selection gives."""
    return [e.id for e in select(entries, subscriber(**changes), WINDOW).entries]


# Feeds ---------------------------------------------------------------------------------------

ALL = [entry(1, WORLD), entry(2, CITY, tags=("world",)), entry(3, SPORT)]


def test_no_tags_and_no_feeds_selects_every_feed() -> None:
    assert sorted(ids(ALL)) == [1, 2, 3]


def test_tags_select_feeds_by_their_config_tags_not_entry_categories() -> None:
    assert ids(ALL, tags=("world",)) == [1]  # the City entry's own "world" category is ignored


def test_tags_compare_without_regard_to_case() -> None:
    assert ids(ALL, tags=("EUROPE",)) == [1]


def test_feeds_select_by_config_url() -> None:
    assert ids(ALL, feeds=(SPORT,)) == [3]


def test_tags_and_feeds_together_are_a_union() -> None:
    assert sorted(ids(ALL, tags=("local",), feeds=(SPORT,))) == [2, 3]


# Window --------------------------------------------------------------------------------------


def test_the_store_decides_the_window_so_late_commits_are_kept() -> None:
    entries = [  # first seen before the window opened, but sealed into it by a late commit
        entry(1, minutes=0),
        entry(2, minutes=24 * 60 - 0.001),
        entry(3, minutes=24 * 60),
        entry(4, minutes=-1.5),
    ]
    assert sorted(ids(entries)) == [1, 2, 3, 4]


def test_a_long_gap_is_covered_whole_and_trimmed_to_the_limits() -> None:
    gap = Window(START - timedelta(days=4), START + timedelta(days=1))
    entries = [entry(i, WORLD, f"Story {i}", minutes=-60 * 20 * i) for i in range(5)]
    chosen = select(entries, subscriber(max_per_feed=2), gap)
    assert [e.id for e in chosen.entries] == [0, 1]  # the two newest of the five days
    assert chosen.left_out == 3
    assert chosen.trimmed[0].feed_title == "World Wire"


# Keyword rules -------------------------------------------------------------------------------

WORDS = [
    entry(1, title="Port strike enters third week"),
    entry(2, title="Portrait prize announced", excerpt="A painter from the port city won."),
    entry(3, title="Support for strikers grows"),
    entry(4, title="Rival’s offer welcomed"),
    entry(5, title="Talks resume", excerpt="Negotiators met at the PORT authority."),
    entry(6, title="Sports round-up", excerpt="Live scores from the weekend."),
]


def test_include_matches_whole_words_case_insensitively_in_title_and_excerpt() -> None:
    assert sorted(ids(WORDS, include=("port",))) == [1, 2, 5]


def test_include_empty_means_everything() -> None:
    assert len(ids(WORDS, include=())) == len(WORDS)


def test_phrases_match_across_spaces() -> None:
    assert ids(WORDS, include=("port  strike",)) == [1]


def test_curly_and_straight_apostrophes_match_each_other() -> None:
    assert ids(WORDS, include=("rival's offer",)) == [4]
    assert ids([entry(7, title="Rival's plan")], include=("rival’s",)) == [7]


def test_regex_rules_are_searched_case_insensitively() -> None:
    assert sorted(ids(WORDS, include=("/strik(e|ers)/",))) == [1, 3]
    assert ids(WORDS, include=("/^talks/",)) == [5]


def test_exclude_wins_over_include() -> None:
    assert sorted(ids(WORDS, include=("port",), exclude=("painter",))) == [1, 5]
    assert sorted(ids(WORDS, exclude=("/sports?/",))) == [1, 2, 3, 4, 5]


def test_a_bad_regular_expression_is_a_config_error_naming_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"ann@example.org: exclude\[0\] '/\(/' is not a valid"):
        select(WORDS, subscriber(exclude=("/(/",)), WINDOW)


def test_slashes_inside_a_word_rule_are_literal() -> None:
    entries = [entry(1, title="24/7 coverage"), entry(2, title="24 7 coverage")]
    assert ids(entries, include=("24/7",)) == [1]


# Limits --------------------------------------------------------------------------------------


def test_max_per_feed_keeps_the_newest_and_counts_the_rest() -> None:
    entries = [entry(i, WORLD, minutes=i) for i in range(5)] + [entry(9, CITY)]
    chosen = select(entries, subscriber(max_per_feed=2), WINDOW)
    assert [e.id for e in chosen.entries] == [9, 4, 3]
    assert [(t.feed_title, t.count) for t in chosen.trimmed] == [("World Wire", 3)]


def test_max_items_takes_feeds_round_robin_so_quiet_feeds_are_kept() -> None:
    busy = [entry(i, WORLD, minutes=100 + i) for i in range(10)]
    quiet = [entry(20, CITY, minutes=1), entry(30, SPORT, minutes=2)]
    chosen = select(busy + quiet, subscriber(max_items=4), WINDOW)
    assert sorted(e.id for e in chosen.entries) == [8, 9, 20, 30]
    assert [(t.feed_url, t.count) for t in chosen.trimmed] == [(WORLD, 8)]


def test_selection_is_newest_first_whatever_the_input_order() -> None:
    entries = [entry(i, [WORLD, CITY, SPORT][i % 3], minutes=i * 7 % 50) for i in range(12)]
    forward = select(entries, subscriber(max_items=7), WINDOW)
    backward = select(entries[::-1], subscriber(max_items=7), WINDOW)
    assert forward == backward
    published = [e.published for e in forward.entries]
    assert published == sorted(published, reverse=True)
