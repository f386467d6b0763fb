"""Requests per second and latency of `broadsheet web`: the one-click unsubscribe and the archive.

One `broadsheet web` process, pinned to one core with ``taskset``, serves a store on SQLite and
then one on PostgreSQL; the load comes from this process (asyncio, keep-alive connections,
pinned to the other cores when there are any), which sends each request as soon as the previous
answer on its connection arrived. Printed side by side: requests per second, p50 and p99.

- **one-click POST**: ``POST /u/TOKEN`` with ``List-Unsubscribe=One-Click``, each request for
  the next of ``--subscribers`` people in turn: the first round unsubscribes each of them (a
  write), later rounds find them unsubscribed already (the conditional write changes nothing).
- **archive page**: ``GET /a/TOKEN`` for the next of ``--archived`` people, each with
  ``--editions`` past digests (empty digests written as Markdown, made by ``api.deliver`` one
  day apart before the server starts).

    .venv/bin/python bench/web.py [--subscribers 3000] [--archived 20] [--editions 30]
                                  [--connections 16] [--seconds 10] [--warmup 2] [--core 0]
                                  [--pg URL] [--pg-schema NAME] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/ingest.py

from sqlalchemy import create_engine, text

from broadsheet import api
from broadsheet.app import App
from digests.links import ARCHIVE, UNSUBSCRIBE, token

SECRET_ENV = "BROADSHEET_SECRET_KEY"
ONE_CLICK = b"List-Unsubscribe=One-Click"


def pinned(core: int) -> list[str]:
    """`broadsheet` run on one core only."""
    return ["taskset", "-c", str(core), sys.executable, "-m", "broadsheet"]


PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Figures:
    """One endpoint's measurement."""

    requests: int
    seconds: float
    latencies: tuple[float, ...]  # seconds, sorted
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        """The latency ``share`` of the requests stayed under, in milliseconds."""
        index = min(len(self.latencies) - 1, int(share * len(self.latencies)))
        return self.latencies[index] * 1000


