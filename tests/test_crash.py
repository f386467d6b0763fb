"""Crash safety: `broadsheet poll`, `digest` and `worker` killed (SIGKILL) at seeded random moments.

Each trial changes the feeds (a new revision adds items; every revision keeps the older ones, as
a real feed does), adds subscribers whose digest is due, starts the command against the test's
HTTP server and aiosmtpd, and kills it after a delay drawn from a seeded generator. Leases and
claims the killed process held are then aged as if their time had passed. After the trials the
commands run to completion, and then:

- every offered entry is stored exactly once (none lost, none twice);
- every due digest was delivered; a second copy of a message (same Message-ID, the process died
  between the send and the record) carries the same stories, and no window got two Message-IDs;
- the SQLite file passes ``PRAGMA integrity_check``;
- no Markdown digest is truncated (each has its window line, its footer and its last newline);
- no process the killed command started outlives it (the parser processes).

Short: 5 trials per command on SQLite, seed 0. ``--long``: 50 trials per command, on SQLite and
the local PostgreSQL. A failure names its seed and trial.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from processes import (
    BROADSHEET,
    Worker,
    alive,
    cli,
    daily_schedule,
    descendants,
    environment,
    wait_for,
    write_config,
)
from server import RSS_TYPE, FeedServer, Reply, Request
from smtp import SmtpServer
from sqlalchemy import select, text, update
from stores import fresh_pg_schema
from suites import long_run, size

from ingest.store.database import open_store
from ingest.store.schema import deliveries, entries, feeds

TRIALS = size(5, 50)
SEED = 0
FEEDS = 10
ITEMS = 3  # new items per feed and revision
BACKENDS = ["sqlite", "postgresql"] if long_run() else ["sqlite"]
STORY = re.compile(r"Story \d+\.\d+\.\d+")


def feed_body(n: int, revision: int) -> bytes:
    """Feed ``n`` at ``revision``: the items of every revision so far, newest first."""
    items = "".join(
        f"<item><title>Story {n}.{r}.{i}</title><guid>crash-{n}-{r}-{i}</guid>"
        f"<link>http://example.com/{n}/{r}/{i}</link><description>Body {n}.{r}.{i}</description>"
        "</item>"
        for r in reversed(range(revision + 1))
        for i in range(ITEMS)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Crash feed {n}</title><link>http://example.com/{n}/</link>{items}"
        "</channel></rss>"
    ).encode()


@dataclass
class Harness:
    """A config, a store, feeds that change per revision, and the kills done so far."""

    tmp_path: Path
    server: FeedServer
    smtp: SmtpServer
    store_url: str
    rng: random.Random
    revision: int = 0
    people: list[str] = field(default_factory=list)
    spawned: set[int] = field(default_factory=set)  # every process a killed command started
    kills: int = 0
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        for n in range(FEEDS):
            self.server.route(f"/crash/{n}.xml", self._feed(n))
        self.config = self.tmp_path / "broadsheet.toml"
        self.write()
        self.engine = open_store(self.store_url)

    def _feed(self, n: int) -> Any:
        def handle(request: Request) -> Reply:
            return Reply(200, {"Content-Type": RSS_TYPE}, feed_body(n, self.revision))

        return handle

    def write(self) -> None:
        """Write the config for the feeds and the subscribers so far."""
        subscribers = [
            {"email": p, "schedule": daily_schedule(), "deliver": ["email", "markdown"]}
            for p in self.people
        ]
        write_config(
            self.config,
            [self.server.url(f"/crash/{n}.xml") for n in range(FEEDS)],
            subscribers,
            storage={"url": self.store_url},
            poll={"interval": "1d", "workers": 2, "concurrency": 8, "per_host": 8},
            worker={"poll_every": "1s", "shutdown_timeout": "2s"},
            smtp={"host": "127.0.0.1", "port": self.smtp.port, "security": "none"},
            digests={"output_dir": "out", "send_empty": True},
        )

    def next_trial(self, trial: int, subscribers: int = 0, *, revise: bool = True) -> None:
        """New items in every feed (unless not ``revise``), every feed due, new due digests."""
        self.revision += revise
        self.people += [f"reader{trial}-{j}@example.org" for j in range(subscribers)]
        self.write()
        self.age_leases()
        with self.engine.begin() as conn:
            conn.execute(update(feeds).values(next_poll_at=datetime.now(UTC)))

    def age_leases(self) -> None:
        """Leases and claims of killed processes run out, as if their time had passed."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        with self.engine.begin() as conn:
            conn.execute(
                update(feeds).where(feeds.c.lease_owner.is_not(None)).values(lease_until=past)
            )
            conn.execute(
                update(deliveries)
                .where(deliveries.c.state == "pending")
                .values(claimed_until=past, next_attempt_at=past)
            )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a command, its output going to a file (orphans would hold a pipe open)."""
        with (self.tmp_path / "commands.log").open("ab") as log:
            return subprocess.Popen(
                [*BROADSHEET, *args, "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environment(),
                cwd=self.tmp_path,
            )

    def seconds_of(self, *args: str) -> float:
        """How long a whole run of a command takes here (kill delays are chosen within it)."""
        started = time.monotonic()
        process = self.start(*args)
        assert process.wait(timeout=120) == 0, (self.tmp_path / "commands.log").read_text()
        return time.monotonic() - started

    def kill_later(self, process: subprocess.Popen[Any], low: float, high: float) -> None:
        """SIGKILL ``process`` after a seeded delay (unless it ended first); note its children."""
        try:
            process.wait(self.rng.uniform(low, high))
        except subprocess.TimeoutExpired:
            self.spawned |= descendants(process.pid)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            self.kills += 1

    def complete(self) -> None:
        """Run poll and digest to their end, after the killed processes' leases."""
        self.age_leases()
        for args in (("poll", "--all", "--json"), ("digest", "--json")):
            code, out, err = cli(self.config, *args)
            assert code == 0, out + err
            assert json.loads(out).get("failed", 0) == 0, out

    def leftovers(self) -> set[int]:
        """Processes started by a killed command that still live a while later."""
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not any(alive(p) for p in self.spawned), "orphans to end", 5.0)
        return {pid for pid in self.spawned if alive(pid)}

    def close(self) -> None:
        """Kill what is left of the killed commands; close the store."""
        for pid in {pid for pid in self.spawned if alive(pid)}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.engine.dispose()

    def check(self) -> None:
        """The invariants of the module docstring (all but the orphans)."""
        self._check_entries()
        self._check_digests()
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"

    def _check_entries(self) -> None:
        with self.engine.connect() as conn:
            guids = conn.execute(select(entries.c.guid)).scalars().all()
        offered = {
            f"crash-{n}-{r}-{i}"
            for n in range(FEEDS)
            for r in range(self.revision + 1)
            for i in range(ITEMS)
        }
        assert len(guids) == len(set(guids)), "an entry was stored twice"
        assert set(guids) == offered, f"lost: {sorted(offered - set(guids))[:5]}"

    def _check_digests(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.subscriber, deliveries.c.state, deliveries.c.message_id)
            ).all()
        sent = {(r.subscriber, r.message_id) for r in rows if r.state == "sent"}
        assert {r.subscriber for r in rows if r.state != "sent"} == set(), rows
        assert {s for s, _ in sent} >= set(self.people), "a due digest was never delivered"
        copies: dict[str, list[Any]] = defaultdict(list)
        for message in self.smtp.messages:
            copies[message["Message-ID"]].append(message)
        for message_id, same in copies.items():
            stories = {frozenset(STORY.findall(m.get_body(("plain",)).get_content())) for m in same}
            assert len(stories) == 1, f"two copies of {message_id} tell different stories"
            assert len({m["To"] for m in same}) == 1
        received = {(m[0]["To"].addresses[0].addr_spec, mid) for mid, m in copies.items()}
        assert received == sent, "the mail received and the ledger disagree"
        for path in (self.tmp_path / "out").rglob("*.md"):
            body = path.read_text(encoding="utf-8")
            assert body.startswith("<!-- broadsheet window "), path
            assert "\n---\n" in body and body.endswith("\n"), f"{path} is truncated"


