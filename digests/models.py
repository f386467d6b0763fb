"""Plain records for digests: what selection reads from the store and what rendering receives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DigestEntry:
    """A stored entry with its feed's name and tags, as read for a digest window."""

    id: int
    feed_url: str  # the feed's URL as written in the config (subscribers select by it)
    feed_title: str
    feed_tags: tuple[str, ...]
    title: str
    link: str | None
    authors: tuple[str, ...]
    published: datetime  # UTC; first-seen when the feed gave no usable date
    first_seen: datetime  # UTC
    summary_html: str  # sanitized at ingest
    content_html: str  # sanitized at ingest
    excerpt: str  # plain text
    image: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Window:
    """The half-open span [start, end) of first-seen times one digest covers."""

    start: datetime
    end: datetime
