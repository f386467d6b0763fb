"""The ledger's promises: each digest once, each story once, a retry the same as its first try.

Real parts: aiosmtpd (slow on purpose where it matters), SQLite and the local PostgreSQL, a
poll's transaction held open in a connection of its own.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp import SmtpServer, free_port
from sqlalchemy import Engine
from stores import fresh_pg_schema
from test_delivery import DUE, FEEDS, run, settings_for, store_entries

from broadsheet import config
from digests import ledger
from digests.deliver import Delivery, DigestReport, deliver_due
from digests.mail import SmtpError, SmtpOutcomeUnknown, SmtpRejected
from digests.settings import DigestSettings
from ingest.models import Entry
from ingest.store import deliveries, schema
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import _alembic_config, create, open_store, upgrade


def text_of(message: Any) -> str:
    """The plain-text part of a received digest."""
    return str(message.get_body(("plain",)).get_content())


def many(tmp_path: Path, smtp_port: int, people: int) -> config.Settings:
    """``people`` subscribers, each due a first digest at once, mailed through ``smtp_port``."""
    raw = {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
        "digests": {"output_dir": "out", "send_empty": True},
        "subscribers": [
            {"email": f"reader{n}@example.org", "schedule": "daily 07:00", "deliver": ["email"]}
            for n in range(people)
        ],
    }
    return config.parse(raw, tmp_path / "broadsheet.toml")


def test_overlapping_runs_behind_a_slow_server_send_each_digest_once(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    people = 16
    s = many(tmp_path, smtp_server.port, people)
    smtp_server.sink.delay = 0.25  # a run takes many leases' worth of time
    reports: list[DigestReport] = []

    def digest_run(name: str) -> None:
        reports.append(
            deliver_due(
                engine,
                Delivery(s.smtp, s.digests),
                s.subscribers,
                lambda: datetime.now(UTC),
                owner=name,
                lease=1.0,
            )
        )

    first = threading.Thread(target=digest_run, args=("first",))
    first.start()
    while len(smtp_server.messages) < 3 and first.is_alive():  # well past the first lease
        threading.Event().wait(0.05)
    second = threading.Thread(target=digest_run, args=("second",))
    second.start()
    first.join(timeout=120)
    second.join(timeout=120)

    ids = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert len(ids) == people and set(ids.values()) == {1}, ids
    assert sum(r.sent for r in reports) == people and all(r.failed == 0 for r in reports)
    rows = deliveries.history(engine)
    assert Counter(r["state"] for r in rows) == {"sent": people}
    assert all(r["attempts"] == 1 for r in rows)


def item(identity: str, title: str) -> Entry:
    return Entry(
        identity=identity,
        title=title,
        link=f"https://late.example/{identity}",
        excerpt=f"The lead of {title}.",
        content_hash=identity,
    )


def test_an_entry_a_poll_commits_late_reaches_the_next_digest_exactly_once(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    engine = open_store(fresh_pg_schema())
    s = settings_for(tmp_path, smtp_server.port, deliver=["email"])
    store_entries(engine, DUE - timedelta(hours=3), (0, "early", "Early story"))
    feed = stored_feeds.get(engine, FEEDS[1].url)
    assert feed is not None
    with engine.connect() as poll:  # a poll first saw it 89 s before the digest was due...
        transaction = poll.begin()
        late = item("late", "Late story")
        stored_entries.upsert(poll, feed.id, [late], DUE - timedelta(seconds=89))
        first = run(engine, s, DUE + timedelta(seconds=30))  # ...and commits after the digest
        transaction.commit()
    second = run(engine, s, DUE + timedelta(days=1, minutes=1))
    assert (first.sent, second.sent) == (1, 1)
    mailed = [text_of(m) for m in smtp_server.messages]
    assert "Early story" in mailed[0] and "Late story" not in mailed[0]
    assert "Late story" in mailed[1] and "Early story" not in mailed[1]
    engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arrivals=st.lists(st.integers(min_value=0, max_value=10 * 24 * 60), min_size=1, max_size=30),
    runs=st.lists(st.integers(min_value=1, max_value=10 * 24 * 60), min_size=1, max_size=20),
)
def test_consecutive_windows_neither_skip_nor_repeat(
    tmp_path_factory: pytest.TempPathFactory, database: str, arrivals: list[int], runs: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("windows")
    url = f"sqlite:///{folder / 'store.db'}" if database == "sqlite" else fresh_pg_schema()
    engine = open_store(url)
    s = settings_for(folder, free_port(), deliver=["markdown"], max_per_feed=1000, max_items=1000)
    start = DUE - timedelta(hours=1)
    events = sorted(
        [(minute, 0, n) for n, minute in enumerate(arrivals)] + [(m, 1, 0) for m in set(runs)]
    )
    for minute, kind, n in events:  # stories arrive between digests, as a poll stores them
        when = start + timedelta(minutes=minute)
        if kind == 0:
            store_entries(engine, when, (n % 2, f"e{n}", f"Story {n}"))
        else:
            run(engine, s, when, force=minute % 3 == 0)
    run(engine, s, start + timedelta(days=12))
    seen: Counter[int] = Counter()
    for path in (folder / "out").rglob("*.md"):
        seen.update({int(n) for n in re.findall(r"example/e(\d+)\b", path.read_text())})
    rows = deliveries.history(engine)
    # Every story since the first digest's window opened (a first digest covers one period).
    opened = rows[0]["window_start"]
    expected = [n for n, m in enumerate(arrivals) if start + timedelta(minutes=m) >= opened]
    assert seen == Counter(expected)  # each in exactly one digest
    assert all(a["window_end"] == b["window_start"] for a, b in itertools.pairwise(rows))
    assert all(a["seal_end"] <= b["seal_end"] for a, b in itertools.pairwise(rows))
    engine.dispose()


def test_a_refused_digest_is_given_up_after_three_attempts_and_the_next_one_goes_out(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    smtp_server.sink.reject_rcpt = "550 5.1.1 No such user"
    s = settings_for(tmp_path, smtp_server.port, deliver=["email"])
    store_entries(engine, DUE - timedelta(hours=2), (0, "a", "First story"))
    reports = [run(engine, s, DUE + timedelta(hours=h)) for h in (0, 1, 2)]
    assert [(r.failed, r.abandoned) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    assert "1 given up" in reports[2].summary()
    (error,) = reports[2].errors
    assert error["state"] == "abandoned"
    assert "gave up after 3 attempts refused by the mail server" in error["error"]
    assert "550 5.1.1 No such user" in error["error"]
    (row,) = deliveries.history(engine)
    assert (row["state"], row["attempts"]) == ("abandoned", 3)
    assert row["last_error"] == error["error"]
    assert run(engine, s, DUE + timedelta(hours=20)).due == 0  # given up is finished

    smtp_server.sink.reset()  # the address is mended; the next window goes out as usual
    store_entries(engine, DUE + timedelta(hours=5), (1, "b", "Second story"))
    after = run(engine, s, DUE + timedelta(days=1, minutes=1))
    assert after.sent == 1
    (message,) = smtp_server.messages
    assert "Second story" in text_of(message) and "First story" not in text_of(message)
    abandoned, sent = deliveries.history(engine)
    assert sent["window_start"] == abandoned["window_end"] and sent["state"] == "sent"


def test_a_temporary_refusal_is_retried_for_as_long_as_it_lasts(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    smtp_server.sink.reply = "451 4.3.0 Try again later"
    s = settings_for(tmp_path, smtp_server.port, deliver=["email"])
    store_entries(engine, DUE - timedelta(hours=2), (0, "a", "First story"))
    reports = [run(engine, s, DUE + timedelta(hours=7 * h)) for h in range(5)]
    assert [(r.failed, r.abandoned) for r in reports] == [(1, 0)] * 5
    smtp_server.sink.reset()
    assert run(engine, s, DUE + timedelta(hours=40)).sent == 1
    (row,) = deliveries.history(engine)
    assert (row["state"], row["attempts"]) == ("sent", 6)


@pytest.mark.parametrize(
    ("error", "gives_up_at"),
    [
        (SmtpOutcomeUnknown("no reply to the end of DATA within 600 s"), 3),
        (SmtpRejected("550 5.1.1 No such user"), 3),
        (SmtpError("451 4.3.0 Try again later"), None),
    ],
)
def test_refusals_and_unknown_outcomes_are_tried_three_times_other_failures_back_off(
    error: SmtpError, gives_up_at: int | None
) -> None:
    now, digests = DUE, DigestSettings(retry_base=300, retry_max=3600)
    for attempts in range(1, 8):
        verdict = ledger.after_failure(error, attempts, now, digests)
        if attempts == gives_up_at:
            assert verdict.retry_at is None and str(error) in verdict.reason
            assert "gave up after 3 attempts" in verdict.reason
            return
        assert verdict.retry_at == now + min(
            timedelta(seconds=300 * 2 ** (attempts - 1)), timedelta(hours=1)
        )
    assert gives_up_at is None


def first_schema_entries(engine: Engine, when: datetime, *items: tuple[int, str, str]) -> None:
    """Entries (feed index, identity, title) first seen at ``when``, in the first schema's columns.

    Today's store helpers would write and read the columns added since.
    """
    feed_columns = ("config_url", "url", "tags", "enabled", "in_config", "created_at")
    feed_columns += ("consecutive_failures", "duplicates")
    old_feeds = sqlalchemy.table(
        "feeds", *(sqlalchemy.column(name, schema.feeds.c[name].type) for name in feed_columns)
    )
    with engine.begin() as conn:
        known = set(conn.execute(sqlalchemy.select(schema.feeds.c.config_url)).scalars())
        for feed in FEEDS:
            if feed.url not in known:
                conn.execute(
                    old_feeds.insert().values(
                        config_url=feed.url,
                        url=feed.url,
                        tags=list(feed.tags),
                        enabled=True,
                        in_config=True,
                        created_at=when,
                        consecutive_failures=0,
                        duplicates=0,
                    )
                )
        rows = conn.execute(sqlalchemy.select(schema.feeds.c.config_url, schema.feeds.c.id))
        ids = {row.config_url: row.id for row in rows}
        for index, identity, title in items:
            values: dict[str, Any] = {"feed_id": ids[FEEDS[index].url], "identity": identity}
            values |= {"title": title, "content_hash": identity, "authors": [], "tags": []}
            values |= {"enclosures": [], "summary_html": "", "content_html": "", "excerpt": ""}
            values |= {"published_at": when, "first_seen_at": when, "changed_at": when}
            columns = (sqlalchemy.column(name, schema.entries.c[name].type) for name in values)
            conn.execute(sqlalchemy.table("entries", *columns).insert().values(values))


def test_an_older_store_keeps_its_windows_after_the_upgrade(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create(url)
    with engine.connect() as conn:  # a store as the first schema left it
        command.upgrade(_alembic_config(conn), "0001")
        conn.commit()
    first_schema_entries(engine, DUE - timedelta(hours=30), (0, "old", "Already sent"))
    first_schema_entries(engine, DUE - timedelta(hours=2), (1, "new", "Not sent yet"))
    with engine.begin() as conn:
        conn.execute(
            schema.deliveries.insert().values(
                subscriber="ann@example.org",
                window_start=DUE - timedelta(days=2),
                window_end=DUE - timedelta(days=1),
                state="sent",
                attempts=1,
                entries=1,
                channels=["email"],
                created_at=DUE - timedelta(days=1),
            )
        )
    upgrade(engine)
    s = settings_for(tmp_path, smtp_server.port, deliver=["email"])
    assert run(engine, s, DUE + timedelta(minutes=1)).sent == 1
    store_entries(engine, DUE + timedelta(hours=2), (0, "next", "Next day"))
    assert run(engine, s, DUE + timedelta(days=1, minutes=1)).sent == 1
    first, second = (text_of(m) for m in smtp_server.messages)
    assert "Not sent yet" in first and "Already sent" not in first and "Next day" not in first
    assert "Next day" in second and "Not sent yet" not in second
    engine.dispose()
