"""Entries' article text in the store: which wait for it, what a try came to, tallies per feed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from ingest.models import ArticleOutcome, PendingArticle
from ingest.store.schema import entries

PENDING = "pending"
OK = "ok"


def pending(engine: Engine, feed_id: int, limit: int) -> list[PendingArticle]:
    """Up to ``limit`` of the feed's entries waiting for their article's text, newest first."""
    query = (
        select(
            entries.c.id,
            entries.c.link,
            entries.c.full_text_tries,
            entries.c.summary_html,
            entries.c.content_html,
        )
        .where(entries.c.feed_id == feed_id, entries.c.full_text_status == PENDING)
        .order_by(entries.c.first_seen_at.desc(), entries.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        PendingArticle(row.id, row.link, row.full_text_tries, row.content_html or row.summary_html)
        for row in rows
        if row.link
    ]


def record(engine: Engine, article: PendingArticle, outcome: ArticleOutcome, now: datetime) -> bool:
    """Store what a try came to; False, writing nothing, when another try got there first."""
    values = {
        "full_text_status": outcome.status,
        "full_text_tries": outcome.tries,
        "full_text_at": now,
        "full_text_html": _storable(outcome.html),
        "full_text": _storable(outcome.text),
    }
    with engine.begin() as conn:
        done = conn.execute(
            update(entries)
            .where(
                entries.c.id == article.entry_id,
                entries.c.full_text_status == PENDING,
                entries.c.full_text_tries == article.tries,
            )
            .values(**values)
        )
    return bool(done.rowcount)


def _storable(text: str) -> str | None:
    return text.replace("\x00", "") or None  # PostgreSQL text holds no NUL


def tallies(conn: Connection) -> dict[int, dict[str, Any]]:
    """Per feed id: articles extracted ("ok"), tried to an end, pending, and each fallback's count."""
    query = (
        select(entries.c.feed_id, entries.c.full_text_status, func.count().label("n"))
        .where(entries.c.full_text_status.is_not(None))
        .group_by(entries.c.feed_id, entries.c.full_text_status)
    )
    found: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"ok": 0, "tried": 0, "pending": 0, "fallbacks": {}}
    )
    for row in conn.execute(query):
        tally = found[row.feed_id]
        if row.full_text_status == PENDING:
            tally["pending"] += row.n
            continue
        tally["tried"] += row.n
        if row.full_text_status == OK:
            tally["ok"] += row.n
        else:
            tally["fallbacks"][row.full_text_status] = row.n
    return dict(found)
