"""`broadsheet health`: healthy only while the worker's last poll round succeeded, recently."""

from __future__ import annotations

import signal
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from processes import Worker, cli, wait_for, write_config
from server import FeedServer
from sqlalchemy import text, update

from broadsheet.health import judge
from ingest.store.database import open_store
from ingest.store.schema import feeds

NOW = datetime(2024, 6, 11, 12, 0, tzinfo=UTC)
HOST = "box"


def beat(
    name: str = "box:1",
    host: str = HOST,
    succeeded: float | None = None,
    failed: float | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A workers row whose last round succeeded / failed that many seconds before NOW."""
    ago = lambda seconds: None if seconds is None else NOW - timedelta(seconds=seconds)  # noqa: E731
    return {
        "name": name,
        "host": host,
        "started_at": NOW - timedelta(hours=1),
        "last_round_at": ago(succeeded),
        "last_failed_at": ago(failed),
        "last_error": error,
    }


def test_the_verdict_follows_the_last_round_of_this_host_s_workers() -> None:
    never = judge([], NOW, 600, HOST)
    assert not never.healthy and never.reason.endswith("(last: never)")
    assert judge([beat(succeeded=30)], NOW, 600, HOST).reason == (
        "healthy: box:1 finished a poll round 30 s ago"
    )
    failing = judge([beat(succeeded=90, failed=30, error="the store failed")], NOW, 600, HOST)
    assert not failing.healthy
    assert failing.reason == (
        "unhealthy: the last poll round of box:1 failed 30 s ago: the store failed"
    )
    never_succeeded = judge([beat(failed=5, error="no such table")], NOW, 600, HOST)
    assert not never_succeeded.healthy and "failed 5 s ago: no such table" in never_succeeded.reason
    assert judge([beat(succeeded=10, failed=30, error="x")], NOW, 600, HOST).healthy  # recovered
    stale = judge([beat(succeeded=900)], NOW, 600, HOST)
    assert not stale.healthy and "no worker finished a poll round within 600 s" in stale.reason
    elsewhere = beat("far:2", host="far", succeeded=5)
    mine = beat(succeeded=60, failed=10, error="crashed")
    assert not judge([elsewhere, mine], NOW, 600, HOST).healthy  # this host's worker is judged
    assert judge([elsewhere, mine], NOW, 600, "monitor").healthy  # from elsewhere: any worker


def test_health_fails_while_the_worker_s_rounds_fail_and_passes_once_one_succeeds(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = write_config(
        tmp_path / "broadsheet.toml",
        [feed_server.gen_url(0)],
        storage={"url": store},
        poll={"interval": "1d", "workers": 1},
        worker={"poll_every": "1h", "shutdown_timeout": "5s"},  # rounds run when SIGHUP asks
    )
    engine = open_store(store)
    with Worker(path, tmp_path / "worker.log") as worker:
        worker.wait_for_log("poll: 1 feed:")
        assert cli(path, "health")[0] == 0
        with engine.begin() as conn:  # the store loses a table the round needs
            conn.execute(text("ALTER TABLE entries RENAME TO entries_away"))
            conn.execute(update(feeds).values(next_poll_at=datetime.now(UTC)))
        feed_server.gen_revision = 1  # new articles to store
        worker.send(signal.SIGHUP)  # a reload runs a round at once
        worker.wait_for_log("poll round failed: ")
        code, out, err = wait_for(lambda: failing(path), "the failed round to be recorded")
        assert code == 1, out + err
        assert out.startswith(
            f"unhealthy: the last poll round of {socket.gethostname()}:{worker.pid} failed "
        )
        assert "the store failed while polling: no such table: entries" in out
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE entries_away RENAME TO entries"))
        rounds = worker.count("poll: ")
        worker.send(signal.SIGHUP)
        worker.wait_for_log("poll: ", times=rounds + 1)
        code, out, err = cli(path, "health")
        assert code == 0 and out.startswith("healthy: "), out + err
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0
    engine.dispose()


def failing(path: Path) -> tuple[int, str, str] | None:
    """`broadsheet health`'s result once it fails."""
    result = cli(path, "health")
    return result if result[0] == 1 else None
