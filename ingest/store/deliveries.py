"""The delivery ledger and the seals that cut entries into digest windows.

A digest run seals once: it takes the next number from the one-row ``seals`` counter and stamps
it on every entry not sealed yet. Taking the number locks the counter's row, so sealers run one
after another (on SQLite, BEGIN IMMEDIATE does the same), and the stamping statement sees every
earlier sealer's work. An entry committed after that statement stays unsealed and gets a later
number: it falls into the next window, never between two.

The ledger holds one row per (subscriber, window_start); the unique key decides which process
delivers a window, and a claim is a lease (``claimed_until``) the holder renews before sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    case,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ingest.store.schema import UTCDateTime, deliveries, delivery_entries, entries, feeds, seals

DONE = ("sent", "skipped", "abandoned")  # finished: the next window starts where these ended
OPEN = ("pending", "failed", "waiting")  # waiting: a first window found empty, see windows.py
CHUNK = 500  # ids per IN (...) list: well within every database's limit on parameters


@dataclass(frozen=True)
class LedgerRow:
    """One window in the ledger, as planning reads it."""

    window_start: datetime
    window_end: datetime
    state: str
    seal_end: int | None
    next_attempt_at: datetime | None
    attempts: int = 0
    last_error: str | None = None
    claimed_until: datetime | None = None


@dataclass(frozen=True)
class Held:
    """A ledger row this process has claimed."""

    id: int
    attempts: int
    message_id: str
    window_end: datetime
    seal_end: int | None


def standings(
    engine: Engine, subscribers: Sequence[str]
) -> dict[str, tuple[LedgerRow | None, LedgerRow | None]]:
    """Each subscriber's last finished window and its open one, read in one visit."""
    last = (
        select(deliveries.c.subscriber, func.max(deliveries.c.window_end).label("end"))
        .where(deliveries.c.state.in_(DONE), deliveries.c.subscriber.in_(subscribers))
        .group_by(deliveries.c.subscriber)
        .subquery()
    )
    done = select(deliveries).join(
        last,
        and_(last.c.subscriber == deliveries.c.subscriber, last.c.end == deliveries.c.window_end),
    )
    pending = (
        select(deliveries)
        .where(deliveries.c.state.in_(OPEN), deliveries.c.subscriber.in_(subscribers))
        .order_by(deliveries.c.window_start.desc())
    )
    found: dict[str, tuple[LedgerRow | None, LedgerRow | None]] = {}
    with engine.connect() as conn:
        for row in conn.execute(done):
            found[row.subscriber] = (_row(row), None)
        for row in conn.execute(pending):  # the oldest open window wins
            found[row.subscriber] = (found.get(row.subscriber, (None, None))[0], _row(row))
    return found


