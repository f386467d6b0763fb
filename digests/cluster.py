"""One story carried by several feeds becomes one digest item: "also in: Feed B, Feed C".

Two entries from different feeds are the same story when

* they have the same canonical link, its fragment aside (``#comments`` points into the same
  page; a ``#!`` or ``#/`` route is kept, it names another page), or
* their titles share at least ``MIN_SHARED_TITLE_WORDS`` informative words and their
  ``similarity`` reaches ``THRESHOLD``.

Words are normalised before they are compared: Unicode compatibility forms and accents folded,
curly quotes and apostrophes made straight, possessive 's dropped, case folded, punctuation
removed, a light suffix strip ("welcomes", "welcomed", "welcome" -> "welcom"). Function words
and newsroom furniture ("live", "updates", "briefing", "says") are not informative, so
"Live updates" from two feeds never merges on its title.

``similarity`` is the Jaccard index of the two entries' informative words, those of the title
and of the lead (the first ``LEAD_WORDS`` words of the excerpt): the words both use divided
by the words either uses. Two outlets rewriting one wire story share the distinctive words of
its title and first sentence; two stories on the same topic share the topic words only. The
threshold of one third was set on pairs written like real wire copy: the same story from
two outlets scored 0.41 to 0.48, two stories on one topic on one day at most 0.30.
A paraphrase with few words in common ("quake" for "earthquake") stays two items, which
costs the reader a duplicate; merging two different stories would hide one.

Finding candidates stays near-linear: an inverted index maps each title word to the entries
using it, and only entries that meet in a posting list are compared. Each entry is indexed by
its rarest title words only (prefix filtering: two titles sharing two words must share one of
each title's rarest ``len - 1``), and a word found in more than ``MAX_POSTING`` entries is a
topic, not a story, and is not indexed at all.

Merging is single-link over the candidate pairs, strongest first, never putting two entries of
one feed in one item. The order is fixed by the entries' content (scores, feed URLs, ids), so
the result does not depend on the order the entries came in. The item's lead is the entry
published first (the outlet that had it first); ties go to the richer entry (an image, an
author, a longer excerpt), then to the feed URL and the entry id. The item shows the best
image any of its entries has (the widest known, as ``ingest/images.py`` ranks them), whichever
entry leads.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digests.models import DigestEntry
from digests.select import QUOTES, recency
from ingest.images import rank
from ingest.urls import story_link

THRESHOLD = 1 / 3
MIN_SHARED_TITLE_WORDS = 2
LEAD_WORDS = 30
MAX_POSTING = 100

_STOP = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not now of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yet still amid per via vs"""
STOP_WORDS = frozenset(_STOP.split())
# Words every newsroom puts in titles whatever the story is about.
_GENERIC = """live update updates latest breaking news briefing morning evening night today tonight
    yesterday says said say told report reports video watch photos pictures opinion analysis
    explained newsletter daily weekly edition podcast roundup recap highlights blog minute
    minutes first new week day monday tuesday wednesday thursday friday saturday sunday"""
GENERIC_WORDS = frozenset(_GENERIC.split())
_UNINFORMATIVE = STOP_WORDS | GENERIC_WORDS
_WORD = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"'s\b")
_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""))


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
    """The informative words of an entry's title, and of its title and lead together."""

    title: frozenset[str]
    words: frozenset[str]


def words(text: str) -> list[str]:
    """The informative, normalised words of ``text``, in order."""
    folded = unicodedata.normalize("NFKD", text.translate(QUOTES))
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = _POSSESSIVE.sub("", folded)
    return [_stem(w) for w in _WORD.findall(folded) if len(w) > 1 and w not in _UNINFORMATIVE]


def _stem(word: str) -> str:
    if len(word) <= 4:
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    return word


def signature(entry: DigestEntry) -> Signature:
    """The words an entry is compared by."""
    title = frozenset(words(entry.title))
    return Signature(title, title | frozenset(words(" ".join(entry.excerpt.split()[:LEAD_WORDS]))))


def similarity(a: Signature, b: Signature) -> float:
    """Jaccard index of the two entries' informative title and lead words (0 when both have none)."""
    union = len(a.words | b.words)
    return len(a.words & b.words) / union if union else 0.0


def same_story(a: DigestEntry, b: DigestEntry) -> bool:
    """Whether two entries from different feeds tell the same story (see the module's rules)."""
    if a.feed_url == b.feed_url:
        return False
    return _score(a, b, signature(a), signature(b)) is not None


def _score(a: DigestEntry, b: DigestEntry, sa: Signature, sb: Signature) -> float | None:
    if a.link and b.link and story_link(a.link) == story_link(b.link):
        return 1.0
    if len(sa.title & sb.title) < MIN_SHARED_TITLE_WORDS:
        return None
    score = similarity(sa, sb)
    return score if score >= THRESHOLD else None


def cluster(entries: Sequence[DigestEntry]) -> Clustering:
    """Merge entries telling the same story into items, newest lead first."""
    ordered = sorted(entries, key=lambda e: (e.feed_url, e.id))
    signatures = [signature(entry) for entry in ordered]
    pairs = candidate_pairs(ordered, signatures)
    scored = []
    for i, j in pairs:
        if ordered[i].feed_url != ordered[j].feed_url:
            score = _score(ordered[i], ordered[j], signatures[i], signatures[j])
            if score is not None:
                scored.append((-score, i, j))
    scored.sort()
    groups = _merge(ordered, ((i, j) for _, i, j in scored))
    items = [_item([ordered[i] for i in members]) for members in groups]
    items.sort(key=lambda item: recency(item.entry))
    return Clustering(tuple(items), len(pairs))


def candidate_pairs(
    entries: Sequence[DigestEntry], signatures: Sequence[Signature]
) -> set[tuple[int, int]]:
    """Index pairs (i < j) worth comparing: the same link, or a rare title word in common."""
    postings: dict[object, list[int]] = defaultdict(list)
    frequency = Counter(word for sig in signatures for word in sig.title)
    for index, (entry, sig) in enumerate(zip(entries, signatures, strict=True)):
        if entry.link:
            postings[("link", story_link(entry.link))].append(index)
        rarest = sorted(sig.title, key=lambda word: (frequency[word], word))
        for word in rarest[: len(rarest) - MIN_SHARED_TITLE_WORDS + 1]:
            if frequency[word] <= MAX_POSTING:
                postings[word].append(index)
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
