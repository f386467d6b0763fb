"""Pure: which entries of a feed's first poll are its backlog, stored but kept out of digests.

A feed added today may carry months of old items. On the feed's first successful poll, an item
published more than ``BACKLOG_AGE`` before that poll is backlog: it is stored (and counted by
`broadsheet feeds`) but no digest shows it. Items without a date are not backlog, and later
polls mark nothing: what a feed publishes once it is followed is news.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from .models import Entry

BACKLOG_AGE = timedelta(days=2)


def is_backlog(first_poll: bool, published: datetime | None, now: datetime) -> bool:
    """True for an item of a feed's first poll published more than ``BACKLOG_AGE`` before it."""
    return first_poll and published is not None and published < now - BACKLOG_AGE


def backlog(items: Iterable[Entry], first_poll: bool, now: datetime) -> frozenset[str]:
    """The identities of the backlog among ``items`` (none unless this is the first poll)."""
    if not first_poll:
        return frozenset()
    return frozenset(item.identity for item in items if is_backlog(True, item.published, now))