def last_sent(engine: Engine, subscribers: Sequence[str]) -> dict[str, datetime]:
    """When each subscriber's last digest was sent (those never sent one are left out)."""
    query = (
        select(deliveries.c.subscriber, func.max(deliveries.c.sent_at))
        .where(deliveries.c.state == "sent", deliveries.c.subscriber.in_(subscribers))
        .group_by(deliveries.c.subscriber)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {row[0]: _aware(row[1]) for row in rows if row[1] is not None}


def seal(engine: Engine) -> int:
    """Seal every unsealed entry with the next number, in a transaction of its own; returns it."""
    with engine.begin() as conn:
        number = conn.execute(
            update(seals).where(seals.c.id == 1).values(n=seals.c.n + 1).returning(seals.c.n)
        ).scalar_one()
        conn.execute(update(entries).where(entries.c.seal.is_(None)).values(seal=number))
    return int(number)


def window_entries(
    engine: Engine, after: int | None, upto: int | None, since: datetime
) -> list[Any]:
    """Rows of the entries sealed in (after, upto], with their feed's config URL, title and tags.

    Without ``after`` the lower bound is a first-seen time (``since``); without ``upto`` the
    unsealed entries count too (what a preview shows).
    """
    lower = entries.c.first_seen_at >= since if after is None else entries.c.seal > after
    if upto is not None:
        bounds = and_(lower, entries.c.seal <= upto)
    elif after is not None:
        bounds = or_(lower, entries.c.seal.is_(None))
    else:
        bounds = lower
    query = (
        entry_query()
        .where(bounds, entries.c.backlog.is_(false()))  # a new feed's old items: never shown
        .order_by(entries.c.first_seen_at, entries.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def entry_query() -> Select[Any]:
    """Entries with their feed's config URL, title and tags: what a digest reads of each."""
    return select(
        entries,
        feeds.c.config_url,
        feeds.c.title.label("feed_title"),
        feeds.c.url.label("feed_fetch_url"),
        feeds.c.tags.label("feed_tags"),
    ).join(feeds, feeds.c.id == entries.c.feed_id)


def claim(
    engine: Engine,
    subscriber: str,
    window: tuple[datetime, datetime, int | None],
    *,
    owner: str,
    now: datetime,
    until: datetime,
    message_id: str,
    force: bool = False,
) -> Held | None:
    """Take the right to deliver a window (start, end, last seal); None when it is not free.

    A new window is inserted (the unique key lets one process win); an open one is taken over
    when its lease has run out and its next attempt is due (at once with ``force``). Its seal,
    once set, stays; a waiting window's end and seal move on to this look's.
    """
    start, end, seal_end = window
    try:
        with engine.begin() as conn:
            row_id = conn.execute(
                deliveries.insert()
                .values(
                    subscriber=subscriber,
                    window_start=start,
                    window_end=end,
                    seal_end=seal_end,
                    state="pending",
                    attempts=1,
                    message_id=message_id,
                    claimed_by=owner,
                    claimed_until=until,
                    last_attempt_at=now,
                    created_at=now,
                    entries=0,
                    channels=[],
                )
                .returning(deliveries.c.id)
            ).scalar_one()
        return Held(row_id, 1, message_id, end, seal_end)
    except IntegrityError:
        pass
    waiting = deliveries.c.state == "waiting"
    takeover = (
        update(deliveries)
        .where(
            deliveries.c.subscriber == subscriber,
            deliveries.c.window_start == start,
            deliveries.c.state.in_(OPEN),
            or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
            or_(
                literal(force),
                deliveries.c.next_attempt_at.is_(None),
                deliveries.c.next_attempt_at <= now,
            ),
        )
        .values(
            state="pending",
            claimed_by=owner,
            claimed_until=until,
            last_attempt_at=now,
            attempts=case((waiting, 1), else_=deliveries.c.attempts + 1),
            # A fixed window keeps its end; one from before seals is stretched once, to now.
            window_end=case(
                (or_(waiting, deliveries.c.seal_end.is_(None)), literal(end, UTCDateTime)),
                else_=deliveries.c.window_end,
            ),
            seal_end=case(
                (waiting, literal(seal_end)), else_=func.coalesce(deliveries.c.seal_end, seal_end)
            ),
        )
        .returning(*deliveries.c)
    )
    with engine.begin() as conn:
        row = conn.execute(takeover).first()
    if row is None:
        return None
    return Held(row.id, row.attempts, row.message_id or message_id, row.window_end, row.seal_end)


def renew(engine: Engine, row_id: int, owner: str, until: datetime) -> bool:
    """Extend this owner's claim to ``until``; False when the claim is no longer held."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == row_id,
                deliveries.c.claimed_by == owner,
                deliveries.c.state == "pending",
            )
            .values(claimed_until=until)
        ).rowcount
    return bool(changed)


def finish(
    engine: Engine,
    row_id: int,
    state: str,
    now: datetime,
    count: int,
    channels: Sequence[str],
    *,
    edition: dict[str, Any] | None = None,
    carried: Sequence[int] = (),
    note: str | None = None,
) -> None:
    """Mark a claimed window ``sent`` or ``skipped``; the next window starts at its end.

    A sent digest's ``edition`` (its structure, see ``digests/edition.py``) and the ids of the
    entries it ``carried`` are stored in the same transaction; ``note`` says why a window was
    skipped without a digest.
    """
    values: dict[str, Any] = {"edition": edition} if edition is not None else {}
    with engine.begin() as conn:
        _update(
            conn,
            row_id,
            state=state,
            sent_at=now,
            entries=count,
            channels=list(channels),
            last_error=None,
            next_attempt_at=None,
            note=note,
            **values,
        )
        if carried:
            _carry(conn, row_id, carried)


def _carry(conn: Connection, delivery_id: int, ids: Sequence[int]) -> None:
    """Record which entries a delivery carried, in reading order (entries deleted since: skipped)."""
    conn.execute(delete(delivery_entries).where(delivery_entries.c.delivery_id == delivery_id))
    existing: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        existing.update(conn.execute(select(entries.c.id).where(entries.c.id.in_(chunk))).scalars())
    rows = [
        {"delivery_id": delivery_id, "entry_id": entry_id, "position": position}
        for position, entry_id in enumerate(ids)
        if entry_id in existing
    ]
    if rows:
        conn.execute(delivery_entries.insert(), rows)


def fail(engine: Engine, row_id: int, error: str, retry_at: datetime) -> None:
    """Record a failed attempt; the window stays open and is retried from ``retry_at``."""
    _record(engine, row_id, state="failed", last_error=error, next_attempt_at=retry_at)


def wait(engine: Engine, row_id: int) -> None:
    """Leave a claimed first window open and unsent: it was empty; it waits for stories."""
    _record(engine, row_id, state="waiting", attempts=0, last_error=None, next_attempt_at=None)


def anything_after(engine: Engine, seal_number: int) -> bool:
    """Whether any entry was sealed after ``seal_number``, or is not sealed yet."""
    query = select(entries.c.id).where(or_(entries.c.seal > seal_number, entries.c.seal.is_(None)))
    with engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def abandon(engine: Engine, row_id: int, error: str) -> None:
    """Give a window up for good: it counts as finished, and ``error`` says why."""
    _record(engine, row_id, state="abandoned", last_error=error, next_attempt_at=None)


def history(engine: Engine, subscriber: str | None = None) -> list[dict[str, Any]]:
    """Ledger rows, oldest first (for reports and tests)."""
    query = select(deliveries).order_by(deliveries.c.subscriber, deliveries.c.window_start)
    if subscriber is not None:
        query = query.where(deliveries.c.subscriber == subscriber)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def _record(engine: Engine, row_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        _update(conn, row_id, **values)


def _update(conn: Connection, row_id: int, **values: Any) -> None:
    """Write a claimed row's outcome and release the claim."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == row_id)
        .values(claimed_by=None, claimed_until=None, **values)
    )


def _aware(value: datetime) -> datetime:
    """An aggregate's datetime, which skips the column type on SQLite: as an aware UTC value."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(row: Any) -> LedgerRow:
    return LedgerRow(
        row.window_start,
        row.window_end,
        row.state,
        row.seal_end,
        row.next_attempt_at,
        row.attempts,
        row.last_error,
        row.claimed_until,
    )
