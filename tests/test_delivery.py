"""Digest delivery: real SMTP (aiosmtpd), real files, the ledger's exactly-once promise."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp import SmtpServer, free_port
from sqlalchemy import Engine

from broadsheet import config
from digests.deliver import Delivery, deliver_due
from ingest.models import Entry, FeedSpec
from ingest.store import deliveries
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import open_store

# Tuesday 29 March 2022, 07:00 in Berlin (CEST, UTC+2) is 05:00 UTC.
DUE = datetime(2022, 3, 30, 5, 0, tzinfo=UTC)
FEEDS = [
    FeedSpec("https://wire.example/feed", "Northwind Wire", ("world",)),
    FeedSpec("https://harbor.example/atom", "Harbor Times", ("world",)),
]


def settings_for(tmp_path: Path, smtp_port: int, **subscriber: Any) -> config.Settings:
    raw = {
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "from": "The Desk <desk@broadsheet.example>",
        },
        "digests": {"output_dir": "out", "title": "The Broadsheet"},
        "subscribers": [
            {
                "email": "ann@example.org",
                "name": "Ann Example",
                "schedule": "daily 07:00",
                "timezone": "Europe/Berlin",
                "deliver": ["email", "markdown"],
            }
            | subscriber
        ],
    }
    return config.parse(raw, tmp_path / "broadsheet.toml")


def store_entries(engine: Engine, when: datetime, *items: tuple[int, str, str]) -> None:
    """Store entries (feed index, identity, title) first seen at ``when``."""
    stored_feeds.sync(engine, FEEDS, when)
    health = {row["url"]: row for row in stored_feeds.health(engine)}
    for index, identity, title in items:
        feed = stored_feeds.get(engine, FEEDS[index].url)
        assert feed is not None and FEEDS[index].url in health
        item = Entry(
            identity=identity,
            title=title,
            link=f"https://site{index}.example/{identity}",
            authors=("Mara Velden",),
            published=when - timedelta(minutes=5),
            excerpt=f"The lead of {title}.",
            content_hash=identity,
            summary_html="<p>Summary <strong>bold</strong></p>",
        )
        with engine.begin() as conn:
            stored_entries.upsert(conn, feed.id, [item], when)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


def run(engine: Engine, s: config.Settings, now: datetime, **kw: Any) -> Any:
    """A digest run at ``now`` (the clock stands still: these tests are about windows)."""
    return deliver_due(
        engine, Delivery(s.smtp, s.digests), s.subscribers, lambda: now, owner="test", **kw
    )


def test_a_due_digest_arrives_as_text_and_html_with_list_headers(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port)
    store_entries(
        engine,
        DUE - timedelta(hours=3),
        (0, "a", "Talks resume <today> & tomorrow"),
        (1, "b", "Port strike enters third week"),
    )
    report = run(engine, s, DUE + timedelta(minutes=1))
    assert (report.due, report.sent, report.written, report.failed) == (1, 1, 1, 0)
    (message,) = smtp_server.messages
    assert message["To"] == "Ann Example <ann@example.org>"
    assert message["From"] == "The Desk <desk@broadsheet.example>"
    assert message["Subject"] == "The Broadsheet — Wed 30 Mar 2022"
    assert message["List-Id"] == "<digest.broadsheet.invalid>"
    assert message["List-Unsubscribe"] == "<mailto:desk@broadsheet.example?subject=unsubscribe>"
    assert message["Message-ID"].startswith("<digest.") and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Talks resume <today> & tomorrow" in text
    assert "Talks resume &lt;today&gt; &amp; tomorrow" in html
    assert "https://site0.example/a" in text and 'href="https://site0.example/a"' in html
    assert "<script" not in html.lower() and "onclick" not in html.lower()
    (path,) = report.files
    assert Path(path) == tmp_path / "out" / "ann@example.org" / "2022-03-30.md"
    assert "Port strike enters third week" in Path(path).read_text()
    rows = deliveries.history(engine)
    assert [(r["state"], r["entries"]) for r in rows] == [("sent", 2)]
    assert rows[0]["window_end"] == DUE + timedelta(minutes=1)  # a first digest ends when sent
    assert rows[0]["message_id"] == message["Message-ID"]


def test_a_repeated_run_sends_nothing(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port)
    store_entries(engine, DUE - timedelta(hours=1), (0, "a", "One"))
    assert run(engine, s, DUE + timedelta(hours=2)).sent == 1
    for later in (2, 3, 20):
        again = run(engine, s, DUE + timedelta(hours=later))
        assert (again.due, again.sent) == (0, 0)
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        ("down", "refused the connection: check [smtp] host and port"),
        ("451 4.3.0 Try again later", "451"),
        ("550 5.1.1 No such user", "rejected the recipient"),
    ],
)
def test_smtp_failures_are_retried_with_the_same_window_and_nothing_is_lost(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer, refusal: str, expected: str
) -> None:
    port = free_port() if refusal == "down" else smtp_server.port
    if refusal.startswith("451"):
        smtp_server.sink.reply = refusal
    elif refusal.startswith("550"):
        smtp_server.sink.reject_rcpt = refusal
    s = settings_for(tmp_path, port, deliver=["email"])
    store_entries(engine, DUE - timedelta(hours=2), (0, "a", "First story"))
    failed = run(engine, s, DUE)
    assert (failed.failed, failed.sent) == (1, 0)
    assert expected in failed.errors[0]["error"]
    (row,) = deliveries.history(engine)
    assert row["state"] == "failed" and expected in row["last_error"]
    # Before the backoff has passed nothing is retried.
    assert run(engine, s, DUE + timedelta(minutes=1)).due == 0
    # A later story arrives while the server is down: the retry carries the same stories as
    # the first attempt, under the same Message-ID, and the new one waits for the next window.
    store_entries(engine, DUE + timedelta(hours=1), (1, "b", "Second story"))
    smtp_server.sink.reset()
    fixed = settings_for(tmp_path, smtp_server.port, deliver=["email"])
    retried = run(engine, fixed, DUE + timedelta(hours=2))
    assert (retried.sent, retried.failed) == (1, 0)
    nxt = run(engine, fixed, DUE + timedelta(days=1, minutes=1))
    assert (nxt.sent, nxt.failed) == (1, 0)
    first, second = smtp_server.messages
    assert "First story" in text_of(first) and "Second story" not in text_of(first)
    assert "Second story" in text_of(second) and "First story" not in text_of(second)
    retry_row, next_row = deliveries.history(engine)
    assert (retry_row["state"], retry_row["attempts"]) == ("sent", 2)
    assert retry_row["message_id"] == first["Message-ID"] == row["message_id"]
    assert (retry_row["window_start"], retry_row["window_end"]) == (
        row["window_start"],
        row["window_end"],
    )
    assert next_row["window_start"] == retry_row["window_end"]


def text_of(message: Any) -> str:
    """The plain-text part of a received digest."""
    return str(message.get_body(("plain",)).get_content())


def test_empty_digests_are_skipped_but_advance_the_window(
    tmp_path: Path, sqlite_engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port)
    report = run(sqlite_engine, s, DUE)
    assert (report.due, report.skipped_empty, report.sent) == (1, 1, 0)
    assert smtp_server.messages == []
    (row,) = deliveries.history(sqlite_engine)
    assert (row["state"], row["window_end"]) == ("skipped", DUE)


def test_dry_run_records_nothing(
    tmp_path: Path, sqlite_engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port)
    store_entries(sqlite_engine, DUE - timedelta(hours=1), (0, "a", "One"))
    report = run(sqlite_engine, s, DUE, dry_run=True)
    assert report.due == 1 and report.sent == 0
    assert smtp_server.messages == [] and deliveries.history(sqlite_engine) == []


def test_after_downtime_one_digest_covers_the_gap(
    tmp_path: Path, sqlite_engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port, deliver=["markdown"])
    store_entries(sqlite_engine, DUE - timedelta(hours=1), (0, "a", "Day one"))
    run(sqlite_engine, s, DUE)
    for day in range(1, 4):  # down for three days; stories keep arriving via cron polls
        store_entries(
            sqlite_engine, DUE + timedelta(days=day, hours=-1), (1, f"d{day}", f"Day {day + 1}")
        )
    report = run(sqlite_engine, s, DUE + timedelta(days=3, hours=5))
    assert report.written == 1
    text = Path(report.files[0]).read_text()
    assert all(f"Day {n}" in text for n in (2, 3, 4)) and "Day one" not in text
    windows = [(r["window_start"], r["window_end"]) for r in deliveries.history(sqlite_engine)]
    assert windows == [(DUE - timedelta(days=1), DUE), (DUE, DUE + timedelta(days=3))]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arrivals=st.lists(st.integers(min_value=0, max_value=10 * 24 * 60), min_size=1, max_size=40),
    runs=st.lists(st.integers(min_value=1, max_value=10 * 24 * 60), min_size=1, max_size=25),
)
def test_consecutive_windows_neither_skip_nor_repeat(
    tmp_path_factory: pytest.TempPathFactory, arrivals: list[int], runs: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("windows")
    engine = open_store(f"sqlite:///{folder / 'store.db'}")
    s = settings_for(folder, free_port(), deliver=["markdown"], max_per_feed=1000, max_items=1000)
    start = DUE - timedelta(hours=1)
    for n, minute in enumerate(sorted(arrivals)):
        store_entries(engine, start + timedelta(minutes=minute), (n % 2, f"e{n}", f"Story {n}"))
    for minute in sorted(set(runs)):
        run(engine, s, start + timedelta(minutes=minute), force=minute % 3 == 0)
    run(engine, s, start + timedelta(days=12))
    rows = deliveries.history(engine)
    for before, after in itertools.pairwise(rows):
        assert before["window_end"] == after["window_start"]
    delivered = sum(r["entries"] for r in rows)
    assert delivered == len(arrivals) - sum(
        1 for m in arrivals if start + timedelta(minutes=m) < rows[0]["window_start"]
    )
    engine.dispose()


def test_each_window_keeps_its_own_markdown_file_when_two_end_in_the_same_minute(
    tmp_path: Path, sqlite_engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port, deliver=["markdown"])
    ends = [DUE + timedelta(hours=3), DUE + timedelta(hours=5, seconds=10)]
    ends.append(ends[1] + timedelta(seconds=40))  # the third digest ends in the same minute
    for number, end in enumerate(ends):
        stories = [(k % 2, f"s{number}{k}", f"Story {number * 3 + k}") for k in range(3)]
        store_entries(sqlite_engine, end - timedelta(seconds=5), *stories)
        assert run(sqlite_engine, s, end, force=True).written == 1
    folder = tmp_path / "out" / "ann@example.org"
    names = sorted(path.name for path in folder.glob("*.md"))
    assert names == ["2022-03-30-1200-2.md", "2022-03-30-1200.md", "2022-03-30.md"]
    found = [
        n for path in folder.glob("*.md") for n in range(9) if f"Story {n}" in path.read_text()
    ]
    assert sorted(found) == list(range(9))  # every story of the day, each in one file
