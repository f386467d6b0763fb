"""Pure: an edition fitted to the subscriber's reading budget, best story first.

Stories come in rank order (``digests/rank.py``). Each costs the words a reader meets
(``digests/reading.py``: the article's full text when there is one, else the excerpt), read at
``WORDS_PER_MINUTE``. The budget is filled best first:

* the best story is always shown in full, whatever it costs;
* each next story is shown in full when it still fits in what is left of the budget; one that
  does not fit is passed over (a shorter story after it may still fit), so the stories in full
  never take longer than the budget, unless the best story alone does;
* the best ``HEADLINES`` of the stories passed over are listed as headlines (a glance, not
  counted against the budget), and the rest are counted ("12 more stories").

Without a budget (0) every story is shown in full, ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digests.cluster import Item
from digests.reading import WORDS_PER_MINUTE, words_to_read

HEADLINES = 10


@dataclass(frozen=True)
class Fitted:
    """The stories of an edition by how they are shown, each part best first."""

    full: tuple[Item, ...]  # with their excerpts, within the budget
    brief: tuple[Item, ...]  # as headlines
    counted: tuple[Item, ...]  # past the budget, counted only


def budget_words(seconds: float) -> int:
    """The words a reader gets through in ``seconds`` at ``WORDS_PER_MINUTE``."""
    return int(seconds * WORDS_PER_MINUTE / 60)


def fill(ranked: Sequence[Item], seconds: float) -> Fitted:
    """``ranked`` (best first) fitted to a reading budget of ``seconds`` (0: no budget)."""
    if seconds <= 0:
        return Fitted(tuple(ranked), (), ())
    room = budget_words(seconds)
    full: list[Item] = []
    passed: list[Item] = []
    for item in ranked:
        words = words_to_read(item.entry)
        if not full or words <= room:
            full.append(item)
            room -= words
        else:
            passed.append(item)
    return Fitted(tuple(full), tuple(passed[:HEADLINES]), tuple(passed[HEADLINES:]))


def reading_minutes(items: Sequence[Item]) -> int:
    """The minutes the items' lead stories take to read, rounded up (0 for none)."""
    words = sum(words_to_read(item.entry) for item in items)
    return -(-words // WORDS_PER_MINUTE)
