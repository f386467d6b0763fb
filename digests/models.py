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
    image_width: int | None = None  # pixels, when known: the image is never shown wider
    full_text: str = ""  # the article's own text (plain), when the feed asks for it; '' when none


@dataclass(frozen=True)
class Window:
    """What one digest covers: the seals (after, upto] it holds, and its times for people.

    Entries belong to a window by the seal a digest run gave them (see ``digests/ledger.py``),
    not by clock: ``start`` and ``end`` schedule the window and name it in the digest. Without
    ``after`` (a first digest, or one after a window older than seals) the window holds the
    entries first seen from ``start`` on; without ``upto`` (a preview) it reads up to now.
    """

    start: datetime
    end: datetime
    after: int | None = None  # the previous window's last seal
    upto: int | None = None  # this window's last seal, fixed when it is first attempted
