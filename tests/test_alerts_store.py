"""The alerts ledger on both databases: a claim is taken once; a failed send is taken again later;
the upgrade to the alerts schema dates the failures already under way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from alembic import command
from sqlalchemy import Engine

from ingest.store import alerts as stored
from ingest.store.database import _alembic_config, create, upgrade
from ingest.store.schema import entries, feeds

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=20)
OPS = "ops@example.org"


def alert(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "failing",
        "feed_url": "https://a.example/feed",
        "feed_title": "A",
        "detail": "HTTP 500 Internal Server Error",
        "since": NOW - timedelta(hours=7),
        "until": None,
        "last_success": None,
    }


def test_an_alert_is_claimed_by_one_process_and_held_until_sent(engine: Engine) -> None:
    until = NOW + timedelta(minutes=10)
    assert stored.claim(engine, OPS, [alert("k1")], owner="one", now=NOW, until=until) == 1
    assert stored.claim(engine, OPS, [alert("k1")], owner="two", now=NOW, until=until) == 0
    assert stored.take(engine, OPS, owner="two", now=NOW, until=until) == []
    (held,) = stored.take(engine, OPS, owner="one", now=NOW, until=until)
    assert (held.key, held.attempts, held.state) == ("k1", 1, "pending")
    stored.sent(engine, [held.id], "one", NOW, "<a@example.org>")
    assert stored.take(engine, OPS, owner="two", now=LATER, until=LATER) == []
    (row,) = stored.announced(engine)
    assert (row.state, row.message_id, row.sent_at) == ("sent", "<a@example.org>", NOW)


def test_a_failed_send_is_taken_again_by_the_next_run_and_a_crashed_claim_once_it_ran_out(
    engine: Engine,
) -> None:
    until = NOW + timedelta(minutes=10)
    stored.claim(engine, OPS, [alert("k1"), alert("k2")], owner="one", now=NOW, until=until)
    first = stored.take(engine, OPS, owner="one", now=NOW, until=until)
    stored.failed(engine, [first[0].id], "one", "refused", NOW, "<m@example.org>")
    assert [row.key for row in stored.retrying(engine, OPS, NOW)] == ["k1"]
    again = stored.take(engine, OPS, owner="two", now=NOW, until=until)
    assert [(row.key, row.attempts) for row in again] == [("k1", 2)]
    # "one" crashed holding k2: it is free once its claim ran out.
    assert [row.key for row in stored.take(engine, OPS, owner="two", now=LATER, until=LATER)] == [
        "k1",
        "k2",
    ]


def test_the_upgrade_dates_failures_under_way_and_the_downgrade_keeps_entries(
    tmp_path: Path,
) -> None:
    engine = create(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        command.upgrade(_alembic_config(conn), "0007_subscribers")
        conn.commit()
    columns = ("config_url", "url", "tags", "enabled", "in_config", "consecutive_failures")
    table = sqlalchemy.table(
        "feeds",
        *(sqlalchemy.column(name, feeds.c[name].type) for name in columns),
        sqlalchemy.column("last_success_at", feeds.c.last_success_at.type),
        sqlalchemy.column("created_at", feeds.c.created_at.type),
        sqlalchemy.column("duplicates", feeds.c.duplicates.type),
    )
    base = {"tags": [], "enabled": True, "in_config": True, "duplicates": 0, "created_at": NOW}
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                base
                | {"config_url": "a", "url": "a", "consecutive_failures": 3}
                | {"last_success_at": NOW + timedelta(days=1)},
                base
                | {"config_url": "b", "url": "b", "consecutive_failures": 0}
                | {"last_success_at": NOW},
            ],
        )
        values: dict[str, Any] = {"feed_id": 1, "identity": "e", "title": "Kept"}
        values |= {"content_hash": "h", "authors": [], "tags": [], "enclosures": []}
        values |= {"summary_html": "", "content_html": "", "excerpt": ""}
        values |= {"published_at": NOW, "first_seen_at": NOW, "changed_at": NOW}
        # Only the columns the 0007 schema has: the table as it was then.
        columns = (sqlalchemy.column(name, entries.c[name].type) for name in values)
        conn.execute(sqlalchemy.table("entries", *columns).insert().values(values))
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.select(feeds.c.config_url, feeds.c.failing_since))
        found = {row.config_url: row.failing_since for row in rows}
    assert found == {"a": NOW + timedelta(days=1), "b": None}
    with engine.connect() as conn:
        command.downgrade(_alembic_config(conn), "0007_subscribers")
        conn.commit()
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM entries")).scalar_one() == 1
    engine.dispose()
