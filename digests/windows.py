"""Pure: which window of first-seen times a subscriber's next digest covers, if one is due.

The next window starts exactly where the last delivered one ended, so across consecutive
digests nothing is skipped or repeated; after downtime the first digest covers the whole gap.
A new subscriber's first digest is due at once and covers the schedule's last whole period
(a day for "daily") and what came since, up to now; from then on digests follow the schedule.

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


def plan(
    cron: str,
    zone: str,
    now: datetime,
    last_end: datetime | None,
    open_window: OpenWindow | None,
    *,
    force: bool = False,
) -> Window | None:
    """The window to deliver now, or None when nothing is due.

    ``force`` delivers regardless of the schedule: the window then ends now. An open window is
    retried (when its next attempt is due, or forced) and stretched to cover what came since.
    """
    target = now if force else previous_run(cron, zone, now)
    if open_window is not None:
        if not force and open_window.next_attempt is not None and open_window.next_attempt > now:
            return None
        return Window(open_window.start, max(target, open_window.end))
    if last_end is None:  # a new subscriber gets a first digest at once, covering one period
        # The start comes from the schedule, not the clock, so that processes racing to send it
        # claim the same (subscriber, window_start) in the ledger and only one of them sends.
        scheduled = previous_run(cron, zone, now)
        return Window(scheduled - period(cron, zone, now), now)
    if target <= last_end:
        return None
    if not force and target - last_end < period(cron, zone, now) * SHORTEST:
        return None
    return Window(last_end, target)
