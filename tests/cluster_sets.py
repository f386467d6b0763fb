"""Entries for measuring story grouping: the labelled sets in data/cluster, generated news, scores.

Used by tests/test_cluster*.py and bench/cluster.py.
"""

from __future__ import annotations

import itertools
import random
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Protocol

from digests.models import DigestEntry

SETS = Path(__file__).resolve().parent / "data" / "cluster"
MOMENT = datetime(2022, 3, 30, 12, 0, tzinfo=UTC)


class Grouped(Protocol):
    """An item as any version of the rule makes it: the entry shown and the others."""

    @property
    def entry(self) -> DigestEntry: ...

    @property
    def also(self) -> tuple[DigestEntry, ...]: ...


def entry(
    id: int,
    feed: str,
    title: str,
    excerpt: str = "",
    *,
    link: str | None = None,
    minutes: int = 0,
    image: str | None = None,
    authors: tuple[str, ...] = (),
    published: datetime | None = None,
    full_text: str = "",
) -> DigestEntry:
    """An entry of feed ``feed`` (its URL is made from the name)."""
    when = published or MOMENT + timedelta(minutes=minutes)
    return DigestEntry(
        id=id,
        feed_url=f"https://{feed.lower().replace(' ', '-')}.example/feed",
        feed_title=feed,
        feed_tags=(),
        title=title,
        link=link,
        authors=authors,
        published=when,
        first_seen=when,
        summary_html="",
        content_html="",
        excerpt=excerpt,
        image=image,
        tags=(),
        full_text=full_text,
    )


def labelled(name: str) -> tuple[list[DigestEntry], dict[int, str]]:
    """The entries of ``data/cluster/<name>.toml`` and each entry id's story label."""
    rows = tomllib.loads((SETS / f"{name}.toml").read_text(encoding="utf-8"))["entry"]
    entries = [
        entry(
            n,
            row["feed"],
            row["title"],
            row["excerpt"],
            published=row["published"],
            full_text=row.get("full_text", ""),
        )
        for n, row in enumerate(rows, 1)
    ]
    return entries, {n: row["story"] for n, row in enumerate(rows, 1)}


@dataclass(frozen=True)
class Scores:
    """Pairwise quality of a grouping against the labels."""

    grouped: int  # pairs put in one item
    same: int  # pairs with one story label
    right: int  # pairs both grouped and one story

    @property
    def wrong(self) -> int:
        """Pairs grouped that are two stories."""
        return self.grouped - self.right

    @property
    def precision(self) -> float:
        """The share of grouped pairs that are one story (1 when nothing was grouped)."""
        return self.right / self.grouped if self.grouped else 1.0

    @property
    def recall(self) -> float:
        """The share of same-story pairs that were grouped."""
        return self.right / self.same if self.same else 1.0


def scores(items: Iterable[Grouped], stories: Mapping[int, str]) -> Scores:
    """How well ``items`` group the labelled entries, pair by pair."""
    item_of = {e.id: n for n, item in enumerate(items) for e in (item.entry, *item.also)}
    grouped = same = right = 0
    for a, b in itertools.combinations(sorted(stories), 2):
        together, one_story = item_of[a] == item_of[b], stories[a] == stories[b]
        grouped += together
        same += one_story
        right += together and one_story
    return Scores(grouped, same, right)


@cache
def generated(count: int, seed: int = 7) -> tuple[DigestEntry, ...]:
    """News-like entries: each story has its own words, shares topic words, runs in 1-3 feeds.

    The number of topics grows with the number of entries (a longer digest covers more of the
    world), so a topic word sits in about 60 entries whatever the size.
    """
    rng = random.Random(seed)
    topics = [f"topic{n}z" for n in range(max(count // 30, 10))]
    entries: list[DigestEntry] = []
    story = 0
    while len(entries) < count:
        own = [f"w{story}x{k}" for k in range(6)]
        about = rng.sample(topics, 3)
        for outlet in rng.sample(range(50), rng.choice([1, 1, 1, 2, 3])):
            title = " ".join(rng.sample(own, 4) + rng.sample(about, 2))
            lead = " ".join([own[0], *rng.sample(own[1:], 4), *about])
            entries.append(entry(len(entries), f"Outlet {outlet}", title, lead, minutes=story))
        story += 1
    return tuple(entries[:count])