@pytest.fixture(params=BACKENDS)
def harness(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
) -> Iterator[Harness]:
    """A harness on SQLite (and, in the long run, on the local PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = fresh_pg_schema(f"{os.environ.get('BROADSHEET_TEST_PG_SCHEMA', 'bs')}_crash")
    rng = random.Random(f"{SEED}-{request.node.name}")
    crash = Harness(tmp_path, feed_server, smtp_server, url, rng)
    yield crash
    crash.close()


LONG_TIMEOUT = pytest.mark.timeout(3600 if long_run() else 300)


@LONG_TIMEOUT
def test_a_killed_poll_loses_and_repeats_nothing(harness: Harness) -> None:
    lasts = harness.seconds_of("poll", "--all")  # on this machine, now: kills fall within it
    for trial in range(TRIALS):
        harness.next_trial(trial)
        harness.kill_later(harness.start("poll", "--all"), 0.1 * lasts, 0.9 * lasts)
    harness.complete()
    harness.check()
    assert harness.kills, "no trial killed the command: the delays are too long"


@LONG_TIMEOUT
def test_a_killed_digest_neither_loses_nor_doubles_a_digest(harness: Harness) -> None:
    harness.complete()  # entries to send
    for trial in range(TRIALS):
        harness.next_trial(trial, subscribers=2, revise=False)
        harness.kill_later(harness.start("digest"), 0.05, 1.0)  # a digest run takes well under 1 s
    harness.complete()
    harness.check()
    assert harness.kills, "no trial killed the command: the delays are too long"


@LONG_TIMEOUT
def test_a_killed_worker_loses_and_repeats_nothing(harness: Harness) -> None:
    for trial in range(TRIALS):
        harness.next_trial(trial, subscribers=1)
        worker = Worker(harness.config, harness.tmp_path / f"worker-{trial}.log").start()
        assert worker.process is not None
        harness.kill_later(worker.process, 0.2, 2.5)
        worker.kill()  # closes the log; the process is already dead
    harness.complete()
    harness.check()
    assert harness.kills, "no trial killed the command: the delays are too long"


@LONG_TIMEOUT
def test_no_process_outlives_a_killed_command(harness: Harness) -> None:
    for trial in range(size(1, 10)):
        harness.next_trial(trial)
        process = harness.start("poll", "--all")
        wait_for(lambda p=process: descendants(p.pid), "the parser processes", 60.0)
        harness.spawned |= descendants(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert harness.spawned and not harness.leftovers()