def main() -> None:
    """Measure on each store and print the table."""
    options = arguments()
    if shutil.which("taskset") is None:
        sys.exit("taskset is needed to pin the server to one core (util-linux)")
    others = set(range(os.cpu_count() or 1)) - {options.core}
    if others and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, others)  # the load generator stays off the server's core
    secret = secrets.token_urlsafe(32)
    os.environ[SECRET_ENV] = secret
    print(header(options, others))
    results: dict[str, dict[str, Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        stores = {"SQLite": f"sqlite:///{folder}/store.db"}
        if not options.no_pg:
            stores["PostgreSQL"] = fresh_schema(options.pg, options.pg_schema)
        for name, url in stores.items():
            print(f"{name}: preparing {options.subscribers} subscribers ...", flush=True)
            config = write_config(Path(folder) / name, url, options.subscribers)
            one_click, archive = prepare(config, options, secret)
            results[name] = measure(config, options, one_click, archive)
    print()
    print(table(results))


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--archived", type=int, default=20, help="people with past editions")
    parser.add_argument("--editions", type=int, default=30, help="past editions of each")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, per figure")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured, before each")
    parser.add_argument("--core", type=int, default=0, help="the core the server is pinned to")
    parser.add_argument("--pg", default=os.environ.get("BROADSHEET_BENCH_PG", PG))
    parser.add_argument("--pg-schema", default="broadsheet_bench_web")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    return parser.parse_args()


def header(options: argparse.Namespace, others: set[int]) -> str:
    """What was measured, and how busy the machine was."""
    import starlette
    import uvicorn

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    client = f"cores {sorted(others)}" if others else "the same core (only one)"
    return (
        f"broadsheet web: uvicorn {uvicorn.__version__} (h11), starlette {starlette.__version__}; "
        f"server pinned to core {options.core} (taskset), load from {client}\n"
        f"{options.connections} keep-alive connections; {options.seconds:g} s measured after "
        f"{options.warmup:g} s warm-up per figure; {options.subscribers} subscribers, "
        f"{options.archived} of them with {options.editions} past editions\n"
        f"load average before: {load}; {os.cpu_count()} cores"
    )


def fresh_schema(server: str, schema: str) -> str:
    """An empty schema on the PostgreSQL server; the store URL that uses it."""
    engine = create_engine(server)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{server}?options=-csearch_path%3D{schema}"


def write_config(folder: Path, storage_url: str, people: int) -> Path:
    """A config: ``people`` subscribers with daily Markdown digests, empty ones written too."""
    folder.mkdir(parents=True)
    lines = [
        "[storage]",
        f"url = {json.dumps(storage_url)}",
        "[digests]",
        'output_dir = "out"',
        "send_empty = true",
        "[worker]",
        'log_format = "text"',
    ]
    for n in range(people):
        lines += [
            "[[subscribers]]",
            f'email = "reader{n}@example.org"',
            'schedule = "daily 07:00"',
            'deliver = ["markdown"]',
        ]
    path = folder / "broadsheet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare(config: Path, options: argparse.Namespace, secret: str) -> tuple[list[str], list[str]]:
    """Sync the subscribers, make the past editions; the one-click and archive paths."""
    app = App.open(config)
    try:
        people = api.subscribers(app)
        archived = [view.email for view in people[: options.archived]]
        start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
        for day in range(options.editions, 0, -1):
            api.deliver(app, subscribers=archived, now=start - timedelta(days=day))
        one_click = [f"/u/{token(secret, view.public_id, UNSUBSCRIBE)}" for view in people]
        archive = [f"/a/{token(secret, view.public_id, ARCHIVE)}" for view in people]
        shown = len(api.archive(app, archived[0]))
        print(f"  {archived[0]} has {shown} past editions", flush=True)
    finally:
        app.close()
    return one_click, archive[: options.archived]


def measure(
    config: Path, options: argparse.Namespace, one_click: list[str], archive: list[str]
) -> dict[str, Figures]:
    """Start the server pinned to its core; load each endpoint in turn."""
    port = free_port()
    log = config.with_name("web.log").open("wb")
    server = subprocess.Popen(
        [*pinned(options.core), "web", "--port", str(port), "--config", str(config)],
        stdout=log,
        stderr=log,
        env={k: v for k, v in os.environ.items() if k != "BROADSHEET_CONFIG"},
    )
    try:
        wait_until_up(port, server)
        posts = [request("POST", path, ONE_CLICK) for path in one_click]
        pages = [request("GET", path) for path in archive]
        return {
            "one-click POST": asyncio.run(load(port, posts, options)),
            "archive page": asyncio.run(load(port, pages, options)),
        }
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(15)
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()


def request(method: str, path: str, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request, ready to send."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += "Content-Type: application/x-www-form-urlencoded\r\n"
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def load(port: int, requests: list[bytes], options: argparse.Namespace) -> Figures:
    """Keep ``connections`` requests in flight; measure after the warm-up."""
    turn = itertools.cycle(requests)
    started = time.perf_counter()
    measure_from = started + options.warmup
    until = measure_from + options.seconds
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    await asyncio.gather(
        *(
            connection(port, turn, measure_from, until, latencies, statuses)
            for _ in range(options.connections)
        )
    )
    return Figures(len(latencies), options.seconds, tuple(sorted(latencies)), dict(statuses))


async def connection(
    port: int,
    turn: Iterator[bytes],
    measure_from: float,
    until: float,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    """One keep-alive connection sending requests one after the other until ``until``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (sent := time.perf_counter()) < until:
            writer.write(next(turn))
            status = await response(reader)
            done = time.perf_counter()
            if sent >= measure_from and done <= until:
                latencies.append(done - sent)
                statuses[status] += 1
    finally:
        writer.close()


async def response(reader: asyncio.StreamReader) -> int:
    """Read one response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


def table(results: dict[str, dict[str, Figures]]) -> str:
    """The figures, one column per store."""
    stores = list(results)
    lines = [f"{'':<16}{'':<8}" + "".join(f"{name:>14}" for name in stores)]
    endpoints = list(next(iter(results.values())))
    for endpoint in endpoints:
        rows = (
            ("req/s", lambda f: f"{f.rate:.0f}"),
            ("p50 ms", lambda f: f"{f.percentile(0.50):.1f}"),
            ("p99 ms", lambda f: f"{f.percentile(0.99):.1f}"),
            ("statuses", lambda f: ",".join(f"{k}x{v}" for k, v in sorted(f.statuses.items()))),
        )
        for n, (label, show) in enumerate(rows):
            first = endpoint if n == 0 else ""
            cells = "".join(f"{show(results[s][endpoint]):>14}" for s in stores)
            lines.append(f"{first:<16}{label:<8}{cells}")
    return "\n".join(lines)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    """Wait for /healthz to answer 200 (fail if the server exits)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"`broadsheet web` exited with status {server.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=5) as conn,
        ):
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            if conn.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    sys.exit("`broadsheet web` did not answer /healthz within 120 s")


if __name__ == "__main__":
    main()
