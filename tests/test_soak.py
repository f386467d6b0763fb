"""Soak: a `broadsheet worker` polls round after round while feeds flap between good, broken and slow.

Each round, feed N answers according to (N + round) % 10: a 500, bytes that are not a feed, a
feed answering after half a second, or (most often) a good feed with the round's new items.
After each round the worker's resident memory (with its children's), its open file descriptors
and its process count are read from /proc. After the warm-up rounds, the last rounds must stay
within a tolerance of the first ones: nothing grows with the number of rounds.

Short: 30 feeds, 4 rounds (one of warm-up). ``--long``: 2,000 feeds, 12 rounds (two of warm-up).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from processes import Worker, descendants, round_done, wait_for, write_config
from server import FeedServer, Handler, Reply, Request, generated_feed
from sqlalchemy import update
from suites import long_run, size

from ingest.store.database import open_store
from ingest.store.schema import feeds

FEEDS = size(30, 2000)
ROUNDS = size(4, 12)
WARM_UP = size(1, 2)
MB = 1024 * 1024


@dataclass
class Sample:
    """What the worker and its children hold after a round."""

    rss: int  # bytes
    fds: int
    processes: int


def sample(pid: int) -> Sample:
    """Resident memory and open descriptors of ``pid`` and its descendants, and how many they are."""
    pids = descendants(pid) | {pid}
    rss = fds = 0
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
            fds += len(os.listdir(f"/proc/{each}/fd"))
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) * 1024
    return Sample(rss, fds, len(pids))


def flapping(server: FeedServer, n: int, rounds: list[int]) -> Handler:
    """Feed ``n``: broken, junk, slow or good, by the current round."""

    def handle(request: Request) -> Reply:
        current = rounds[0]
        mood = (n + current) % 10
        if mood == 0:
            return Reply(500, {"Content-Type": "text/plain"}, b"down for maintenance")
        if mood == 1:
            return Reply(200, {"Content-Type": "application/rss+xml"}, b"\x00<rss><chan")
        if mood == 2:
            request.stopping.wait(0.5)
        return generated_feed(request, n, current)

    return handle


@pytest.mark.timeout(3600 if long_run() else 300)
def test_the_worker_holds_steady_over_rounds_of_flapping_feeds(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    rounds = [0]
    urls = [
        feed_server.route(f"/soak/{n}.xml", flapping(feed_server, n, rounds)) for n in range(FEEDS)
    ]
    store = f"sqlite:///{tmp_path / 'store.db'}"
    config = write_config(
        tmp_path / "broadsheet.toml",
        urls,
        storage={"url": store},
        poll={
            "interval": "1d",
            "workers": 2,
            "concurrency": 32,
            "per_host": 32,
            "read_timeout": "5s",
            "timeout": "10s",
            "max_backoff": "1s",
        },
        worker={"poll_every": "1s", "shutdown_timeout": "5s"},
    )
    engine = open_store(store)
    samples: list[Sample] = []
    with Worker(config, tmp_path / "worker.log") as worker:
        for number in range(ROUNDS):
            rounds[0] = number
            since = datetime.now(UTC)
            with engine.begin() as conn:
                conn.execute(update(feeds).values(next_poll_at=since))
            wait_for(lambda s=since: round_done(engine, s, FEEDS), f"round {number}", timeout=600)
            samples.append(sample(worker.pid))
        assert worker.running
        assert "Traceback" not in worker.text()
    engine.dispose()
    settled, last = samples[WARM_UP : WARM_UP + 2], samples[-2:]
    first_rss = max(s.rss for s in settled)
    assert max(s.rss for s in last) <= first_rss * 1.25 + 30 * MB, samples
    assert max(s.fds for s in last) <= max(s.fds for s in settled) + 8, samples
    assert max(s.processes for s in last) <= max(s.processes for s in settled), samples
