"""Entries in the store: insert new ones, update changed ones, keep when each was first seen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Insert, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ingest.models import Entry
from ingest.store.schema import entries


def upsert(
    conn: Connection,
    feed_id: int,
    items: Sequence[Entry],
    now: datetime,
    backlog: frozenset[str] = frozenset(),
) -> tuple[int, int]:
    """Store a feed's entries inside the caller's transaction; returns (new, updated) counts.

    An entry already stored keeps its first-seen time; its content is replaced only when its
    content hash changed. A missing published date falls back to first-seen. A new entry whose
    identity is in ``backlog`` is stored as backlog (see ``ingest/backlog.py``). An entry another
    transaction inserted meanwhile is skipped, not an error: this feed's transaction goes on.
    """
    if not items:
        return 0, 0
    known: dict[str, tuple[int, str]] = {}
    identities = [item.identity for item in items]
    for start in range(0, len(identities), 500):
        chunk = identities[start : start + 500]
        rows = conn.execute(
            select(entries.c.identity, entries.c.id, entries.c.content_hash).where(
                entries.c.feed_id == feed_id, entries.c.identity.in_(chunk)
            )
        )
        known.update({row.identity: (row.id, row.content_hash) for row in rows})
    fresh = [
        _row(item)
        | {"feed_id": feed_id, "first_seen_at": now, "changed_at": now}
        | {"backlog": item.identity in backlog}
        for item in items
        if item.identity not in known
    ]
    for row in fresh:
        row["published_at"] = row["published_at"] or now
    inserted = len(conn.execute(_insert_new(conn), fresh).all()) if fresh else 0
    updated = 0
    for item in items:
        stored = known.get(item.identity)
        if stored is None or stored[1] == item.content_hash:
            continue
        values = _row(item) | {"changed_at": now}
        if values["published_at"] is None:
            del values["published_at"]
        conn.execute(update(entries).where(entries.c.id == stored[0]).values(**values))
        updated += 1
    return inserted, updated


def _insert_new(conn: Connection) -> Insert:
    """INSERT ... ON CONFLICT (feed_id, identity) DO NOTHING RETURNING id, for this database."""
    key = [entries.c.feed_id, entries.c.identity]
    if conn.dialect.name == "postgresql":
        return (
            postgresql.insert(entries)
            .on_conflict_do_nothing(index_elements=key)
            .returning(entries.c.id)
        )
    return sqlite.insert(entries).on_conflict_do_nothing(index_elements=key).returning(entries.c.id)


def count(engine: Engine, feed_id: int | None = None) -> int:
    """How many entries the store holds (for one feed, or all)."""
    query = select(func.count()).select_from(entries)
    if feed_id is not None:
        query = query.where(entries.c.feed_id == feed_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _row(item: Entry) -> dict[str, Any]:
    return {
        "identity": item.identity,
        "guid": item.guid,
        "title": item.title,
        "link": item.link,
        "authors": list(item.authors),
        "published_at": item.published,
        "updated_at": item.updated,
        "summary_html": item.summary_html,
        "content_html": item.content_html,
        "excerpt": item.excerpt,
        "image": item.image,
        "image_width": item.image_width,
        "tags": list(item.tags),
        "enclosures": [asdict(enclosure) for enclosure in item.enclosures],
        "content_hash": item.content_hash,
    }
