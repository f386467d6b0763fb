"""Which stored entries go into one subscriber's digest.

The rules, in the order they apply:

1. Feeds. ``subscriber.tags`` select feeds by the tags the admin gave them in the config
   (``feed_tags``; the categories publishers put on entries are too noisy to select by);
   ``subscriber.feeds`` select feeds by the URL written in the config. Tags compare without
   regard to case. When both are set a feed needs to match either; when neither is set every
   feed is selected.
2. Window. The store reads the window's entries (by the seal a digest run gave them, see
   ``digests/ledger.py``), so every entry handed in belongs to it, whatever time it was first
   seen at. When the worker was down for days the window covers the whole gap and the limits
   below keep the digest readable.
3. Keywords, over the title and the plain-text excerpt. A rule is a word or phrase matched as
   whole words without regard to case (curly and straight apostrophes and quotes compare
   equal), or ``/a regular expression/`` searched without regard to case. Regular expressions
   run on RE2, whose time grows linearly with the text: an admin's pattern such as ``(a+)+$``
   cannot hang a digest over a hostile title. RE2 has no backreferences or lookarounds, and its
   ``\\w``, ``\\d`` and ``\b`` are ASCII (``\\pL`` is any letter). With ``include``
   rules an entry must match one of them; an entry matching any ``exclude`` rule is dropped,
   whatever ``include`` says.
4. Limits. Each feed keeps its ``max_per_feed`` newest entries; then ``max_items`` are taken
   round-robin across feeds (every feed's newest entry first, then every feed's second, ...)
   so one busy feed cannot crowd out the quiet ones. What the limits drop is counted per feed
   for the "N more from this feed" notes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import re2

from digests.models import DigestEntry, Window
from digests.settings import Subscriber
from ingest.errors import ConfigError

Rule = Callable[[str], bool]

# Typographic quotes and apostrophes read as their ASCII forms, in text and in rules alike.
QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"'})


@dataclass(frozen=True)
class Trimmed:
    """How many entries of one feed the limits left out."""

    feed_url: str
    feed_title: str
    count: int


@dataclass(frozen=True)
class Selection:
    """The entries chosen for a digest, newest first, and what the limits left out."""

    entries: tuple[DigestEntry, ...]
    trimmed: tuple[Trimmed, ...]  # one per feed that lost entries, by feed title

    @property
    def left_out(self) -> int:
        """The number of matching entries the limits dropped."""
        return sum(t.count for t in self.trimmed)


def recency(entry: DigestEntry) -> tuple[float, float, str, int]:
    """Sort key: newest published first; ties by newest first seen, then feed and id."""
    return (-entry.published.timestamp(), -entry.first_seen.timestamp(), entry.feed_url, entry.id)


def select(entries: Sequence[DigestEntry], subscriber: Subscriber, window: Window) -> Selection:
    """The entries of ``window`` that ``subscriber`` asked for, trimmed to their limits."""
    wants_feed = feed_filter(subscriber)
    includes = compile_rules(subscriber.include, subscriber, "include")
    excludes = compile_rules(subscriber.exclude, subscriber, "exclude")
    chosen = [
        entry for entry in entries if wants_feed(entry) and matches(entry, includes, excludes)
    ]
    return limit(chosen, subscriber.max_per_feed, subscriber.max_items)


def feed_filter(subscriber: Subscriber) -> Callable[[DigestEntry], bool]:
    """A predicate telling whether an entry's feed is one the subscriber selected."""
    tags = {tag.casefold() for tag in subscriber.tags}
    urls = {url.strip() for url in subscriber.feeds}
    if not tags and not urls:
        return lambda entry: True

    def wanted(entry: DigestEntry) -> bool:
        if entry.feed_url in urls:
            return True
        return any(tag.casefold() in tags for tag in entry.feed_tags)

    return wanted


def is_regex(rule: str) -> bool:
    """Whether a keyword rule is a ``/regular expression/`` rather than words."""
    return len(rule) > 2 and rule.startswith("/") and rule.endswith("/")


