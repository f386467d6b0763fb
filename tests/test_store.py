"""The store on SQLite and PostgreSQL: schema upgrades, feed sync, leases, entry upserts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text

from ingest.errors import StoreError
from ingest.models import Entry, FeedSpec
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import current_revision, head_revision, open_store
from ingest.store.schema import entries

NOW = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
SPECS = [
    FeedSpec("https://a.example/feed", "A", ("world",)),
    FeedSpec("https://b.example/feed", None, ("tech",), interval=3600),
]


def entry(identity: str, title: str = "Title", digest: str = "h1", **kw: object) -> Entry:
    return Entry(
        identity=identity,
        title=title,
        link=f"https://a.example/{identity}",
        content_hash=digest,
        **kw,
    )  # type: ignore[arg-type]


def test_open_creates_the_versioned_schema(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"feeds", "entries", "deliveries", "workers", "alembic_version"} <= tables
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()


def test_reopening_keeps_data(store_url: str) -> None:
    engine = open_store(store_url)
    stored_feeds.sync(engine, SPECS, NOW)
    engine.dispose()
    again = open_store(store_url)
    assert [row["url"] for row in stored_feeds.health(again)] == [s.url for s in SPECS]
    again.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the store") as caught:
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert "check that the server is running and the database exists" in str(caught.value)
    with pytest.raises(StoreError, match="only sqlite"):
        open_store("mysql://localhost/db")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(
        StoreError, match=r"cannot create the folder .* for the SQLite store: "
    ) as caught:
        open_store(f"sqlite:///{tmp_path}/file/data/broadsheet.db")
    assert str(caught.value).endswith(
        "change [storage] url in the config (or BROADSHEET_DATABASE_URL)"
    )


def test_sync_adds_updates_and_retires_feeds(engine: Engine) -> None:
    stored_feeds.sync(engine, SPECS, NOW)
    stored_feeds.sync(engine, [FeedSpec("https://a.example/feed", "A2", ("world", "x"))], NOW)
    rows = stored_feeds.health(engine)
    assert [(r["url"], r["title"], r["tags"]) for r in rows] == [
        ("https://a.example/feed", "A2", ["world", "x"])
    ]


def test_claims_are_leased_once_until_released_or_expired(engine: Engine) -> None:
    stored_feeds.sync(engine, SPECS, NOW)
    first = stored_feeds.claim(engine, "w1", NOW, 300, 10, since=NOW)
    assert [f.url for f in first] == [s.url for s in SPECS]
    assert stored_feeds.claim(engine, "w2", NOW, 300, 10, since=NOW) == []
    later = NOW + timedelta(seconds=301)
    assert len(stored_feeds.claim(engine, "w2", later, 300, 10, since=NOW)) == 2  # lease expired


def test_a_feed_fetched_this_round_is_not_claimed_again(engine: Engine) -> None:
    stored_feeds.sync(engine, SPECS[:1], NOW)
    (feed,) = stored_feeds.claim(engine, "w1", NOW, 300, 10, since=NOW)
    with engine.begin() as conn:
        stored_feeds.release(conn, feed.id, {"last_fetch_at": NOW, "next_poll_at": NOW}, owner="w1")
    assert stored_feeds.claim(engine, "w1", NOW, 300, 10, since=NOW) == []
    assert stored_feeds.claim(engine, "w1", NOW, 300, 10, since=NOW, everything=True) == []
    next_round = NOW + timedelta(seconds=1)
    assert len(stored_feeds.claim(engine, "w1", next_round, 300, 10, since=next_round)) == 1


def test_upsert_inserts_updates_and_keeps_first_seen(engine: Engine) -> None:
    stored_feeds.sync(engine, SPECS[:1], NOW)
    (feed,) = stored_feeds.claim(engine, "w", NOW, 300, 1, since=NOW)
    with engine.begin() as conn:
        assert stored_entries.upsert(conn, feed.id, [entry("1"), entry("2")], NOW) == (2, 0)
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:
        changed = [entry("1", "Title, corrected", "h2"), entry("2"), entry("3")]
        assert stored_entries.upsert(conn, feed.id, changed, later) == (1, 1)
    with engine.connect() as conn:
        rows = {r.identity: r for r in conn.execute(select(entries))}
    assert rows["1"].title == "Title, corrected"
    assert rows["1"].first_seen_at == NOW and rows["1"].changed_at == later
    assert rows["1"].published_at == NOW  # no date in the feed: first seen
    assert rows["3"].first_seen_at == later
    assert stored_entries.count(engine, feed.id) == 3


def test_a_failed_transaction_leaves_nothing(engine: Engine) -> None:
    stored_feeds.sync(engine, SPECS[:1], NOW)
    (feed,) = stored_feeds.claim(engine, "w", NOW, 300, 1, since=NOW)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        stored_entries.upsert(conn, feed.id, [entry("1")], NOW)
        raise RuntimeError("crash mid-feed")
    assert stored_entries.count(engine) == 0
