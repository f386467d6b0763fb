"""`broadsheet worker` as a real process on SQLite: signals, reloads, catch-up, logs, health, cron."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from processes import (
    WAIT,
    Worker,
    alive,
    cli,
    daily_schedule,
    descendants,
    entry_counts,
    start,
    wait_for,
    write_config,
)
from server import FeedServer, Handler, Reply, Request, delayed, generated_feed
from smtp import SmtpServer
from sqlalchemy import Engine, select, text, update

from broadsheet import config
from digests.schedule import previous_run
from ingest.store.database import open_store
from ingest.store.schema import deliveries, entries, feeds

ITEMS = 5  # entries in each generated feed


def tables(tmp_path: Path, **changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config tables for a worker on an SQLite file in ``tmp_path``, with ``changes``."""
    base: dict[str, dict[str, Any]] = {
        "storage": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "poll": {"interval": "1d", "workers": 1, "concurrency": 16, "per_host": 16},
        "worker": {"poll_every": "1s", "shutdown_timeout": "5s"},
    }
    for name, values in changes.items():
        base[name] = base.get(name, {}) | values
    return base


Wrapper = Callable[[Handler], Handler]


def served(feed_server: FeedServer, path: str, n: int, wrap: Wrapper | None = None) -> str:
    """Route ``path`` to generated feed ``n`` (wrapped by ``wrap`` when given); returns its URL."""

    def feed(request: Request) -> Reply:
        return generated_feed(request, n, feed_server.gen_revision)

    return feed_server.route(path, wrap(feed) if wrap else feed)


def held_until(release: threading.Event) -> Wrapper:
    """Wrap a handler so that it answers only once ``release`` is set (or after WAIT)."""

    def wrap(handler: Handler) -> Handler:
        def handle(request: Request) -> Reply:
            release.wait(WAIT)
            return handler(request)

        return handle

    return wrap


def feed_rows(engine: Engine) -> dict[str, Any]:
    """Every feed's row, by config URL."""
    with engine.connect() as conn:
        return {row.config_url: row for row in conn.execute(select(feeds))}


def make_due(engine: Engine) -> None:
    """Make every feed due now, as if its interval had passed."""
    with engine.begin() as conn:
        conn.execute(update(feeds).values(next_poll_at=datetime.now(UTC)))


def assert_no_duplicates(engine: Engine) -> None:
    """No entry is stored twice: neither under one feed nor (generated guids) across feeds."""
    with engine.connect() as conn:
        pairs = conn.execute(select(entries.c.feed_id, entries.c.identity)).all()
        guids = conn.execute(select(entries.c.guid)).scalars().all()
    assert len(pairs) == len(set(pairs))
    assert len(guids) == len(set(guids))