def compile_regex(rule: str) -> Rule:
    """A ``/regular expression/`` rule on RE2, case-insensitive; ValueError says why it cannot run."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    try:
        pattern = re2.compile(rule[1:-1].translate(QUOTES), options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "invalid"
        reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise ValueError(_explain(reason)) from exc
    return lambda text: pattern.search(text) is not None


_UNSUPPORTED = {
    "(?=": "lookahead",
    "(?!": "negative lookahead",
    "(?<=": "lookbehind",
    "(?<!": "negative lookbehind",
    "(?>": "atomic group",
}


def _explain(reason: str) -> str:
    """RE2's complaint, with what to write instead where the pattern needs backtracking."""
    for operator, name in _UNSUPPORTED.items():
        if operator in reason:
            return (
                f"cannot be used: a {name} ({operator}) needs a backtracking engine, and patterns "
                "run on RE2, which keeps matching fast on any text; match the wanted words with "
                "an include rule and the unwanted ones with an exclude rule instead"
            )
    if re.search(r"invalid escape sequence: \\[1-9]", reason):
        return (
            f"cannot be used: backreferences (\\1...) need a backtracking engine ({reason}), and "
            "patterns run on RE2, which keeps matching fast on any text; spell out the repeated "
            "text, or use a word rule"
        )
    return f"is not a valid regular expression ({reason}; patterns run on RE2)"


def compile_rules(rules: Sequence[str], subscriber: Subscriber, key: str) -> list[Rule]:
    """Keyword rules as predicates over normalised text; ConfigError names a bad expression."""
    compiled = []
    for index, rule in enumerate(rules):
        if is_regex(rule):
            try:
                compiled.append(compile_regex(rule))
            except ValueError as exc:
                raise ConfigError(
                    [
                        f"subscriber {subscriber.email}: {key}[{index}] {rule!r} {exc}; fix or "
                        "remove it in the config"
                    ]
                ) from exc
            continue
        words = r"\s+".join(re.escape(word) for word in rule.translate(QUOTES).split())
        if words:
            pattern = re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)
            compiled.append(_searcher(pattern))
    return compiled


def _searcher(pattern: re.Pattern[str]) -> Rule:
    return lambda text: pattern.search(text) is not None


def matches(entry: DigestEntry, includes: Sequence[Rule], excludes: Sequence[Rule]) -> bool:
    """Whether the entry passes the keyword rules (no includes means everything; exclude wins)."""
    if not includes and not excludes:
        return True
    text = f"{entry.title}\n{entry.excerpt}".translate(QUOTES)
    if any(rule(text) for rule in excludes):
        return False
    return not includes or any(rule(text) for rule in includes)


def limit(entries: Sequence[DigestEntry], max_per_feed: int, max_items: int) -> Selection:
    """Keep each feed's newest ``max_per_feed``, then ``max_items`` round-robin across feeds."""
    by_feed: dict[str, list[DigestEntry]] = defaultdict(list)
    for entry in sorted(entries, key=recency):
        by_feed[entry.feed_url].append(entry)
    ranked = sorted(
        (
            (rank, recency(entry), entry)
            for feed in by_feed.values()
            for rank, entry in enumerate(feed[:max_per_feed])
        ),
        key=lambda ranked_entry: ranked_entry[:2],
    )
    kept = sorted((entry for _, _, entry in ranked[:max_items]), key=recency)
    kept_ids = {(entry.feed_url, entry.id) for entry in kept}
    trimmed = []
    for url, feed in by_feed.items():
        dropped = sum((url, entry.id) not in kept_ids for entry in feed)
        if dropped:
            trimmed.append(Trimmed(url, feed[0].feed_title, dropped))
    trimmed.sort(key=lambda t: (t.feed_title.casefold(), t.feed_url))
    return Selection(tuple(kept), tuple(trimmed))
