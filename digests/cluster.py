"""One story carried by several feeds becomes one digest item: "also in: Feed B, Feed C".

Two entries from different feeds are the same story when

* they have the same canonical link, its fragment aside (``#comments`` points into the same
  page; a ``#!`` or ``#/`` route is kept, it names another page), or
* they were published at most ``MAX_APART`` (36 hours) apart and their *similarity* reaches
  ``FIGURE_THRESHOLD`` (0.24) when they share a precise figure, else ``THRESHOLD`` (0.42),
  and they have at least ``MIN_SHARED`` (3) features in common: a word or two is never enough.

What an entry is compared by is what survives an outlet rewriting the story: its *features*
are the words of its title and of its lead (the first ``LEAD_WORDS`` words of the article's
full text when there is one, else of the excerpt), normalised (``digests/story_words.py``:
case, accents, light stemming, function words and newsroom furniture dropped, common
paraphrases such as "blaze"/"fire" and "households"/"homes" folded), and the figures in them
(``digests/quantities.py``: "40,000", "forty thousand" and "40k" are one figure, "5.25%" and
"5.25 per cent" too; "tens of thousands" meets 40,000 by its order of magnitude; dates and
scores are figures, "4 July" = "July 4th").

Each feature weighs its rarity among the window's entries, ``log(1 + (N + 20) / n)`` for a
feature in ``n`` of the ``N`` entries (the 20 keeps a window of two entries from calling
everything rare), times 1.5 when it is in the title (``TITLE_WEIGHT``), 2 when the entry writes
it as a name (capitalised where no sentence starts, ``NAME_WEIGHT``) and 2 when it is a precise
figure (``FIGURE_WEIGHT``). *Similarity* is the cosine of the two entries' weighted features:
the weight of what both say over the weight of what each says. Topic words ("storm", "rates",
"court") are in many entries and weigh little; a storm's name, a company, a defendant, the
number of homes without power weigh much. Sharing a precise figure (not a year, not an order
of magnitude) is strong evidence on its own, so such pairs need less shared wording.

The thresholds were set on tests/data/cluster/labelled.toml, invented stories rewritten by
several outlets (complete rewrites sharing almost no headline words among them) beside hard
negatives (another story on the same topic, the same day, often with the same names), and
checked on heldout.toml, written afterwards; ``bench/cluster.py`` prints both. Precision
comes first: merging two stories hides one, while a rewrite left apart costs the reader a
duplicate. So a follow-up ("Government to appeal after protest ruling") stays apart from the
story it follows, and a rewrite sharing neither names nor figures with the others ("Dementia
drug hailed as 'turning point'") stays apart too.

Finding candidates stays near-linear: an inverted index maps features to the entries having
them, and only entries that meet in a posting list are compared. Each entry is indexed by its
``INDEXED`` heaviest features found in other entries too, and a feature in more than
``MAX_POSTING`` entries is a topic, not a story, and is not indexed at all.

Merging is single-link over the candidate pairs, strongest first, never putting two entries of
one feed in one item. The order is fixed by the entries' content (scores, feed URLs, ids), so
the result does not depend on the order the entries came in. The item's lead is the entry
published first (the outlet that had it first); ties go to the richer entry (an image, an
author, a longer excerpt), then to the feed URL and the entry id. The item shows the best
image any of its entries has (the widest known, as ``ingest/images.py`` ranks them), whichever
entry leads.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from digests.models import DigestEntry
from digests.quantities import quantity_terms
from digests.select import recency
from digests.story_words import names, terms, words
from ingest.images import rank
from ingest.urls import story_link

__all__ = ["Clustering", "Item", "Signature", "cluster", "same_story", "signature", "words"]

THRESHOLD = 0.42
FIGURE_THRESHOLD = 0.24
MIN_SHARED = 3
LEAD_WORDS = 50
MAX_POSTING = 100
INDEXED = 5
MAX_APART = timedelta(hours=36)
PRIOR_ENTRIES = 20
TITLE_WEIGHT = 1.5
NAME_WEIGHT = 2.0
FIGURE_WEIGHT = 2.0


@dataclass(frozen=True)
class Item:
    """One story in a digest: the entry shown and the same story in other feeds."""

    entry: DigestEntry
    also: tuple[DigestEntry, ...] = ()  # by feed title

    @property
    def image(self) -> str | None:
        """The best image any feed gave the story (see ``pictured``)."""
        pictured = self.pictured
        return pictured.image if pictured else None

    @property
    def image_width(self) -> int | None:
        """The shown image's width in pixels, when known: it is never shown wider."""
        pictured = self.pictured
        return pictured.image_width if pictured else None

    @property
    def pictured(self) -> DigestEntry | None:
        """The entry whose image is shown: the widest known (``ingest.images.rank``), lead first."""
        with_image = [e for e in (self.entry, *self.also) if e.image]
        return min(with_image, key=lambda e: rank(e.image_width), default=None)


