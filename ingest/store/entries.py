"""Entries in the store: insert new ones, update changed ones, keep when each was first seen."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Row, Select, bindparam, func, select, update

from ingest.models import Enclosure, Entry
from ingest.store.schema import entries, feeds
from ingest.urls import without_fragment

IDENTITY_RULE = 2  # the rule ingest.normalize gives identities by (see schema.entries)
LEGACY_RULE = 1  # before schema 0005: a guid-less entry was known by its link alone
_CHUNK = 500

# Built once: every feed of a round runs the same statements, and building one (its expressions
# and its cache key) costs more than running it on a feed's handful of entries.
_COLUMNS = ("id", "identity", "identity_rule", "content_hash", "title", "link", "published_at")
_STORED = select(*(entries.c[name] for name in _COLUMNS)).where(
    entries.c.feed_id == bindparam("feed_id"),
    entries.c.identity.in_(bindparam("identities", expanding=True)),
)
_LEGACY = _STORED.where(entries.c.identity_rule == LEGACY_RULE)
_SET = update(entries).where(entries.c.id == bindparam("row_id"))  # values: the parameters
_REPLACED = (
    update(feeds)
    .where(feeds.c.id == bindparam("feed_id"))
    .values(replaced=feeds.c.replaced + bindparam("replaced"))
)
_INSERTS: dict[str, Insert] = {}  # by dialect name
_ENCLOSURE_FIELDS = tuple(field.name for field in fields(Enclosure))


def upsert(
    conn: Connection,
    feed_id: int,
    items: Sequence[Entry],
    now: datetime,
    backlog: frozenset[str] = frozenset(),
    *,
    full_text: bool = False,
) -> tuple[int, int]:
    """Store a feed's entries inside the caller's transaction; returns (new, updated) counts.

    An entry already stored keeps its first-seen time; its content is replaced only when its
    content hash changed. A missing published date falls back to first-seen. A row stored under
    the old identity rule is found by the entry's legacy identity once and takes the new one.
    An update that changes both title and link is counted on the feed as a replacement.
    A new entry whose identity is in ``backlog`` is stored as backlog (see ``ingest/backlog.py``).
    With ``full_text`` every other new entry with a link waits for its article's text (pending).
    An entry another transaction inserted meanwhile is skipped, not an error: this feed's
    transaction goes on.
    """
    if not items:
        return 0, 0
    known = _stored(conn, feed_id, [item.identity for item in items])
    taken = {row.id for row in known.values()}
    known |= _adopt(conn, feed_id, [i for i in items if i.identity not in known], taken)
    fresh = [
        _row(
            item,
            feed_id=feed_id,
            published_at=item.published or now,
            first_seen_at=now,
            changed_at=now,
            backlog=item.identity in backlog,
            full_text_status=_wanted(item, full_text, backlog),
        )
        for item in items
        if item.identity not in known
    ]
    inserted = _insert_new(conn, fresh) if fresh else 0
    updated = replaced = 0
    for item in items:
        stored = known.get(item.identity)
        if stored is None:
            continue
        if stored.content_hash == item.content_hash:
            if stored.identity_rule != IDENTITY_RULE or stored.identity != item.identity:
                _set(conn, stored.id, identity=item.identity, identity_rule=IDENTITY_RULE)
            continue
        values = _row(item, changed_at=now)
        if values["published_at"] is None:
            del values["published_at"]
        _set(conn, stored.id, **values)
        updated += 1
        replaced += replaces(stored, item)
    if replaced:
        conn.execute(_REPLACED, {"feed_id": feed_id, "replaced": replaced})
    return inserted, updated


def _wanted(item: Entry, full_text: bool, backlog: frozenset[str]) -> str | None:
    """A new entry's first full-text status: "pending" when its article is to be fetched."""
    return "pending" if full_text and item.link and item.identity not in backlog else None


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the rows, skipping any another transaction inserted meanwhile; how many went in.

    All of a feed's new entries go in one execution: on PostgreSQL one multi-row INSERT ...
    RETURNING (one round trip), on SQLite the driver's executemany of one prepared statement,
    counted by its rowcount (the rows each execution changed, summed: a skipped row adds none),
    which costs less than building and preparing a statement as long as the rows.
    """
    name = conn.dialect.name
    if (statement := _INSERTS.get(name)) is None:
        statement = _INSERTS[name] = _build_insert(name)
    result = conn.execute(statement, rows)
    return len(result.all()) if name == "postgresql" else result.rowcount


def _build_insert(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (feed_id, identity) DO NOTHING, RETURNING id on PostgreSQL."""
    key = [entries.c.feed_id, entries.c.identity]
    # Imported here: a round on SQLite never loads the PostgreSQL dialect (about 30 ms).
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return (
            postgresql.insert(entries)
            .on_conflict_do_nothing(index_elements=key)
            .returning(entries.c.id)
        )
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(entries).on_conflict_do_nothing(index_elements=key)


