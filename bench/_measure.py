"""Measuring helpers for the benchmarks: CPU with child processes, the feed server, reader.

Standard library only. CPU is this process's (all threads, ``time.process_time``) plus its
descendants': live ones read from /proc (user + system, and the children they reaped), reaped
ones from ``os.times``. Processes given in ``exclude`` (the feed server) and theirs are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser

HERE = Path(__file__).resolve().parent
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
READER = "reader==3.26"
VENV = Path(os.environ.get("BROADSHEET_BENCH_VENV", "/tmp/broadsheet-bench-venv"))


@dataclass(frozen=True)
class Run:
    """One measured run: wall and CPU seconds (this process; its descendants) and its result."""

    wall: float
    own: float
    children: float
    result: Any = None

    @property
    def cpu(self) -> float:
        """All CPU seconds."""
        return self.own + self.children


def descendants_cpu(exclude: set[int]) -> float:
    """CPU seconds of this process's live descendants (and of the children they reaped)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(value) for value in fields[11:15]) / CLOCK_TICK
    me = os.getpid()

    def counted(pid: int) -> bool:
        while pid and pid not in exclude:
            pid = parents.get(pid, 0)
            if pid == me:
                return True
        return False

    return sum(spent for pid, spent in times.items() if counted(pid))


def children_cpu(exclude: set[int]) -> float:
    """CPU seconds of all descendants so far: live ones from /proc, reaped ones from rusage."""
    reaped = os.times()
    return reaped.children_user + reaped.children_system + descendants_cpu(exclude)


def measure(work: Callable[[], Any], exclude: set[int]) -> Run:
    """Run ``work`` once: its wall time and CPU, descendants included."""
    wall, own, children = time.perf_counter(), time.process_time(), children_cpu(exclude)
    result = work()
    wall, own = time.perf_counter() - wall, time.process_time() - own
    time.sleep(0.1)  # let exited pool processes be reaped, so that their CPU is accounted
    return Run(wall, own, children_cpu(exclude) - children, result)


def wait_idle(exclude: set[int], timeout: float = 30.0) -> None:
    """Wait until the descendants stop using CPU (a new pool's processes done importing)."""
    deadline = time.monotonic() + timeout
    before = children_cpu(exclude)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = children_cpu(exclude)
        if now - before < 0.02:
            return
        before = now


def feed_server(
    feeds: int, entries: int, hosts: int
) -> AbstractContextManager[tuple[list[str], int]]:
    """bench/_server.py in its own process: its base URLs and its pid."""
    return server_process(
        "_server.py", f"--feeds={feeds}", f"--entries={entries}", f"--hosts={hosts}"
    )


@contextmanager
def server_process(script: str, *args: str) -> Iterator[tuple[list[str], int]]:
    """A benchmark server (a script in bench/) in its own process: its base URLs and its pid."""
    command = [sys.executable, str(HERE / script), *args]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        yield json.loads(process.stdout.readline())["bases"], process.pid
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def reader_python() -> Path | str:
    """The benchmark virtualenv's python with reader installed (made on first use), or why not."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import reader, sgmllib"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        print(f"(installing {READER} and sgmllib3k into {VENV}, BROADSHEET_BENCH_VENV)", flush=True)
        steps = [] if python.exists() else [[sys.executable, "-m", "venv", str(VENV)]]
        steps.append([str(python), "-m", "pip", "install", "-q", READER, "sgmllib3k"])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr or done.stdout).strip().splitlines()[-1:]
                return f"skipped: {' '.join(step[2:])} failed: {' '.join(last)}"
    return python


def cpu_passes(parse: Callable[[bytes], object], bodies: list[bytes], passes: int) -> list[float]:
    """CPU seconds of each of ``passes`` passes of ``parse`` over ``bodies``, in this process."""
    spent = []
    for _ in range(passes):
        started = time.process_time()
        for body in bodies:
            parse(body)
        spent.append(time.process_time() - started)
    return spent


def feedparser_defaults(body: bytes) -> object:
    """feedparser.parse(bytes) as shipped: without the expat driver that ingest.parse registers."""
    preferred = feedparser.api.PREFERRED_XML_PARSERS
    saved = list(preferred)
    preferred[:] = [name for name in preferred if name != "ingest.parse"]
    try:
        return feedparser.parse(body)
    finally:
        preferred[:] = saved


def warm_up(pool: Any, exclude: set[int]) -> None:
    """Start every process of the parser pool ``pool`` and let them finish importing."""
    import asyncio
    from datetime import UTC, datetime

    from _feeds import feed_body

    async def parse_some() -> None:
        now = datetime.now(UTC)
        jobs = [pool.parse(feed_body(n, 2), {}, "http://127.0.0.1/", now) for n in range(8)]
        await asyncio.gather(*jobs)

    asyncio.run(parse_some())
    wait_idle(exclude)


def speed_probe() -> float:
    """CPU seconds of a fixed pure-Python loop: this machine's speed now.

    Printed at the start and the end of a benchmark: these machines' speed drifts (seen here:
    the same loop twice as slow an hour later), and figures taken across a drift compare badly.
    """
    started = time.process_time()
    total = 0
    for number in range(3_000_000):
        total += number
    return time.process_time() - started


def byte_compiled() -> str:
    """Byte-compile the project's packages when this environment never would; what was done.

    With PYTHONDONTWRITEBYTECODE set (as on these machines), an editable install's modules are
    compiled anew by every command, about a tenth of a second each; ``pip install .`` compiles
    them once, and elsewhere the first run caches them. The benchmark measures that usual case.
    """
    if not sys.dont_write_bytecode:
        return "bytecode: cached by Python as usual"
    root = Path(__file__).resolve().parent.parent
    folders = [str(root / name) for name in ("broadsheet", "ingest", "digests")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)
    return (
        "bytecode: PYTHONDONTWRITEBYTECODE is set here, so broadsheet's packages were compiled "
        "once beforehand (as `pip install .` does; otherwise every command compiles them)"
    )


def post(base: str, path: str, data: dict[str, Any]) -> None:
    """POST JSON to the feed server (``/_/advance``, ``/_/reset``)."""
    request = urllib.request.Request(f"{base}{path}", json.dumps(data).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
