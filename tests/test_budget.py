"""The reading budget: best first, never exceeded but by the first story; and how it shows."""

from __future__ import annotations

import random
from dataclasses import replace

from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rank import story
from test_render import SETTINGS, golden_digest
from test_render_size import words

from digests.budget import HEADLINES, budget_words, fill, reading_minutes
from digests.cluster import Item
from digests.digest import shorten
from digests.reading import words_to_read
from digests.render import fit, render_html, render_markdown, render_text


def cost(items: tuple[Item, ...]) -> int:
    return sum(words_to_read(item.entry) for item in items)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3000), max_size=40), st.floats(60, 86400))
def test_the_budget_is_never_exceeded_but_by_the_first_story(
    lengths: list[int], seconds: float
) -> None:
    ranked = [Item(story(n, words=words)) for n, words in enumerate(lengths)]
    fitted = fill(ranked, seconds)
    every = (*fitted.full, *fitted.brief, *fitted.counted)
    assert sorted(i.entry.id for i in every) == list(range(len(ranked)))  # each story once
    assert cost(fitted.full) <= budget_words(seconds) or fitted.full == tuple(ranked[:1])
    assert fitted.full[:1] == tuple(ranked[:1])  # the best story is always there in full
    assert len(fitted.brief) <= HEADLINES and (not fitted.counted or len(fitted.brief) == HEADLINES)
    for part in (fitted.full, fitted.brief, fitted.counted):  # each part best first
        assert [i.entry.id for i in part] == sorted(i.entry.id for i in part)
    room = budget_words(seconds) - cost(fitted.full)
    # a story passed over did not fit in what was left when its turn came (nor does it now)
    assert all(words_to_read(i.entry) > room for i in (*fitted.brief, *fitted.counted))


def test_without_a_budget_every_story_is_in_full() -> None:
    ranked = [Item(story(n, words=5000)) for n in range(5)]
    assert fill(ranked, 0) == fill(ranked, 0.0) and fill(ranked, 0).full == tuple(ranked)


def test_a_long_story_is_passed_over_for_shorter_ones() -> None:
    ranked = [Item(story(1, words=200)), Item(story(2, words=2000)), Item(story(3, words=100))]
    fitted = fill(ranked, 120)  # 460 words
    assert [i.entry.id for i in fitted.full] == [1, 3]
    assert [i.entry.id for i in fitted.brief] == [2]
    assert reading_minutes(fitted.full) == 2  # 300 words at 230 a minute, rounded up


def test_a_budgeted_digest_shows_headlines_and_counts_the_rest_in_every_format() -> None:
    rng = random.Random(5)
    many = [
        replace(story(100 + n, feed=n % 8, hour=6 + n % 17), title=words(rng, 6),
                excerpt=words(rng, 120))
        for n in range(30)
    ]  # fmt: skip
    digest = golden_digest(
        many, tags=(), feeds=(), max_items=50, max_per_feed=50, budget=300.0
    )  # 1150 words: 9 stories of 120
    assert (len(digest.items), len(digest.brief), len(digest.counted)) == (9, 10, 11)
    assert digest.reading_minutes == 5 and digest.story_count == 30
    html, text, markdown = (
        r(digest, SETTINGS) for r in (render_html, render_text, render_markdown)
    )
    note = "11 more stories left out to keep to your reading time"
    assert note in html and note in text and note in markdown
    soup = BeautifulSoup(html, "html.parser")
    head = soup.select_one(".index-head")
    assert head is not None and head.get_text() == "In this edition · 5 minutes of reading"
    index = [a["href"] for a in soup.select(".contents a")]
    assert index == [f"#s{item.entry.id}" for item in digest.items[:8]]
    assert all(soup.find(id=anchor[1:]) for anchor in index)
    assert "IN THIS EDITION (5 minutes of reading)" in text and "MORE HEADLINES" in text
    assert "## In this edition" in markdown and "## More headlines" in markdown
    assert fit(digest, SETTINGS) == digest  # small enough: the size budget changes nothing


def test_the_size_budget_never_turns_a_headline_back_into_a_story() -> None:
    digest = golden_digest(budget=20.0)
    full, brief = len(digest.items), len(digest.brief)
    assert full and brief
    everything = shorten(digest, full + brief, 0)
    assert everything == digest
    fewer = shorten(digest, 1, 2)
    assert [i.entry.id for i in fewer.items] == [digest.ranking[0]]
    assert [i.entry.id for i in fewer.brief] == list(digest.ranking[1:3])
    assert len(fewer.unlisted) == full + brief - 3 and fewer.counted == digest.counted
