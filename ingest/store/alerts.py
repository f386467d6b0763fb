"""The alerts ledger: one row per (recipient, alert key), inserted before the alert is mailed.

The unique key decides which process announces an alert: the insert is the claim, so two
processes deciding the same alert at once send it once. A claimed row is a lease
(``claimed_until``); a failed send leaves it ``failed`` and the next run takes it over and sends
it again (with whatever else is new), so an SMTP outage loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from ingest.store.schema import alerts

RETRYABLE = ("pending", "failed")  # pending: only once its claim has run out (a crash)


@dataclass(frozen=True)
class AlertRow:
    """One alert given, or being given, to one recipient."""

    id: int
    recipient: str
    key: str
    kind: str
    feed_url: str
    feed_title: str
    detail: str
    since: datetime
    until: datetime | None
    last_success: datetime | None
    state: str  # pending | sent | failed | abandoned
    attempts: int
    message_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def announced(engine: Engine) -> list[AlertRow]:
    """Every alert in the ledger, oldest first: what deciding must not repeat."""
    with engine.connect() as conn:
        rows = conn.execute(select(alerts).order_by(alerts.c.id)).all()
    return [_row(row) for row in rows]


def claim(
    engine: Engine,
    recipient: str,
    fresh: Sequence[Mapping[str, Any]],
    *,
    owner: str,
    now: datetime,
    until: datetime,
) -> int:
    """Insert the ``fresh`` alerts (key, kind, feed_url, feed_title, detail, since, until,
    last_success) for ``recipient``, claimed by ``owner``; those another process inserted first
    are left to it. Returns how many were inserted."""
    claimed = {"state": "pending", "attempts": 0, "claimed_by": owner, "claimed_until": until}
    inserted = 0
    for values in fresh:
        row = {"recipient": recipient, "created_at": now, **claimed, **values}
        try:
            with engine.begin() as conn:  # one at a time: a duplicate fails only its own insert
                conn.execute(alerts.insert().values(row))
            inserted += 1
        except IntegrityError:
            continue
    return inserted


def take(
    engine: Engine, recipient: str, *, owner: str, now: datetime, until: datetime
) -> list[AlertRow]:
    """Claim ``recipient``'s alerts to send now: this owner's new ones, failed ones due again, and
    pending ones whose claim ran out; each attempt counted. Oldest first."""
    free = or_(alerts.c.claimed_until.is_(None), alerts.c.claimed_until < now)
    due = or_(alerts.c.next_attempt_at.is_(None), alerts.c.next_attempt_at <= now)
    mine = and_(alerts.c.state == "pending", alerts.c.claimed_by == owner)
    query = (
        update(alerts)
        .where(
            alerts.c.recipient == recipient,
            or_(mine, and_(alerts.c.state.in_(RETRYABLE), free, due)),
        )
        .values(
            state="pending",
            claimed_by=owner,
            claimed_until=until,
            attempts=alerts.c.attempts + 1,
        )
        .returning(*alerts.c)
    )
    with engine.begin() as conn:
        rows = conn.execute(query).all()
    return sorted((_row(row) for row in rows), key=lambda row: row.id)


def retrying(engine: Engine, recipient: str, now: datetime) -> list[AlertRow]:
    """The alerts a run would send again now (a dry run's view of ``take``), oldest first."""
    free = or_(alerts.c.claimed_until.is_(None), alerts.c.claimed_until < now)
    due = or_(alerts.c.next_attempt_at.is_(None), alerts.c.next_attempt_at <= now)
    query = (
        select(alerts)
        .where(alerts.c.recipient == recipient, alerts.c.state.in_(RETRYABLE), free, due)
        .order_by(alerts.c.id)
    )
    with engine.connect() as conn:
        return [_row(row) for row in conn.execute(query)]


def sent(engine: Engine, ids: Sequence[int], owner: str, now: datetime, message_id: str) -> None:
    """Mark this owner's claimed alerts sent in the message ``message_id``."""
    _finish(engine, ids, owner, state="sent", sent_at=now, message_id=message_id, last_error=None)


def failed(
    engine: Engine, ids: Sequence[int], owner: str, error: str, retry_at: datetime, message_id: str
) -> None:
    """Record a failed send: the alerts are sent again by a run from ``retry_at`` on."""
    _finish(
        engine,
        ids,
        owner,
        state="failed",
        last_error=error,
        next_attempt_at=retry_at,
        message_id=message_id,
    )


def abandoned(engine: Engine, ids: Sequence[int], owner: str, error: str) -> None:
    """Give the alerts up for good; ``error`` says why."""
    _finish(engine, ids, owner, state="abandoned", last_error=error, next_attempt_at=None)


def _finish(engine: Engine, ids: Sequence[int], owner: str, **values: Any) -> None:
    """Write a claimed batch's outcome and release its claim (only while ``owner`` holds it)."""
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(list(ids)), alerts.c.claimed_by == owner)
            .values(claimed_by=None, claimed_until=None, **values)
        )


def _row(row: Any) -> AlertRow:
    return AlertRow(**{name: row._mapping[name] for name in _FIELDS})


_FIELDS = tuple(field.name for field in fields(AlertRow))
