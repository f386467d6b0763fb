"""Broadsheet as real processes for the tests: `broadsheet worker` and CLI commands beside it.

Each process gets an environment without the caller's BROADSHEET_* variables, so a developer's
own settings never leak into a test. Waiting is done by polling a condition with a generous
timeout: the tests assert on what happened, never on how long it took.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from broadsheet.cli import app
from ingest.store.schema import entries, feeds

T = TypeVar("T")
BROADSHEET = (sys.executable, "-m", "broadsheet")  # as the `broadsheet` script runs it
WAIT = 60.0  # seconds: how long a condition may take before the test gives up


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without BROADSHEET_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADSHEET_")}
    return env | dict(extra or {})


def wait_for(condition: Callable[[], T], what: str, timeout: float = WAIT, every: float = 0.1) -> T:
    """Poll ``condition`` until it returns something true, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(every)


def write_config(
    path: Path,
    feeds: Sequence[str],
    subscribers: Sequence[Mapping[str, Any]] = (),
    **tables: Mapping[str, Any],
) -> Path:
    """Write a config file: ``tables`` such as ``poll={"lease": "5s"}``, then feeds and subscribers.

    ``[poll] allow_private`` is true unless ``poll`` says otherwise: the feeds are on 127.0.0.1.
    """
    lines: list[str] = []
    tables = tables | {"poll": {"allow_private": True} | dict(tables.get("poll", {}))}
    for name, table in tables.items():
        lines += [f"[{name}]", *(f"{key} = {json.dumps(value)}" for key, value in table.items())]
    for url in feeds:
        lines += ["[[feeds]]", f"url = {json.dumps(url)}"]
    for subscriber in subscribers:
        lines += ["[[subscribers]]", *(f"{k} = {json.dumps(v)}" for k, v in subscriber.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def daily_schedule(hours_ago: float = 6.0) -> str:
    """A UTC "daily HH:MM" schedule whose last run was ``hours_ago`` hours ago (far from now)."""
    return f"daily {datetime.now(UTC) - timedelta(hours=hours_ago):%H:%M}"


def run(
    config: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run one `broadsheet` command to its end; stdout and stderr are captured."""
    return subprocess.run(
        [*BROADSHEET, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=environment(env),
        cwd=config.parent,
        timeout=timeout,
    )


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    """Run one `broadsheet` command in this process (cheaper than a process): status, out, err."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BROADSHEET_")}
    result = CliRunner().invoke(app, [*args, "--config", str(config)], env=unset)
    return result.exit_code, result.stdout, result.stderr


def start(config: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start one `broadsheet` command in the background; stdout and stderr are captured."""
    return subprocess.Popen(
        [*BROADSHEET, *args, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(env),
        cwd=config.parent,
    )


def descendants(pid: int) -> set[int]:
    """The ids of every live process below ``pid`` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """True while a process with this id exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Worker:
    """`broadsheet worker` in the background, its logs (stderr) going to ``log``.

    Use as a context manager: on leaving, a worker still running is killed with its children.
    """

    def __init__(
        self,
        config: Path,
        log: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.log = log
        self.args = tuple(args)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.kill()

    def start(self) -> Worker:
        """Start the worker."""
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [*BROADSHEET, "worker", "--config", str(self.config), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            env=environment(self.env),
            cwd=self.config.parent,
            start_new_session=True,  # a terminal's Ctrl-C reaches the test runner, not the worker
        )
        return self

    @property
    def pid(self) -> int:
        """The worker's process id."""
        assert self.process is not None, "the worker was not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        """True until the worker exits."""
        return self.process is not None and self.process.poll() is None

    def text(self) -> str:
        """Everything the worker logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def count(self, fragment: str) -> int:
        """How many log lines contain ``fragment``."""
        return sum(fragment in line for line in self.text().splitlines())

    def wait_for_log(self, fragment: str, times: int = 1, timeout: float = WAIT) -> None:
        """Wait until ``fragment`` was logged ``times`` times; fail early if the worker exits."""

        def seen() -> bool:
            if self.count(fragment) >= times:
                return True
            if not self.running:
                raise AssertionError(f"the worker exited; its log:\n{self.text()[-4000:]}")
            return False

        try:
            wait_for(seen, f"{fragment!r} x{times} in the worker's log", timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe worker's log:\n{self.text()[-4000:]}") from None

    def send(self, signum: int) -> None:
        """Send a signal to the worker."""
        os.kill(self.pid, signum)

    def wait(self, timeout: float = WAIT) -> int:
        """Wait for the worker to exit and return its exit status."""
        assert self.process is not None, "the worker was not started"
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the worker did not exit within {timeout:g} s; its log:\n{self.text()[-4000:]}"
            ) from None

    def kill(self) -> None:
        """Kill the worker and everything it started, if still running; close the log."""
        if self.process is not None and self.process.poll() is None:
            for pid in descendants(self.pid) | {self.pid}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def entry_counts(engine: Engine) -> dict[str, int]:
    """Stored entries per feed (by config URL)."""
    query = (
        select(feeds.c.config_url, func.count(entries.c.id))
        .select_from(feeds.outerjoin(entries, entries.c.feed_id == feeds.c.id))
        .group_by(feeds.c.config_url)
    )
    with engine.connect() as conn:
        return {url: count for url, count in conn.execute(query)}


def round_done(engine: Engine, since: datetime, total: int) -> bool:
    """True when every feed was fetched at or after ``since`` and no lease is held."""
    with engine.connect() as conn:
        fetched = conn.execute(
            select(func.count()).select_from(feeds).where(feeds.c.last_fetch_at >= since)
        ).scalar_one()
        leased = conn.execute(
            select(func.count()).select_from(feeds).where(feeds.c.lease_owner.is_not(None))
        ).scalar_one()
    return fetched == total and leased == 0