def replaces(stored: Any, item: Entry) -> bool:
    """True when ``item`` overwrites another article: its title and its link both differ."""
    links = (stored.link, item.link)
    return stored.title != item.title and None not in links and links[0] != links[1]


def count(engine: Engine, feed_id: int | None = None) -> int:
    """How many entries the store holds (for one feed, or all)."""
    query = select(func.count()).select_from(entries)
    if feed_id is not None:
        query = query.where(entries.c.feed_id == feed_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _stored(
    conn: Connection,
    feed_id: int,
    identities: Collection[str],
    query: Select[Any] = _STORED,
) -> dict[str, Row[Any]]:
    """The feed's stored rows with these identities (``query``: _STORED or _LEGACY), by identity."""
    ordered = sorted(identities)
    found: dict[str, Row[Any]] = {}
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        rows = conn.execute(query, {"feed_id": feed_id, "identities": chunk})
        found.update({row.identity: row for row in rows})
    return found


def _adopt(
    conn: Connection, feed_id: int, items: Iterable[Entry], taken: set[int]
) -> dict[str, Row[Any]]:
    """Rows stored under the old rule that these new-to-the-store entries are, by new identity.

    Under the old rule entries sharing a link shared one row; the entry with that row's title
    (and date, when several have it) takes the row, the others are new. Nothing else does: a
    row whose title no entry has keeps the article it holds.
    """
    by_legacy: dict[str, list[Entry]] = defaultdict(list)
    for item in items:
        if legacy := legacy_identity(item):
            by_legacy[legacy].append(item)
    if not by_legacy:
        return {}
    rows = _stored(conn, feed_id, by_legacy, _LEGACY)
    adopted: dict[str, Row[Any]] = {}
    for legacy, row in rows.items():
        if row.id in taken:
            continue
        same = [item for item in by_legacy[legacy] if item.title == row.title]
        dated = [item for item in same if item.published == row.published_at]
        if chosen := (dated or same)[:1]:
            adopted[chosen[0].identity] = row
    return adopted


def legacy_identity(item: Entry) -> str | None:
    """The identity rule 1 gave ``item``, where it differs: a guid-less entry's bare link."""
    return without_fragment(item.link) if item.link and not item.guid else None


def _set(conn: Connection, row_id: int, **values: Any) -> None:
    conn.execute(_SET, {"row_id": row_id, **values})


def _row(item: Entry, **more: Any) -> dict[str, Any]:
    """The entry's columns (``more`` added or overriding), as the insert and update take them."""
    return {
        "identity": item.identity,
        "identity_rule": IDENTITY_RULE,
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
        "enclosures": [_enclosure(enclosure) for enclosure in item.enclosures],
        "content_hash": item.content_hash,
        **more,
    }


def _enclosure(enclosure: Enclosure) -> dict[str, Any]:
    """An enclosure as its JSON column holds it (what ``dataclasses.asdict`` gives, for less)."""
    return {name: getattr(enclosure, name) for name in _ENCLOSURE_FIELDS}
