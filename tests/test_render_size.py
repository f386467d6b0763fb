"""The size budget: an HTML digest stays under Gmail's clipping, whatever the limits let in.

Stories past the budget become headlines with links, then a count; the text and Markdown parts
show the same stories as the HTML.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from test_render import golden_digest, make_entry

from digests.digest import Digest, shorten
from digests.models import DigestEntry
from digests.render import (
    BUDGET,
    fit,
    html_of,
    render_html,
    render_markdown,
    render_text,
    sent_size,
)
from digests.settings import DigestSettings

DEFAULTS = DigestSettings()  # excerpts of up to 300 characters
FEEDS = [(f"https://feed{n}.example/rss", f"Feed number {n}", ("world",)) for n in range(12)]


def words(rng: random.Random, count: int) -> str:
    """``count`` made-up words, so that no two stories look alike to clustering."""
    return " ".join(
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        for _ in range(count)
    )


def stories(count: int, seed: int = 7) -> list[DigestEntry]:
    """``count`` stories from 12 feeds: 80-character links, long excerpts, a third with images."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        feed = FEEDS[n % len(FEEDS)]
        link = f"{feed[0].removesuffix('rss')}2022/03/30/{words(rng, 6).replace(' ', '-')}-{n}"
        made.append(
            make_entry(
                n + 1,
                feed,
                f"{words(rng, 8).capitalize()} ({n})",
                f"2022-03-30 {6 + n % 17:02d}:{n % 60:02d}",
                link=link,
                authors=("Ann Writer",) if n % 2 else (),
                image=f"{link}/lead.jpg" if n % 3 == 0 else None,
                excerpt=words(rng, 60),
            )
        )
    return made


def digest_of(count: int) -> Digest:
    """A digest of ``count`` stories, every one let through the limits."""
    return golden_digest(stories(count), tags=("world",), max_items=count, max_per_feed=count)


def story_links(digest: Digest) -> set[str]:
    """The links of every story in ``digest``."""
    return {item.entry.link or "" for item in digest.stories}


def test_a_120_story_digest_keeps_every_story_within_the_budget() -> None:
    digest = digest_of(120)
    assert digest.story_count == 120
    html = render_html(digest, DEFAULTS)
    assert sent_size(html) <= BUDGET
    shown = fit(digest, DEFAULTS)
    assert not shown.unlisted and len(shown.items) + len(shown.brief) == 120
    # the room left goes to stories in full: one more would not fit
    assert len(shown.items) >= 90
    one_more = shorten(digest, len(shown.items) + 1, len(shown.brief) - 1)
    assert sent_size(html_of(one_more, DEFAULTS)) > BUDGET
    soup = BeautifulSoup(html, "html.parser")
    assert len(soup.select("div.item")) == len(shown.items)
    assert len(soup.select("p.brief")) == len(shown.brief)
    assert {a["href"] for a in soup.select(".title a, .brief a")} == story_links(digest)
    assert "120 stories from 12 feeds" in html


@pytest.mark.parametrize("count", [300, 2000])
def test_past_the_budget_stories_become_headlines_then_a_count(count: int) -> None:
    digest = digest_of(count)
    html = render_html(digest, DEFAULTS)
    assert sent_size(html) <= BUDGET
    shown = fit(digest, DEFAULTS)
    assert shown.items and shown.brief and shown.unlisted
    assert len(shown.items) + len(shown.brief) + len(shown.unlisted) == count
    note = f"{len(shown.unlisted)} more stories not shown"
    assert note in html and f"{count} stories from 12 feeds" in html
    assert note in render_text(digest, DEFAULTS) and note in render_markdown(digest, DEFAULTS)
    # the budget goes first to stories in full, then to headlines
    assert sent_size(html) > BUDGET - 1_000


def test_text_and_markdown_show_the_same_stories_as_the_html() -> None:
    digest = digest_of(400)
    shown = fit(digest, DEFAULTS)
    listed = {item.entry.link for item in (*shown.items, *shown.brief)}
    left_out = {item.entry.link for item in shown.unlisted}
    text = render_text(digest, DEFAULTS)
    markdown = render_markdown(digest, DEFAULTS)
    html = render_html(digest, DEFAULTS)
    for rendered in (html, text, markdown):
        links = set(re.findall(r"https://feed\d+\.example/2022/[^\s\")<]+", rendered))
        assert {link.removesuffix("/lead.jpg") for link in links} == listed
        assert not links & left_out
    full_titles = [item.entry.title for item in shown.items]
    assert all(f"* {title}" in text or title in text for title in full_titles)
    assert text.count("\n- ") == len(shown.brief)
    assert markdown.count("\n### ") == len(shown.items)
    assert markdown.count("\n- ") == len(shown.brief)


def test_long_excerpts_are_held_to_the_budget_too() -> None:
    long_excerpts = replace(DEFAULTS, excerpt_length=20_000)
    entries = [replace(e, excerpt=e.excerpt * 40) for e in stories(60)]
    digest = golden_digest(entries, tags=("world",), max_items=60, max_per_feed=60)
    assert sent_size(render_html(digest, long_excerpts)) <= BUDGET
    assert not fit(digest, long_excerpts).unlisted


def test_a_digest_within_the_budget_is_shown_whole() -> None:
    digest = golden_digest()
    assert fit(digest, DEFAULTS) == digest
    one = golden_digest([make_entry(1, FEEDS[0], "Only story", "2022-03-30 12:00")])
    assert fit(one, DEFAULTS) == one
