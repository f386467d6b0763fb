"""Subscribers in the store: synced from the config, their standing and their own choices.

A row is kept for everyone the config ever listed: a person removed from the config keeps their
row (``in_config`` false) and their history, and gets nothing while they are out of it. Each
row has a random ``public_id`` that the signed links carry, never the address or the row id.

Unsubscribing and resubscribing are one conditional UPDATE each: of two requests racing for the
same person exactly one changes the row, and both leave it in the same state.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select, text, update

from ingest.models import Preferences, Standing
from ingest.store.schema import subscribers

_PG_SYNC_LOCK = 7_141_020_252  # pg_advisory_xact_lock key: one process syncing subscribers
VIAS = ("one-click", "web", "command")


class Addressed(Protocol):
    """Anything with the address as the config writes it (a ``Subscriber``)."""

    @property
    def email(self) -> str: ...


def sync(engine: Engine, listed: Sequence[Addressed], now: datetime) -> None:
    """Add the config's new subscribers, update the others' addresses, mark the removed ones."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes starting together would insert the same people; SQLite's BEGIN IMMEDIATE
            # already serializes this transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SYNC_LOCK})
        known = {row.email: row for row in conn.execute(select(subscribers))}
        wanted = {item.email.lower(): item.email for item in listed}
        for email, address in wanted.items():
            row = known.get(email)
            if row is None:
                conn.execute(
                    subscribers.insert().values(
                        email=email,
                        address=address,
                        public_id=secrets.token_urlsafe(16),
                        in_config=True,
                        state="active",
                        created_at=now,
                        updated_at=now,
                    )
                )
            elif row.address != address or not row.in_config:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == row.id)
                    .values(address=address, in_config=True, updated_at=now)
                )
        gone = [email for email, row in known.items() if row.in_config and email not in wanted]
        if gone:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.email.in_(gone))
                .values(in_config=False, updated_at=now)
            )


def get(engine: Engine, email: str) -> Standing | None:
    """The subscriber with this address (any case), or None."""
    return _one(engine, subscribers.c.email == email.lower())


def by_public_id(engine: Engine, public_id: str) -> Standing | None:
    """The subscriber a link names, or None."""
    return _one(engine, subscribers.c.public_id == public_id)


def all(engine: Engine) -> builtins.list[Standing]:
    """Every subscriber the store knows, in the order they were first listed."""
    with engine.connect() as conn:
        rows = conn.execute(select(subscribers).order_by(subscribers.c.id)).all()
    return [_standing(row) for row in rows]


def unsubscribe(engine: Engine, email: str, via: str, now: datetime) -> bool:
    """Unsubscribe ``email``; True when this call changed the row (False: already, or unknown)."""
    if via not in VIAS:
        raise ValueError(f"unknown way of unsubscribing {via!r}; expected one of {VIAS}")
    return _change(
        engine,
        email,
        "active",
        state="unsubscribed",
        unsubscribed_at=now,
        unsubscribed_via=via,
        updated_at=now,
    )


def resubscribe(engine: Engine, email: str, now: datetime) -> bool:
    """Subscribe ``email`` again; True when this call changed the row."""
    return _change(
        engine,
        email,
        "unsubscribed",
        state="active",
        unsubscribed_at=None,
        unsubscribed_via=None,
        updated_at=now,
    )


def choose(engine: Engine, email: str, preferences: Preferences, now: datetime) -> bool:
    """Store a subscriber's choices (all of them: None is the config's value); False if unknown."""
    chosen = preferences
    values: dict[str, Any] = {
        "paused_until": chosen.paused_until,
        "schedule": chosen.schedule,
        "timezone": chosen.timezone,
        "tags": _listed(chosen.tags),
        "include": _listed(chosen.include),
        "exclude": _listed(chosen.exclude),
        "email_enabled": chosen.email,
        "updated_at": now,
    }
    with engine.begin() as conn:
        changed = conn.execute(
            update(subscribers).where(subscribers.c.email == email.lower()).values(**values)
        ).rowcount
    return bool(changed)


def _change(engine: Engine, email: str, was: str, **values: Any) -> bool:
    with engine.begin() as conn:
        changed = conn.execute(
            update(subscribers)
            .where(subscribers.c.email == email.lower(), subscribers.c.state == was)
            .values(**values)
        ).rowcount
    return changed == 1


def _one(engine: Engine, where: Any) -> Standing | None:
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(where)).first()
    return None if row is None else _standing(row)


def _listed(values: tuple[str, ...] | None) -> builtins.list[str] | None:
    return None if values is None else builtins.list(values)


def _tuple(values: Any) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(value) for value in values)


def _standing(row: Any) -> Standing:
    return Standing(
        email=row.email,
        address=row.address,
        public_id=row.public_id,
        in_config=bool(row.in_config),
        state=row.state,
        unsubscribed_at=row.unsubscribed_at,
        unsubscribed_via=row.unsubscribed_via,
        preferences=Preferences(
            paused_until=row.paused_until,
            schedule=row.schedule,
            timezone=row.timezone,
            tags=_tuple(row.tags),
            include=_tuple(row.include),
            exclude=_tuple(row.exclude),
            email=None if row.email_enabled is None else bool(row.email_enabled),
        ),
        created_at=row.created_at,
    )