@dataclass(frozen=True)
class Clustering:
    """The items, newest first, and how many candidate pairs the index let through."""

    items: tuple[Item, ...]
    candidates: int


@dataclass(frozen=True)
class Signature:
    """What an entry is compared by: its title's terms, and every feature of title and lead."""

    title: frozenset[str]  # the title's terms (words with paraphrases folded)
    words: frozenset[str]  # the title's and the lead's terms and quantity tokens
    names: frozenset[str]  # the terms written as names


def lead(entry: DigestEntry) -> str:
    """The first ``LEAD_WORDS`` words of the article's full text, else of the excerpt."""
    return " ".join((entry.full_text or entry.excerpt).split()[:LEAD_WORDS])


def signature(entry: DigestEntry) -> Signature:
    """The features an entry is compared by (see the module's rules)."""
    opening = lead(entry)
    title = frozenset(terms(entry.title)) | frozenset(quantity_terms(entry.title))
    body = frozenset(terms(opening)) | frozenset(quantity_terms(opening))
    return Signature(title, title | body, names(entry.title, title=True) | names(opening))


class Rarity:
    """How rare each feature is among a window's entries: its inverse document frequency."""

    def __init__(self, signatures: Iterable[Signature]) -> None:
        self.frequency: Counter[str] = Counter()
        self.entries = 0
        for sig in signatures:
            self.frequency.update(sig.words)
            self.entries += 1

    def idf(self, feature: str) -> float:
        """``log(1 + (entries + PRIOR_ENTRIES) / frequency)``: rarer features weigh more."""
        return math.log(1 + (self.entries + PRIOR_ENTRIES) / max(self.frequency[feature], 1))


@dataclass(frozen=True)
class Vector:
    """An entry's features with their weights, and the vector's length."""

    weights: Mapping[str, float]
    norm: float
    figures: frozenset[str]  # the precise figures among the features


def vector(sig: Signature, rarity: Rarity) -> Vector:
    """The weight of each feature: its rarity, more in the title, more for a name."""
    weights = {}
    for feature in sig.words:
        weight = rarity.idf(feature)
        if is_figure(feature):
            weight *= FIGURE_WEIGHT
        if feature in sig.title:
            weight *= TITLE_WEIGHT
        if feature in sig.names:
            weight *= NAME_WEIGHT
        weights[feature] = weight
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return Vector(weights, norm, frozenset(filter(is_figure, weights)))


def is_figure(feature: str) -> bool:
    """Whether a feature is a precise figure: a value, a date or a score (not a year or a size)."""
    return feature.startswith("#") and not feature.startswith(("#~", "#y"))


def cosine(a: Vector, b: Vector) -> float:
    """The cosine of the angle between two entries' vectors (0 when either is empty)."""
    return _overlap(a, b)[0]


def _overlap(a: Vector, b: Vector) -> tuple[float, int]:
    """The cosine of two vectors and the number of features they share."""
    if not a.norm or not b.norm:
        return 0.0, 0
    small, large = (a, b) if len(a.weights) <= len(b.weights) else (b, a)
    shared = [w * large.weights[f] for f, w in small.weights.items() if f in large.weights]
    return sum(shared) / (a.norm * b.norm), len(shared)


