"""Pure: which stories lead an edition, and why.

Each item (one story, after clustering) scores points from signals a reader can check, and the
points are multiplied by the weight the admin gave the lead entry's feed:

    score = weight × (1 + outlets + recency + boost + reading)

* **1** for every story, so a feed's weight counts even for a story with no other signal;
* **outlets**: ``OUTLET_POINTS`` × log2(feeds carrying it), the lead and "also in" (1 feed: 0,
  2 feeds: 2, 4 feeds: 4): a story many outlets carry matters more, each new one a little less;
* **recency**: up to ``RECENCY_POINTS``, by how late in the window the lead was published
  (0 at the window's start or before, the whole at its end or after);
* **boost**: ``BOOST_POINTS`` for each of the subscriber's ``boost`` rules the title or the
  excerpt matches (words or ``/regex/``, read like ``include``);
* **reading**: up to ``READING_POINTS`` for how much there is to read (the article's full text,
  else the excerpt; full at ``READING_WORDS`` words);
* **weight**: the lead feed's ``[[feeds]] weight`` (default 1), shown as the points it adds.

``rank`` returns the items best first, each with its score and its ``Reason``s (the points add
up to the score). Ties are broken by content (the lead's publication time, newest first, then
its link, feed URL and entry id), so the order never depends on the order items came in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from digests.cluster import Item
from digests.models import Window
from digests.reading import words_to_read
from digests.select import QUOTES, Rule, compile_rules, is_regex
from digests.settings import Subscriber

BASE_POINTS = 1.0
OUTLET_POINTS = 2.0
RECENCY_POINTS = 2.0
BOOST_POINTS = 3.0
READING_POINTS = 1.0
READING_WORDS = 600
DEFAULT_WEIGHT = 1.0


@dataclass(frozen=True)
class Reason:
    """One signal behind a story's score: its name, what was seen, and the points it gave."""

    signal: str  # base, outlets, recency, boost, reading, weight
    value: str  # in words: "3 outlets", "published 2 h before the window closed"
    points: float


@dataclass(frozen=True)
class Ranked:
    """An item with its score and the reasons for it."""

    item: Item
    score: float  # rounded to 9 decimal places
    reasons: tuple[Reason, ...]


def rank(
    items: Sequence[Item],
    subscriber: Subscriber,
    window: Window,
    weights: Mapping[str, float],
) -> tuple[Ranked, ...]:
    """The items best first, with their scores and reasons (see the module's formula)."""
    rules = boosts(subscriber)
    scored = [_scored(item, window, weights, rules) for item in items]
    return tuple(sorted(scored, key=order_key))


def boosts(subscriber: Subscriber) -> list[tuple[str, Rule]]:
    """The subscriber's boost rules as (rule, predicate); a rule of blank words is left out."""
    written = dict.fromkeys(subscriber.boost)  # a rule written twice counts once
    rules = [r for r in written if is_regex(r) or r.translate(QUOTES).split()]
    return list(zip(rules, compile_rules(rules, subscriber, "boost"), strict=True))


def order_key(ranked: Ranked) -> tuple[float, float, str, str, int]:
    """Sort key: best score first; ties by the lead's content, never by input order."""
    entry = ranked.item.entry
    return (
        -ranked.score,
        -entry.published.timestamp(),
        entry.link or "",
        entry.feed_url,
        entry.id,
    )


def _scored(
    item: Item, window: Window, weights: Mapping[str, float], rules: list[tuple[str, Rule]]
) -> Ranked:
    entry = item.entry
    outlets = 1 + len(item.also)
    reasons = [Reason("base", "every story", BASE_POINTS)]
    if outlets > 1:
        names = ", ".join(e.feed_title for e in (entry, *item.also))
        reasons.append(
            Reason("outlets", f"{outlets} outlets ({names})", OUTLET_POINTS * math.log2(outlets))
        )
    share = _share(entry.published, window)
    reasons.append(Reason("recency", _age(entry.published, window.end), RECENCY_POINTS * share))
    text = f"{entry.title}\n{entry.excerpt}".translate(QUOTES)
    for rule, matches in rules:
        if matches(text):
            reasons.append(Reason("boost", rule, BOOST_POINTS))
    words = words_to_read(entry)
    reading = READING_POINTS * min(words, READING_WORDS) / READING_WORDS
    reasons.append(Reason("reading", f"{words} words", reading))
    subtotal = sum(reason.points for reason in reasons)
    weight = weights.get(entry.feed_url, DEFAULT_WEIGHT)
    if weight != DEFAULT_WEIGHT:
        reasons.append(
            Reason("weight", f"×{weight:g} ({entry.feed_title})", subtotal * (weight - 1))
        )
    # rounded, so that sums differing in the last bit of a float tie and fall to content
    return Ranked(item, round(subtotal * weight, 9), tuple(reasons))


def _share(published: datetime, window: Window) -> float:
    """How far into the window ``published`` falls, from 0 (start or before) to 1 (end or after)."""
    span = (window.end - window.start).total_seconds()
    if span <= 0:
        return 1.0
    return min(max((published - window.start).total_seconds() / span, 0.0), 1.0)


def _age(published: datetime, end: datetime) -> str:
    """ "published 3 h 20 min before the window closed", in whole minutes."""
    minutes = int((end - published).total_seconds() // 60)
    if minutes <= 0:
        return "published at the window's close or later"
    hours, rest = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{rest} min" if rest else "",
    ]
    return f"published {' '.join(p for p in parts if p)} before the window closed"
