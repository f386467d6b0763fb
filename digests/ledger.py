"""The delivery ledger: one row per (subscriber, window), so each digest is delivered once.

States: ``pending`` (claimed, being delivered), ``sent``, ``skipped`` (empty, not sent by
choice), ``failed`` (retried later with backoff). The unique (subscriber, window_start) key
decides which process delivers a window; a claim is a lease, so a crashed process's window is
taken up again once the lease expires. The next window starts exactly where the last sent or
skipped one ended, so no entry is skipped or repeated.

The one double-send window: a crash after the SMTP server accepted the message and before the
ledger row says ``sent``. The retry then carries the same Message-ID (derived from the window),
so mail clients and servers that deduplicate by Message-ID show it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from digests.models import DigestEntry, Window
from digests.windows import OpenWindow
from ingest.store.schema import deliveries, entries, feeds

DONE = ("sent", "skipped")


@dataclass(frozen=True)
class Claim:
    """A window this process holds the right to deliver."""

    id: int
    subscriber: str
    window: Window
    attempts: int
    message_id: str


def message_id(subscriber: str, start: datetime, domain: str) -> str:
    """The Message-ID for a subscriber's window: the same on every attempt."""
    digest = hashlib.sha256(f"{subscriber}|{start.isoformat()}".encode()).hexdigest()[:24]
    return f"<digest.{digest}@{domain}>"


def last_end(engine: Engine, subscriber: str) -> datetime | None:
    """Where the subscriber's last delivered (or skipped) window ended; None before the first."""
    query = select(func.max(deliveries.c.window_end)).where(
        deliveries.c.subscriber == subscriber, deliveries.c.state.in_(DONE)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def open_window(engine: Engine, subscriber: str) -> OpenWindow | None:
    """The subscriber's undelivered (pending or failed) window, if there is one."""
    query = select(deliveries).where(
        deliveries.c.subscriber == subscriber, deliveries.c.state.not_in(DONE)
    )
    with engine.connect() as conn:
        row = conn.execute(query.order_by(deliveries.c.window_start)).first()
    return OpenWindow(row.window_start, row.window_end, row.next_attempt_at) if row else None


def claim(
    engine: Engine,
    subscriber: str,
    window: Window,
    owner: str,
    now: datetime,
    lease: float,
    domain: str,
) -> Claim | None:
    """Take the right to deliver ``window``; None when another process has it or it is done.

    A new window is inserted (the unique key lets one process win); an open one is taken over
    when its lease has expired and its next attempt is due, and its end moves up to
    ``window.end`` so a retry also covers what arrived meanwhile.
    """
    until = now + timedelta(seconds=lease)
    mid = message_id(subscriber, window.start, domain)
    try:
        with engine.begin() as conn:
            row_id = conn.execute(
                deliveries.insert()
                .values(
                    subscriber=subscriber,
                    window_start=window.start,
                    window_end=window.end,
                    state="pending",
                    attempts=1,
                    message_id=mid,
                    claimed_by=owner,
                    claimed_until=until,
                    last_attempt_at=now,
                    created_at=now,
                    entries=0,
                    channels=[],
                )
                .returning(deliveries.c.id)
            ).scalar_one()
        return Claim(row_id, subscriber, window, 1, mid)
    except IntegrityError:
        pass
    takeover = (
        update(deliveries)
        .where(
            deliveries.c.subscriber == subscriber,
            deliveries.c.window_start == window.start,
            deliveries.c.state.not_in(DONE),
            or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
            or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
        )
        .values(
            state="pending",
            claimed_by=owner,
            claimed_until=until,
            last_attempt_at=now,
            attempts=deliveries.c.attempts + 1,
            window_end=window.end,
        )
        .returning(deliveries.c.id, deliveries.c.attempts, deliveries.c.message_id)
    )
    with engine.begin() as conn:
        row = conn.execute(takeover).first()
    if row is None:
        return None
    return Claim(row.id, subscriber, window, row.attempts, row.message_id or mid)


def finish(
    engine: Engine, claim_: Claim, state: str, now: datetime, count: int, channels: Sequence[str]
) -> None:
    """Mark a claimed window ``sent`` or ``skipped``; the next window starts at its end."""
    with engine.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == claim_.id)
            .values(
                state=state,
                sent_at=now,
                entries=count,
                channels=list(channels),
                claimed_by=None,
                claimed_until=None,
                last_error=None,
                next_attempt_at=None,
            )
        )


def fail(engine: Engine, claim_: Claim, error: str, now: datetime, retry_at: datetime) -> None:
    """Record a failed attempt; the window stays open and is retried from ``retry_at``."""
    with engine.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == claim_.id)
            .values(
                state="failed",
                last_error=error,
                next_attempt_at=retry_at,
                claimed_by=None,
                claimed_until=None,
            )
        )


def history(engine: Engine, subscriber: str | None = None) -> list[dict[str, object]]:
    """Ledger rows, oldest first (for reports and tests)."""
    query = select(deliveries).order_by(deliveries.c.subscriber, deliveries.c.window_start)
    if subscriber is not None:
        query = query.where(deliveries.c.subscriber == subscriber)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def window_entries(engine: Engine, window: Window) -> list[DigestEntry]:
    """Every stored entry first seen inside ``window``, with its feed's name and tags."""
    query = (
        select(
            entries,
            feeds.c.config_url,
            feeds.c.title.label("feed_title"),
            feeds.c.url.label("feed_fetch_url"),
            feeds.c.tags.label("feed_tags"),
        )
        .join(feeds, feeds.c.id == entries.c.feed_id)
        .where(and_(entries.c.first_seen_at >= window.start, entries.c.first_seen_at < window.end))
        .order_by(entries.c.first_seen_at, entries.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        DigestEntry(
            id=row.id,
            feed_url=row.config_url,
            feed_title=row.feed_title or row.feed_fetch_url,
            feed_tags=tuple(row.feed_tags or ()),
            title=row.title,
            link=row.link,
            authors=tuple(row.authors or ()),
            published=row.published_at,
            first_seen=row.first_seen_at,
            summary_html=row.summary_html,
            content_html=row.content_html,
            excerpt=row.excerpt,
            image=row.image,
            tags=tuple(row.tags or ()),
        )
        for row in rows
    ]