def similarity(a: Signature, b: Signature, rarity: Rarity | None = None) -> float:
    """How alike two entries read, 0 to 1, rarity taken from ``rarity`` or the two alone."""
    rarity = rarity or Rarity((a, b))
    return cosine(vector(a, rarity), vector(b, rarity))


def same_story(a: DigestEntry, b: DigestEntry) -> bool:
    """Whether two entries from different feeds tell the same story (see the module's rules)."""
    if a.feed_url == b.feed_url:
        return False
    sa, sb = signature(a), signature(b)
    rarity = Rarity((sa, sb))
    return _score(a, b, vector(sa, rarity), vector(sb, rarity)) is not None


def _score(a: DigestEntry, b: DigestEntry, va: Vector, vb: Vector) -> float | None:
    if a.link and b.link and story_link(a.link) == story_link(b.link):
        return 1.0
    if abs(a.published - b.published) > MAX_APART:
        return None
    score, shared = _overlap(va, vb)
    if shared < MIN_SHARED:
        return None
    return score if score >= (FIGURE_THRESHOLD if va.figures & vb.figures else THRESHOLD) else None


def cluster(entries: Sequence[DigestEntry]) -> Clustering:
    """Merge entries telling the same story into items, newest lead first."""
    ordered = sorted(entries, key=lambda e: (e.feed_url, e.id))
    signatures = [signature(entry) for entry in ordered]
    rarity = Rarity(signatures)
    vectors = [vector(sig, rarity) for sig in signatures]
    pairs = candidate_pairs(ordered, vectors, rarity)
    scored = []
    for i, j in pairs:
        if ordered[i].feed_url != ordered[j].feed_url:
            score = _score(ordered[i], ordered[j], vectors[i], vectors[j])
            if score is not None:
                scored.append((-score, i, j))
    scored.sort()
    groups = _merge(ordered, ((i, j) for _, i, j in scored))
    items = [_item([ordered[i] for i in members]) for members in groups]
    items.sort(key=lambda item: recency(item.entry))
    return Clustering(tuple(items), len(pairs))


def candidate_pairs(
    entries: Sequence[DigestEntry], vectors: Sequence[Vector], rarity: Rarity
) -> set[tuple[int, int]]:
    """Index pairs (i < j) worth comparing: the same link, or a heavy feature in common."""
    postings: dict[object, list[int]] = defaultdict(list)
    frequency = rarity.frequency
    for index, (entry, vec) in enumerate(zip(entries, vectors, strict=True)):
        if entry.link:
            postings[("link", story_link(entry.link))].append(index)
        shared = [f for f in vec.weights if 1 < frequency[f] <= MAX_POSTING]
        for feature in sorted(shared, key=lambda f: (-vec.weights[f], f))[:INDEXED]:
            postings[feature].append(index)
    pairs: set[tuple[int, int]] = set()
    for posting in postings.values():
        if 1 < len(posting) <= MAX_POSTING:
            pairs.update(_pairs(posting))
    return pairs


def _pairs(posting: list[int]) -> Iterable[tuple[int, int]]:
    for n, i in enumerate(posting):
        for j in posting[n + 1 :]:
            yield (i, j)


def _merge(entries: Sequence[DigestEntry], pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Single-link merging in the order given, one entry per feed in a group."""
    parent = list(range(len(entries)))
    feeds = [{entry.feed_url} for entry in entries]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        ri, rj = sorted((root(i), root(j)))
        if ri != rj and not feeds[ri] & feeds[rj]:
            parent[rj] = ri
            feeds[ri] |= feeds[rj]
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(entries)):
        groups[root(i)].append(i)
    return list(groups.values())


def lead_key(entry: DigestEntry) -> tuple[float, bool, bool, int, str, int]:
    """Sort key choosing an item's lead: first published, then richest, then feed URL and id."""
    return (
        entry.published.timestamp(),
        entry.image is None,
        not entry.authors,
        -len(entry.excerpt),
        entry.feed_url,
        entry.id,
    )


def _item(members: list[DigestEntry]) -> Item:
    lead = min(members, key=lead_key)
    others = sorted(
        (e for e in members if e is not lead),
        key=lambda e: (e.feed_title.casefold(), e.feed_url, e.id),
    )
    return Item(lead, tuple(others))
