"""Pure: which window a subscriber's next digest covers, if one is due.

A window is a span of seals (see ``digests/ledger.py``): it holds the entries sealed after the
previous delivered window's last seal, up to the seal the run takes when it first attempts the
window. So across consecutive digests nothing is skipped or repeated, whatever the clocks of the
machines writing entries say; after downtime the first digest covers the whole gap.

The times of a window come from the schedule: they say when it is due and what the digest calls
it. A new subscriber's first digest is due at once and covers the schedule's last whole period
(a day for "daily") and what came since, up to now; from then on digests follow the schedule.

Once first attempted, a window is fixed: a retry carries exactly the same stories under the same
Message-ID, and anything newer waits for the next window. Only a row written before seals
existed (no ``seal_end``) is stretched to now on its retry, once.

A new subscriber's first digest is not used up by an empty window (the first poll found
nothing yet, or the machine was offline). While a subscriber has no finished window, an empty
one is not skipped but kept open as ``waiting``: it keeps its start, and every run that finds
entries stored since its last look looks again, up to now. The first run whose look finds
stories delivers "the first digest" at once, covering everything since the original start;
from then on digests follow the schedule. A look reads only the entries stored since the last
one, so a subscriber waiting long costs each run no more than what arrived meanwhile.

A digest that ended off the schedule (the first one, or one forced with ``--now``) can leave a
sliver before the next scheduled time: a first digest at 06:50 and a daily one at 07:00. A
scheduled window shorter than ``SHORTEST`` of the period is not sent; it opens the next window
instead, so the reader does not get two digests within minutes and nothing is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digests.models import Window
from digests.schedule import period, previous_run

SHORTEST = 0.1  # of the schedule's period: a shorter scheduled window waits for the next run


@dataclass(frozen=True)
class OpenWindow:
    """A window already in the ledger but not delivered yet (pending or failed)."""

    start: datetime
    end: datetime
    next_attempt: datetime | None
    seal_end: int | None = None  # None only on rows written before seals
    waiting: bool = False  # an empty first window: its end and seal move with each look


@dataclass(frozen=True)
class Standing:
    """What the ledger holds for one subscriber: the last finished window and the open one."""

    last_end: datetime | None = None  # where the last sent, skipped or abandoned window ended
    last_seal: int | None = None  # and its last seal (None before the first, or before seals)
    open: OpenWindow | None = None


def plan(
    cron: str, zone: str, now: datetime, standing: Standing, *, force: bool = False
) -> Window | None:
    """The window to deliver now, or None when nothing is due.

    ``force`` delivers regardless of the schedule: a new window then ends now, and an open one
    is retried before its backoff has passed.
    """
    target = now if force else previous_run(cron, zone, now)
    after = standing.last_seal
    open_window = standing.open
    if open_window is not None and open_window.waiting:
        return Window(open_window.start, now)  # a first digest still due at once, up to now
    if open_window is not None:
        if not force and open_window.next_attempt is not None and open_window.next_attempt > now:
            return None
        if open_window.seal_end is not None:  # fixed at its first attempt
            return Window(open_window.start, open_window.end, after, open_window.seal_end)
        return Window(open_window.start, max(target, open_window.end), after)
    if (
        standing.last_end is None
    ):  # a new subscriber gets a first digest at once, covering one period
        # The start comes from the schedule, not the clock, so that processes racing to send it
        # claim the same (subscriber, window_start) in the ledger and only one of them sends.
        scheduled = previous_run(cron, zone, now)
        return Window(scheduled - period(cron, zone, now), now)
    if target <= standing.last_end:
        return None
    if not force and target - standing.last_end < period(cron, zone, now) * SHORTEST:
        return None
    return Window(standing.last_end, target, after)
