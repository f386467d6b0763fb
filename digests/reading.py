"""How long an entry takes to read: its words, at a steady adult reading pace."""

from __future__ import annotations

from digests.models import DigestEntry

WORDS_PER_MINUTE = 230


def words_to_read(entry: DigestEntry) -> int:
    """The words a reader meets: the article's full text when there is one, else the excerpt."""
    return len((entry.full_text or entry.excerpt).split())


def minutes(words: int) -> float:
    """Reading time of ``words`` in minutes."""
    return words / WORDS_PER_MINUTE
