"""The web archive's reads: a subscriber's past editions, one edition's record, its entries.

What a sent digest carried is written by ``deliveries.finish`` in the transaction that marks it
sent: its structure (``deliveries.edition``, see ``digests/edition.py``) and one
``delivery_entries`` row per entry, in reading order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ingest.store.deliveries import CHUNK, entry_query
from ingest.store.schema import deliveries, delivery_entries, entries


@dataclass(frozen=True)
class EditionRow:
    """One digest made for a subscriber, as the archive lists it (``record`` for one edition)."""

    id: int
    window_start: datetime
    window_end: datetime
    sent_at: datetime | None
    entries: int  # stories
    channels: tuple[str, ...]  # "email", "markdown", or "archive" alone
    record: dict[str, Any] | None = field(default=None, compare=False)


def editions(engine: Engine, subscriber: str) -> list[EditionRow]:
    """The subscriber's sent digests that the archive can show, newest first."""
    query = (
        select(*_LISTED)
        .where(_theirs(subscriber))
        .order_by(deliveries.c.window_end.desc(), deliveries.c.id.desc())
    )
    with engine.connect() as conn:
        return [_edition(row) for row in conn.execute(query)]


def edition(engine: Engine, subscriber: str, delivery_id: int) -> EditionRow | None:
    """One of the subscriber's sent digests with its record; None when it is not theirs."""
    query = select(*_LISTED, deliveries.c.edition).where(
        _theirs(subscriber), deliveries.c.id == delivery_id
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _edition(row, row.edition)


def entry_rows(engine: Engine, ids: Sequence[int]) -> list[Any]:
    """The entries with these ids that still exist, with their feed (as a digest reads them)."""
    found: list[Any] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            found += conn.execute(entry_query().where(entries.c.id.in_(chunk))).all()
    return found


def carrying(engine: Engine, delivery_id: int) -> list[int]:
    """The ids of the entries a delivery carried, in reading order."""
    query = (
        select(delivery_entries.c.entry_id)
        .where(delivery_entries.c.delivery_id == delivery_id)
        .order_by(delivery_entries.c.position)
    )
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


_LISTED = (
    deliveries.c.id,
    deliveries.c.window_start,
    deliveries.c.window_end,
    deliveries.c.sent_at,
    deliveries.c.entries,
    deliveries.c.channels,
)


def _theirs(subscriber: str) -> Any:
    return (
        (deliveries.c.subscriber == subscriber.lower())
        & (deliveries.c.state == "sent")
        & deliveries.c.edition.is_not(None)
    )


def _edition(row: Any, record: Any = None) -> EditionRow:
    return EditionRow(
        id=row.id,
        window_start=row.window_start,
        window_end=row.window_end,
        sent_at=row.sent_at,
        entries=row.entries,
        channels=tuple(row.channels or ()),
        record=record if isinstance(record, dict) else None,
    )
