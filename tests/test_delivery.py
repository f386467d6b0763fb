"""Digest delivery: real SMTP (aiosmtpd), real files, the ledger's exactly-once promise."""

from __future__ import annotations

import itertools
from dataclasses import replace
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
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port)
    store_entries(engine, DUE - timedelta(hours=1), (0, "a", "One"))
    assert run(engine, s, DUE).sent == 1
    report = run(engine, s, DUE + timedelta(days=1))
    assert (report.due, report.skipped_empty, report.sent) == (1, 1, 0)
    assert len(smtp_server.messages) == 1
    first, empty = deliveries.history(engine)
    assert (empty["state"], empty["window_start"]) == ("skipped", first["window_end"])
    assert empty["window_end"] == DUE + timedelta(days=1)


def test_a_first_digest_is_not_used_up_by_an_empty_window(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port, feeds=[FEEDS[0].url])
    first = run(engine, s, DUE)  # the first poll found nothing yet
    assert (first.due, first.skipped_empty, first.sent) == (1, 1, 0)
    (row,) = deliveries.history(engine)
    assert row["state"] == "waiting"
    start = row["window_start"]
    # Nothing arrived: later runs, scheduled ones included, neither look again nor record.
    for later in (timedelta(minutes=1), timedelta(days=1, minutes=1)):
        quiet = run(engine, s, DUE + later)
        assert (quiet.due, quiet.skipped_empty, quiet.sent) == (0, 0, 0)
    assert deliveries.history(engine) == [row]
    # Stories of a feed this subscriber does not take: a look, and still waiting.
    store_entries(engine, DUE + timedelta(days=1, hours=2), (1, "x", "Not for Ann"))
    assert run(engine, s, DUE + timedelta(days=1, hours=3)).due == 0
    (row,) = deliveries.history(engine)
    assert (row["state"], row["window_start"]) == ("waiting", start)
    # The first story for her, two days in: the first digest goes out at once, from the start.
    store_entries(engine, DUE + timedelta(days=2, hours=2), (0, "a", "At last"))
    sent = run(engine, s, DUE + timedelta(days=2, hours=3))
    assert (sent.due, sent.sent) == (1, 1)
    (message,) = smtp_server.messages
    assert "At last" in text_of(message) and "Not for Ann" not in text_of(message)
    (row,) = deliveries.history(engine)
    assert (row["state"], row["window_start"], row["entries"]) == ("sent", start, 1)
    assert row["window_end"] == DUE + timedelta(days=2, hours=3)
    # From then on the schedule holds, and an empty window is skipped.
    later = run(engine, s, DUE + timedelta(days=3, minutes=1))
    assert (later.due, later.skipped_empty) == (1, 1)
    assert [r["state"] for r in deliveries.history(engine)] == ["sent", "skipped"]


def test_dry_run_records_nothing(
    tmp_path: Path, sqlite_engine: Engine, smtp_server: SmtpServer
) -> None:
    s = settings_for(tmp_path, smtp_server.port)
    store_entries(sqlite_engine, DUE - timedelta(hours=1), (0, "a", "One"))
    report = run(sqlite_engine, s, DUE, dry_run=True)
    assert (report.due, report.sent, report.written) == (1, 1, 1)  # what the run would do
    assert report.summary().startswith("dry run, nothing sent or recorded: 1 digest due")
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


def test_a_dry_run_reports_what_the_run_then_does(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    builtin = (Path(__file__).parents[1] / "digests" / "templates" / "digest.txt").read_text()
    fails = '{% if digest.subscriber.email == "dee@example.org" %}{{ 1 // 0 }}{% endif %}'
    (templates / "digest.txt").write_text(fails + builtin)
    people = {
        "ann@example.org": {},  # stories: sent
        "bob@example.org": {"feeds": [FEEDS[1].url]},  # nothing for him yet: waits
        "cy@example.org": {},  # failed earlier, backing off
        "dee@example.org": {},  # the template fails on her digest
    }
    raw = {
        "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "security": "none"},
        "digests": {"output_dir": "out", "templates": "templates"},
        "subscribers": [
            {"email": email, "schedule": "daily 07:00", "deliver": ["email", "markdown"]} | extra
            for email, extra in people.items()
        ],
    }
    s = config.parse(raw, tmp_path / "broadsheet.toml")
    store_entries(engine, DUE - timedelta(hours=1), (0, "a", "One"))
    down = replace(s, smtp=replace(s.smtp, port=free_port()), subscribers=s.subscribers[2:3])
    assert run(engine, down, DUE).failed == 1
    dry = run(engine, s, DUE + timedelta(minutes=1), dry_run=True)
    real = run(engine, s, DUE + timedelta(minutes=1))
    counts = ("due", "sent", "written", "failed", "skipped_empty", "abandoned", "retrying")
    assert [getattr(dry, key) for key in counts] == [getattr(real, key) for key in counts]
    assert [getattr(real, key) for key in counts] == [3, 1, 1, 1, 1, 0, 1]
    assert [e["subscriber"] for e in dry.errors] == [e["subscriber"] for e in real.errors]
    assert dry.retries == real.retries and real.retries[0]["subscriber"] == "cy@example.org"
    assert "ZeroDivisionError" in real.errors[0]["error"]
    states = {row["subscriber"]: row["state"] for row in deliveries.history(engine)}
    assert states == {
        "ann@example.org": "sent",
        "bob@example.org": "waiting",
        "cy@example.org": "failed",
        "dee@example.org": "failed",
    }


def test_now_retries_a_failed_digest_at_once(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    down = settings_for(tmp_path, free_port(), deliver=["email"])
    store_entries(engine, DUE - timedelta(hours=1), (0, "a", "One"))
    assert run(engine, down, DUE).failed == 1
    up = settings_for(tmp_path, smtp_server.port, deliver=["email"])
    waiting = run(engine, up, DUE + timedelta(minutes=1))
    assert (waiting.due, waiting.retrying) == (0, 1)
    assert "0 digests due: 0 emailed" in waiting.summary()
    assert waiting.summary().endswith(", 1 waiting to retry")
    (retry,) = waiting.retries
    assert retry["retry_at"] == f"{DUE + timedelta(minutes=5):%Y-%m-%d %H:%M} UTC"
    assert "refused the connection" in retry["error"] and retry["attempts"] == "1"
    forced = run(engine, up, DUE + timedelta(minutes=1), force=True)
    assert (forced.due, forced.sent) == (1, 1)
    (row,) = deliveries.history(engine)
    assert (row["state"], row["attempts"]) == ("sent", 2)
