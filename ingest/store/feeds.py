"""Feeds in the store: sync from the config, claim due feeds under a lease, record outcomes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    text,
    update,
)

from ingest.models import FeedSpec, FeedState, Validators
from ingest.store.full_text import tallies
from ingest.store.schema import entries, feeds

_ACTIVE = and_(feeds.c.enabled, feeds.c.in_config, feeds.c.disabled_reason.is_(None))
_PG_SYNC_LOCK = 7_141_020_251  # pg_advisory_xact_lock key: one process syncing the feed list


# What ``sync`` compares with the config: every command with a store runs it over every feed,
# so it reads these columns only (not a feed's fetch state, nor its item keys' JSON).
_SYNCED = select(
    feeds.c.id,
    feeds.c.config_url,
    feeds.c.title,
    feeds.c.tags,
    feeds.c.interval,
    feeds.c.enabled,
    feeds.c.full_text,
    feeds.c.in_config,
)


def sync(engine: Engine, specs: Sequence[FeedSpec], now: datetime) -> None:
    """Make the feeds table match the config: add new feeds, update changed ones, retire removed."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Workers starting together would all insert the same new feeds; SQLite's BEGIN
            # IMMEDIATE already serializes this transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SYNC_LOCK})
        known = {row.config_url: row for row in conn.execute(_SYNCED)}
        for spec in specs:
            values: dict[str, Any] = {
                "tags": list(spec.tags),
                "interval": spec.interval,
                "enabled": spec.enabled,
                "full_text": spec.full_text,
                "in_config": True,
            }
            if spec.title:  # without one, the title the feed gives itself is kept
                values["title"] = spec.title
            row = known.get(spec.url)
            if row is None:
                conn.execute(
                    feeds.insert().values(
                        config_url=spec.url,
                        url=spec.url,
                        created_at=now,
                        next_poll_at=now,
                        consecutive_failures=0,
                        duplicates=0,
                        **values,
                    )
                )
            elif any(getattr(row, key) != value for key, value in values.items()):
                conn.execute(update(feeds).where(feeds.c.id == row.id).values(**values))
        retired = set(known) - {spec.url for spec in specs}
        if retired:
            conn.execute(
                update(feeds).where(feeds.c.config_url.in_(retired)).values(in_config=False)
            )


