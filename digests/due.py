"""Pure: what a digest run has to do, from every subscriber's standing in the ledger.

Planning yields the windows due now, the failed ones still backing off (a run names each, with
when it retries and why it failed), and the subscribers whose planning itself failed: one
subscriber's trouble never keeps the others' digests back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digests.models import Window
from digests.settings import Subscriber
from digests.windows import OpenWindow, Standing, plan
from ingest.store.deliveries import LedgerRow

Standings = Mapping[str, tuple[LedgerRow | None, LedgerRow | None]]  # last finished, open


@dataclass(frozen=True)
class Due:
    """A window due now for one subscriber, and what the ledger says of it."""

    subscriber: Subscriber
    window: Window
    first: bool = False  # no finished window yet: an empty one waits instead of being skipped
    examined: int | None = None  # a waiting first window: the seal its last look reached
    attempts: int = 0  # attempts made before this one
    held_until: datetime | None = None  # another process's claim, while it lasts


@dataclass(frozen=True)
class Retry:
    """A failed window backing off: when it is tried again, and why it failed."""

    subscriber: Subscriber
    at: datetime
    error: str
    attempts: int


@dataclass
class Plan:
    """The due windows, the retries waiting, and the subscribers whose planning failed."""

    due: list[Due] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    failures: list[tuple[Subscriber, Exception]] = field(default_factory=list)


def plan_all(
    found: Standings, subscribers: Sequence[Subscriber], now: datetime, *, force: bool = False
) -> Plan:
    """Every subscriber's window due now (all of them with ``force``), from their standings."""
    planned = Plan()
    for subscriber in subscribers:
        done, pending = found.get(subscriber.key, (None, None))
        try:
            window = plan(
                subscriber.cron, subscriber.timezone, now, _standing(done, pending), force=force
            )
        except Exception as exc:  # a bug or a bad value: this subscriber's alone
            planned.failures.append((subscriber, exc))
            continue
        if window is not None:
            planned.due.append(_due(subscriber, window, done, pending))
        elif pending is not None and pending.state == "failed" and pending.next_attempt_at:
            error = pending.last_error or "unknown error"
            planned.retries.append(
                Retry(subscriber, pending.next_attempt_at, error, pending.attempts)
            )
    return planned


def _standing(done: LedgerRow | None, pending: LedgerRow | None) -> Standing:
    return Standing(
        done.window_end if done else None,
        done.seal_end if done else None,
        OpenWindow(
            pending.window_start,
            pending.window_end,
            pending.next_attempt_at,
            pending.seal_end,
            waiting=pending.state == "waiting",
        )
        if pending
        else None,
    )


def _due(
    subscriber: Subscriber, window: Window, done: LedgerRow | None, pending: LedgerRow | None
) -> Due:
    waiting = pending is not None and pending.state == "waiting"
    return Due(
        subscriber,
        window,
        first=done is None,
        examined=pending.seal_end if pending and waiting else None,
        attempts=pending.attempts if pending and not waiting else 0,
        held_until=pending.claimed_until if pending else None,
    )