def test_sigterm_mid_round_exits_zero_and_leaves_nothing_half_written(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    release = threading.Event()
    fast = [served(feed_server, f"/fast/{n}.xml", n) for n in range(6)]
    slow = [
        served(feed_server, f"/slow/{n}.xml", 10 + n, lambda h: delayed(h, 1.0)) for n in range(3)
    ]
    stuck = [served(feed_server, f"/stuck/{n}.xml", 20 + n, held_until(release)) for n in range(2)]
    path = write_config(
        tmp_path / "broadsheet.toml",
        fast + slow + stuck,
        **tables(
            tmp_path,
            # Long enough that the stuck feeds are not given back (at 3/4 of the lease) before
            # the shutdown timeout has run out.
            poll={"workers": 2, "lease": "12s", "timeout": "60s", "read_timeout": "60s"},
            worker={"shutdown_timeout": "2s"},
        ),
    )
    try:
        with Worker(path, tmp_path / "worker.log") as worker:
            wait_for(
                lambda: (
                    all(feed_server.hits(f"/stuck/{n}.xml") for n in range(2))
                    and all(feed_server.hits(f"/slow/{n}.xml") for n in range(3))
                ),
                "the round to be fetching the slow and the stuck feeds",
            )
            children = wait_for(lambda: descendants(worker.pid), "the parser processes")
            worker.send(signal.SIGTERM)
            assert worker.wait(2 + 30) == 0
            log = worker.text()
    finally:
        release.set()
    assert "SIGTERM received: finishing in-flight work" in log
    assert "did not finish within 2 s; abandoning it" in log  # the stuck feeds never answered
    assert "Traceback" not in log
    wait_for(lambda: not any(alive(pid) for pid in children), "the parser processes to end")

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    counts, rows = entry_counts(engine), feed_rows(engine)
    for url, row in rows.items():  # each feed is either fully stored or untouched
        if counts[url]:
            assert counts[url] == ITEMS and row.last_success_at is not None, url
            assert row.lease_owner is None, url
        else:
            assert row.last_fetch_at is None and row.last_success_at is None, url
    assert all(counts[url] == 0 for url in stuck)
    unfinished = {url for url, count in counts.items() if count == 0}
    lease = 12.0
    exited = datetime.now(UTC)
    for url in unfinished:  # an abandoned lease runs out; it does not block the feed for good
        until = rows[url].lease_until
        assert until is None or until <= exited + timedelta(seconds=lease), url

    for n in range(2):  # the stuck server recovers; the next round, after the leases, gets them
        served(feed_server, f"/stuck/{n}.xml", 20 + n)
    wait_for(
        lambda: all(
            row.lease_until is None or row.lease_until < datetime.now(UTC)
            for row in feed_rows(engine).values()
        ),
        "the abandoned leases to expire",
        timeout=lease + WAIT,
    )
    code, out, err = cli(path, "poll", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["feeds"] == len(unfinished) and report["failed"] == 0
    assert set(entry_counts(engine).values()) == {ITEMS}
    assert_no_duplicates(engine)
    engine.dispose()


def test_sighup_keeps_the_old_config_when_the_new_one_is_broken_and_picks_up_a_good_one(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    first, second = feed_server.gen_url(0), feed_server.gen_url(1)
    settings = tables(tmp_path)
    path = write_config(tmp_path / "broadsheet.toml", [first], **settings)
    engine = open_store(settings["storage"]["url"])
    with Worker(path, tmp_path / "worker.log") as worker:
        worker.wait_for_log("poll: 1 feed:")
        assert feed_server.hits("/gen/0.xml") == 1

        broken = tables(tmp_path, poll={"concurrency": "many"})
        write_config(path, [first, second], **broken)
        worker.send(signal.SIGHUP)
        worker.wait_for_log("config reload failed; keeping the previous config")
        assert "poll.concurrency" in worker.text()
        assert worker.running

        rounds = worker.count("poll: ")
        make_due(engine)  # the old config still polls: the first feed comes round again
        wait_for(lambda: feed_server.hits("/gen/0.xml") == 2, "the first feed's second poll")
        worker.wait_for_log("poll: ", times=rounds + 2)
        assert feed_server.hits("/gen/1.xml") == 0  # the broken config's new feed is not in

        good = tables(tmp_path, poll={"workers": 2})  # and parse in processes from now on
        write_config(path, [first, second], **good)
        worker.send(signal.SIGHUP)
        worker.wait_for_log("config reloaded: 2 feeds")
        assert "[poll] workers changed: parsing now in 2 processes" in worker.text()
        assert "Context impl" not in worker.text() and "Will assume" not in worker.text()
        wait_for(lambda: entry_counts(engine).get(second) == ITEMS, "the added feed's entries")
        assert feed_server.hits("/gen/1.xml") == 1

        worker.send(signal.SIGTERM)
        assert worker.wait() == 0
    assert "Traceback" not in worker.text()
    engine.dispose()


def test_after_downtime_the_worker_delivers_one_digest_covering_the_whole_gap(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    urls = [feed_server.gen_url(n) for n in range(4)]
    subscriber = {
        "email": "ann@example.org",
        "schedule": daily_schedule(),
        "timezone": "UTC",
        "deliver": ["email", "markdown"],
    }
    settings = tables(
        tmp_path,
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "security": "none"},
        digests={"output_dir": "out"},
    )
    path = write_config(tmp_path / "broadsheet.toml", urls, [subscriber], **settings)
    code, out, err = cli(path, "poll")  # cron polled while the worker was down
    assert code == 0, out + err

    cron = config.load(path).subscribers[0].cron
    last_run = previous_run(cron, "UTC", datetime.now(UTC))
    gap_start = last_run - timedelta(days=3)  # the last digest sent covered up to here
    engine = open_store(settings["storage"]["url"])
    ids = {row.config_url: row.id for row in feed_rows(engine).values()}
    first_seen = [gap_start + timedelta(hours=h) for h in (12, 36, 60)] + [
        gap_start - timedelta(hours=12)  # already in the last digest before the downtime
    ]
    with engine.begin() as conn:
        for url, when in zip(urls, first_seen, strict=True):
            conn.execute(  # polled over the gap: not a new feed's backlog
                update(entries)
                .where(entries.c.feed_id == ids[url])
                .values(first_seen_at=when, backlog=False)
            )
        conn.execute(
            deliveries.insert().values(
                subscriber="ann@example.org",
                window_start=gap_start - timedelta(days=1),
                window_end=gap_start,
                state="sent",
                attempts=1,
                entries=ITEMS,
                channels=["email", "markdown"],
                created_at=gap_start,
                sent_at=gap_start,
            )
        )

    with Worker(path, tmp_path / "worker.log") as worker:
        wait_for(lambda: smtp_server.messages, "the catch-up digest")
        rounds = worker.count("poll: ")
        worker.wait_for_log("poll: ", times=rounds + 2)  # later rounds and digest checks
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0

    assert len(smtp_server.messages) == 1
    body = smtp_server.messages[0].get_body(("plain",))
    assert body is not None
    mailed = body.get_content()
    files = list((tmp_path / "out").rglob("*.md"))
    assert len(files) == 1
    written = files[0].read_text(encoding="utf-8")
    for digest in (mailed, written):  # every article of the gap, by link (clustering may merge)
        assert all(
            f"http://example.com/{n}/0/{i}" in digest for n in range(3) for i in range(ITEMS)
        )
        assert "http://example.com/3/" not in digest
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries).order_by(deliveries.c.window_start)).all()
    assert [(r.window_start, r.window_end, r.state) for r in rows[1:]] == [
        (gap_start, last_run, "sent")
    ]
    assert len(rows) == 2 and rows[1].entries > 0
    engine.dispose()


@pytest.mark.parametrize("how", ["option", "environment"])
def test_json_logs_have_one_line_per_poll_round(
    tmp_path: Path, feed_server: FeedServer, how: str
) -> None:
    urls = [feed_server.gen_url(n) for n in range(3)]
    path = write_config(tmp_path / "broadsheet.toml", urls, **tables(tmp_path))
    if how == "option":
        worker = Worker(path, tmp_path / "worker.log", args=["--log-format", "json"])
    else:
        worker = Worker(path, tmp_path / "worker.log", env={"BROADSHEET_LOG_FORMAT": "json"})
    with worker:
        worker.wait_for_log('"message": "poll: ', times=2)
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0
    lines = [json.loads(line) for line in worker.text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    rounds = [line for line in lines if line["message"].startswith("poll: ")]
    assert rounds[0]["level"] == "info" and rounds[0]["logger"] == "broadsheet.worker"
    assert rounds[0]["round"]["feeds"] == 3 and rounds[0]["round"]["new_entries"] == 3 * ITEMS
    assert rounds[1]["round"]["feeds"] == 0  # nothing was due yet
    assert any(line["message"].startswith("worker ") for line in lines)


def test_health_fails_before_the_first_round_and_passes_after_it(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    path = write_config(tmp_path / "broadsheet.toml", [feed_server.gen_url(0)], **tables(tmp_path))
    code, out, err = cli(path, "health")
    assert code == 1, out + err
    assert "unhealthy" in out and "last: never" in out
    with Worker(path, tmp_path / "worker.log") as worker:
        worker.wait_for_log("poll: 1 feed:")
        code, out, err = cli(path, "health")
        assert code == 0, out + err
        assert out.startswith("healthy: ")
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a background command; its status, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=WAIT * 2)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def test_cron_jobs_beside_the_worker_neither_duplicate_entries_nor_send_twice(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    urls = [served(feed_server, f"/slow/{n}.xml", n, lambda h: delayed(h, 0.3)) for n in range(12)]
    people = ["ann@example.org", "bob@example.org"]
    subscribers = [
        {"email": e, "schedule": daily_schedule(), "deliver": ["email", "markdown"]} for e in people
    ]
    settings = tables(
        tmp_path,
        poll={"concurrency": 4, "per_host": 4},
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "security": "none"},
        digests={"output_dir": "out", "send_empty": True},
    )
    path = write_config(tmp_path / "broadsheet.toml", urls, subscribers, **settings)
    engine = open_store(settings["storage"]["url"])
    with Worker(path, tmp_path / "worker.log") as worker:  # its first round and catch-up...
        wave = [start(path, "poll", "--all", "--json") for _ in range(2)]  # ...beside cron jobs
        wave += [start(path, "digest", "--json") for _ in range(2)]
        results = [finish(process) for process in wave]
        # Once the worker's first round is over too, every feed is stored at its first
        # revision: none is still in flight to pick up the next one early.
        worker.wait_for_log("poll: ")
        assert set(entry_counts(engine).values()) == {ITEMS}
        feed_server.gen_revision = 1  # new articles everywhere, due now for everyone
        make_due(engine)
        wave = [start(path, "poll", "--all", "--json"), start(path, "digest", "--json")]
        results += [finish(process) for process in wave]
        rounds = worker.count("poll: ")
        worker.wait_for_log("poll: ", times=rounds + 2)
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0
    results.append(cli(path, "poll", "--all", "--json"))  # what a lease kept from the others

    for code, out, err in results:
        assert code == 0, out + err
        assert json.loads(out).get("failed", 0) == 0, out
    log = worker.text()
    assert " ERROR " not in log and "Traceback" not in log, log
    assert set(entry_counts(engine).values()) == {2 * ITEMS}, log  # both revisions, each once
    assert_no_duplicates(engine)

    messages = smtp_server.messages
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == people
    assert len({m["Message-ID"] for m in messages}) == len(people)
    assert len(list((tmp_path / "out").rglob("*.md"))) == len(people)
    with engine.connect() as conn:
        ledger = conn.execute(select(deliveries.c.subscriber, deliveries.c.state)).all()
    assert Counter(ledger) == Counter({(p, "sent"): 1 for p in people})
    engine.dispose()


def test_failed_digests_are_logged_as_warnings_and_one_given_up_as_an_error(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    smtp_server.sink.reject_rcpt = "550 5.1.1 No such user"
    subscriber = {"email": "ann@example.org", "schedule": daily_schedule(), "deliver": ["email"]}
    settings = tables(
        tmp_path,
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "security": "none"},
        digests={"send_empty": True, "retry_base": "1s", "retry_max": "1s"},
    )
    path = write_config(
        tmp_path / "broadsheet.toml", [feed_server.gen_url(0)], [subscriber], **settings
    )
    with Worker(path, tmp_path / "worker.log") as worker:
        worker.wait_for_log(" ERROR digest ann@example.org: gave up after 3 attempts")
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0
    log = worker.text()
    failures = [line for line in log.splitlines() if "digest ann@example.org: failed" in line]
    assert len(failures) == 2 and all(" WARNING " in line for line in failures), log
    assert "550 5.1.1 No such user" in failures[0] and "Traceback" not in log
    engine = open_store(settings["storage"]["url"])
    with engine.connect() as conn:
        (row,) = conn.execute(select(deliveries)).all()
    assert (row.state, row.attempts) == ("abandoned", 3)
    engine.dispose()