def claim(
    engine: Engine,
    owner: str,
    now: datetime,
    lease: float,
    limit: int,
    *,
    since: datetime,
    everything: bool = False,
    exclude: Collection[int] = (),
) -> list[FeedState]:
    """Lease up to ``limit`` due feeds not fetched since ``since`` to ``owner``.

    With ``everything`` the schedule is ignored: every active feed not fetched since ``since``.
    Feeds in ``exclude`` (given back earlier in the round) are left for the next round.

    The conditional UPDATE is atomic on both databases; PostgreSQL's SKIP LOCKED lets several
    workers claim side by side without waiting on each other's rows.
    """
    free = or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now)
    due = _due(now, since, everything)
    if exclude:
        due = and_(due, feeds.c.id.not_in(list(exclude)))
    candidates = (
        select(feeds.c.id)
        .where(_ACTIVE, free, due)
        .order_by(feeds.c.next_poll_at, feeds.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with engine.begin() as conn:
        ids = [row.id for row in conn.execute(candidates)]
        if not ids:
            return []
        until = now + timedelta(seconds=lease)
        claimed = conn.execute(
            update(feeds)
            .where(feeds.c.id.in_(ids), free)
            .values(lease_owner=owner, lease_until=until)
            .returning(*_STATE_COLUMNS)
        ).all()
    return [_state(row) for row in sorted(claimed, key=lambda r: r.id)]


def count_due(engine: Engine, now: datetime, *, since: datetime, everything: bool = False) -> int:
    """How many active feeds a round starting now would poll."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(feeds).where(_ACTIVE, _due(now, since, everything))
        return int(conn.execute(query).scalar_one())


# A feed due within this much of a round's start is polled in it. Rounds start on the worker's
# tick, while a feed's next poll counts from when its fetch began, a little after the tick of
# the round before: without slack a feed whose interval equals the tick would be found not quite
# due and wait a whole tick more, polled every other tick. Small beside any sensible interval.
DUE_SLACK = timedelta(seconds=10)


def _due(now: datetime, since: datetime, everything: bool) -> Any:
    fresh = or_(feeds.c.last_fetch_at.is_(None), feeds.c.last_fetch_at < since)
    if everything:
        return fresh
    due = feeds.c.next_poll_at <= now + DUE_SLACK
    return and_(fresh, or_(feeds.c.next_poll_at.is_(None), due))


# Built once; the SET clause comes from the keys of the parameters. Building an UPDATE with
# .values() for every feed took over twice the CPU of executing this one (and every round
# releases every feed, most of them unchanged). Only the lease's holder may write: a process
# whose lease ran out and was taken by another must not overwrite what that one stores.
_RELEASE = update(feeds).where(
    feeds.c.id == bindparam("feed_id"), feeds.c.lease_owner == bindparam("holder")
)


def release(conn: Connection, feed_id: int, values: dict[str, Any], *, owner: str) -> bool:
    """Write a feed's new fetch state and give up its lease, inside the caller's transaction.

    False, writing nothing, when ``owner`` no longer holds the lease (another process took it).
    """
    free = {"lease_owner": None, "lease_until": None, "feed_id": feed_id, "holder": owner}
    return bool(conn.execute(_RELEASE, {**values, **free}).rowcount)


def release_many(
    conn: Connection, updates: Sequence[tuple[int, dict[str, Any]]], *, owner: str
) -> list[bool]:
    """``release`` for many feeds in one statement; each values dict must have the same keys.

    The feeds ``owner`` still holds are found and locked first (the rows on PostgreSQL, the
    database on SQLite: BEGIN IMMEDIATE), so that the answer says exactly which were written.
    """
    ids = [feed_id for feed_id, _ in updates]
    mine = select(feeds.c.id).where(feeds.c.id.in_(ids), feeds.c.lease_owner == owner)
    held = set(conn.execute(mine.with_for_update()).scalars())
    free = {"lease_owner": None, "lease_until": None, "holder": owner}
    rows = [{**values, **free, "feed_id": i} for i, values in updates if i in held]
    if rows:
        conn.execute(_RELEASE, rows)
    return [feed_id in held for feed_id in ids]


def give_back(engine: Engine, feed_id: int, owner: str) -> bool:
    """Drop ``owner``'s lease on a feed without recording a poll; False when it was not held."""
    with engine.begin() as conn:
        return release(conn, feed_id, {}, owner=owner)


@dataclass(frozen=True)
class Leases:
    """Due feeds another process holds a lease on: how many, whose, and until when at the latest."""

    count: int = 0
    owners: tuple[str, ...] = ()  # the holder of the most first
    until: datetime | None = None


def leased_elsewhere(
    engine: Engine, owner: str, now: datetime, *, since: datetime, everything: bool = False
) -> Leases:
    """The feeds a round of ``owner`` would poll now but that other processes hold leases on."""
    held = and_(feeds.c.lease_until >= now, feeds.c.lease_owner != owner)
    count = func.count().label("n")
    query = (
        select(feeds.c.lease_owner, count, func.max(feeds.c.lease_until).label("until"))
        .where(_ACTIVE, held, _due(now, since, everything))
        .group_by(feeds.c.lease_owner)
        .order_by(count.desc(), feeds.c.lease_owner)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return Leases()
    return Leases(
        count=sum(row.n for row in rows),
        owners=tuple(row.lease_owner for row in rows),
        until=max(row.until for row in rows),
    )


def get(engine: Engine, url: str) -> FeedState | None:
    """The feed with this config or current URL, if the store knows it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(*_STATE_COLUMNS).where(or_(feeds.c.config_url == url, feeds.c.url == url))
        ).first()
    return _state(row) if row else None


def reset(engine: Engine, feed_id: int, now: datetime) -> None:
    """Clear a feed's failures and any disabling, and make it due now."""
    with engine.begin() as conn:
        conn.execute(
            update(feeds)
            .where(feeds.c.id == feed_id)
            .values(
                disabled_reason=None,
                consecutive_failures=0,
                last_error=None,
                failing_since=None,
                next_poll_at=now,
                lease_owner=None,
                lease_until=None,
            )
        )


def health(engine: Engine) -> list[dict[str, Any]]:
    """One dict per configured feed with its state and entry count, for `broadsheet feeds`."""
    counts = (
        select(
            entries.c.feed_id,
            func.count().label("n"),
            func.sum(case((entries.c.backlog, 1), else_=0)).label("backlog"),
            func.max(entries.c.first_seen_at).label("newest"),
        )
        .group_by(entries.c.feed_id)
        .subquery()
    )
    query = (
        select(
            feeds,
            func.coalesce(counts.c.n, 0).label("entries"),
            func.coalesce(counts.c.backlog, 0).label("backlog"),
            counts.c.newest,
        )
        .outerjoin(counts, counts.c.feed_id == feeds.c.id)
        .where(feeds.c.in_config)
        .order_by(feeds.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        articles = tallies(conn)
    none: dict[str, Any] = {"ok": 0, "tried": 0, "pending": 0, "fallbacks": {}}
    return [
        {
            "url": row.url,
            "config_url": row.config_url,
            "title": row.title,
            "tags": list(row.tags or []),
            "enabled": bool(row.enabled) and row.disabled_reason is None,
            "disabled_reason": row.disabled_reason,
            "entries": row.entries,
            "backlog": int(row.backlog),  # of the entries, how many are its first poll's backlog
            "last_success": row.last_success_at,
            "last_error": row.last_error,
            "last_error_at": row.last_error_at,
            "consecutive_failures": row.consecutive_failures,
            "failing_since": row.failing_since,
            "last_fetch": row.last_fetch_at,
            "newest_entry": _aware(row.newest),  # when its newest entry was first seen
            "created_at": row.created_at,
            "next_poll": row.next_poll_at,
            "declared_interval": row.declared_interval,
            "warning": row.warning,
            "duplicates": row.duplicates,
            "replaced": row.replaced,
            "full_text": bool(row.full_text),
            **{f"full_text_{k}": v for k, v in articles.get(row.id, none).items()},
        }
        for row in rows
    ]


# What ``_state`` reads: a claim returns only these (every timestamp SQLite gives back as text
# is parsed, and a round claims every feed it polls).
_STATE_COLUMNS = [
    feeds.c.id,
    feeds.c.url,
    feeds.c.config_url,
    feeds.c.title,
    feeds.c.tags,
    feeds.c.interval,
    feeds.c.enabled,
    feeds.c.etag,
    feeds.c.last_modified,
    feeds.c.body_hash,
    feeds.c.last_success_at,
    feeds.c.last_error,
    feeds.c.last_error_at,
    feeds.c.consecutive_failures,
    feeds.c.next_poll_at,
    feeds.c.disabled_reason,
    feeds.c.declared_interval,
    feeds.c.failing_since,
    feeds.c.full_text,
    cast(feeds.c.item_keys, Text).label("item_keys"),  # JSON text, not decoded here
]


def _state(row: Any) -> FeedState:
    return FeedState(
        id=row.id,
        url=row.url,
        config_url=row.config_url,
        title=row.title,
        tags=tuple(row.tags or ()),
        interval=row.interval,
        enabled=bool(row.enabled),
        validators=Validators(row.etag, row.last_modified, row.body_hash),
        last_success=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        consecutive_failures=row.consecutive_failures,
        next_poll=row.next_poll_at,
        disabled_reason=row.disabled_reason,
        declared_interval=row.declared_interval,
        failing_since=row.failing_since,
        full_text=bool(row.full_text),
        item_keys_json=row.item_keys,
    )


def _aware(value: Any) -> datetime | None:
    """An aggregate's datetime (SQLite hands it back as text, without the column type's care)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
