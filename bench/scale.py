"""Scaling out: feeds polled per second by 1, 2 and 4 `broadsheet worker` processes on PostgreSQL.

    .venv/bin/python bench/scale.py [--feeds 2000] [--workers 1,2,4] [--rss-feeds 10000]
                                    [--no-rss-round]

The feeds are tests/server.py's generated feeds (/gen/N.xml, five items, ETag and Last-Modified),
served by that script in its own process on 127.0.0.1. All feeds share one host, so per_host is
raised to the concurrency (20): the benchmark measures the workers and the store, not politeness.
The store is the local PostgreSQL (database ``test``, schema ``broadsheet_bench``, recreated for
every run; $BROADSHEET_TEST_PG names another server).

For each number of workers: the feeds are synced in beforehand and held back, the workers are
started and left to settle, then every feed is made due at once and the round lasts until every
feed was fetched and released. Three rounds: ``first`` (200, parse, store five entries, and
each worker starting its parser processes), ``new`` (the same with the entries deleted and the
validators forgotten beforehand, parser processes running) and ``unchanged`` (conditional GET,
304). CPU is read from /proc: the workers with their parser
processes ("client"), the PostgreSQL backends serving the workers (found by application_name),
every PostgreSQL process (the whole server, so other users of it show up there) and the feed
server. Last, the resident memory of one worker with ``--rss-feeds`` feeds configured.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the ingest package, not bench/ingest.py beside this script

from _processes import proc_fields as proc_stat  # noqa: E402
from sqlalchemy import Engine, create_engine, func, select, text, update  # noqa: E402

from ingest.models import FeedSpec  # noqa: E402
from ingest.store import feeds as stored_feeds  # noqa: E402
from ingest.store.database import open_store  # noqa: E402
from ingest.store.schema import entries, feeds  # noqa: E402

PG = os.environ.get("BROADSHEET_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "broadsheet_bench"
APP_NAME = "broadsheet-bench"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LATER = datetime(2100, 1, 1, tzinfo=UTC)  # "not due": feeds wait here until a round starts


@dataclass(frozen=True)
class Round:
    """One measured round."""

    workers: int
    kind: str
    feeds: int
    wall: float
    client: float  # CPU seconds of the workers and their parser processes
    backends: float  # CPU seconds of the PostgreSQL backends serving the workers
    server: float  # CPU seconds of every PostgreSQL process
    http: float  # CPU seconds of the feed server

    @property
    def rate(self) -> float:
        """Feeds polled per second."""
        return self.feeds / self.wall


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds of ``roots`` and all their descendants, including children they reaped."""
    parents, spent = {}, {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := proc_stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
            spent[int(entry.name)] = sum(int(v) for v in fields[11:15]) / TICK

    def inside(pid: int) -> bool:
        while pid > 1:
            if pid in roots:
                return True
            pid = parents.get(pid, 0)
        return False

    return sum(seconds for pid, seconds in spent.items() if inside(pid))


def postgres_pids() -> list[int]:
    """Every running PostgreSQL server process on this machine."""
    pids = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and Path(entry.path, "comm").read_text().strip() == "postgres":
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server: its processes, and the backends they reaped."""
    pids = postgres_pids()
    masters = [p for p in pids if (f := proc_stat(p)) and int(f[1]) not in pids]
    return tree_cpu(masters) if masters else 0.0


def backend_pids(engine: Engine) -> list[int]:
    """The PostgreSQL backends connected with the benchmark's application_name."""
    query = text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
    with engine.connect() as conn:
        return list(conn.execute(query, {"name": APP_NAME}).scalars())


def backends_cpu(pids: list[int]) -> float:
    """CPU seconds of the given backends (those gone meanwhile count as nothing)."""
    return sum(sum(int(v) for v in f[11:13]) / TICK for p in pids if (f := proc_stat(p)))


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def feed_server() -> Iterator[tuple[str, int]]:
    """tests/server.py in its own process: its base URL and pid."""
    command = [sys.executable, str(ROOT / "tests" / "server.py")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip(), process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def fresh_store(count: int, base: str) -> tuple[str, Engine]:
    """A new schema with ``count`` feeds synced in and held back; its URL and an engine."""
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    admin.dispose()
    url = f"{PG}?options=-csearch_path%3D{SCHEMA}"
    engine = open_store(f"{url}&application_name={APP_NAME}-driver")
    specs = [FeedSpec(f"{base}/gen/{n}.xml") for n in range(count)]
    stored_feeds.sync(engine, specs, datetime.now(UTC))
    with engine.begin() as conn:
        conn.execute(update(feeds).values(next_poll_at=LATER))
    return f"{url}&application_name={APP_NAME}", engine


def write_config(folder: Path, count: int, base: str, url: str) -> Path:
    """A config with ``count`` feeds on the feed server, the store at ``url``."""
    lines = [
        "[storage]",
        f'url = "{url}"',
        "[poll]",
        'interval = "1d"',
        "concurrency = 20",
        "per_host = 20",
        "allow_private = true",  # the feed server is on 127.0.0.1
        "[worker]",
        'poll_every = "200ms"',
    ]
    for n in range(count):
        lines += ["[[feeds]]", f'url = "{base}/gen/{n}.xml"']
    path = folder / f"scale-{count}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_workers(stack: ExitStack, config: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` workers and wait until each has run an (empty) poll round."""
    workers = []
    for i in range(count):
        log = stack.enter_context((config.parent / f"worker-{count}-{i}.log").open("w+b"))
        command = [sys.executable, "-m", "broadsheet", "worker", "--config", str(config)]
        worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)
        stack.callback(stop, worker)
        workers.append(worker)
    for i in range(count):
        log_path = config.parent / f"worker-{count}-{i}.log"
        wait(lambda p=log_path: b"poll: 0 feeds" in p.read_bytes(), f"worker {i} to start")
    return workers


def stop(worker: subprocess.Popen[bytes]) -> None:
    """Stop a worker with SIGTERM, as systemd would."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)


def wait(
    condition: Callable[[], bool], what: str, timeout: float = 600.0, every: float = 0.1
) -> None:
    """Poll ``condition`` until it is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(every)


def round_over(engine: Engine, since: datetime, count: int) -> bool:
    """Every feed fetched since ``since`` and released."""
    query = select(func.count()).where(
        feeds.c.last_fetch_at >= since, feeds.c.lease_owner.is_(None)
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one()) == count


def measure_round(engine: Engine, workers: list[int], http: int, count: int, kind: str) -> Round:
    """Make every feed due now and measure until the round is over."""
    if kind == "new":  # as if every feed had new articles: a whole GET, a parse, five inserts
        with engine.begin() as conn:
            conn.execute(entries.delete())
            conn.execute(update(feeds).values(etag=None, last_modified=None, body_hash=None))
    backends = backend_pids(engine)
    before = (tree_cpu(workers), backends_cpu(backends), postgres_cpu(), tree_cpu([http]))
    started, since = time.perf_counter(), datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(update(feeds).values(next_poll_at=since))
    wait(lambda: round_over(engine, since, count), f"the {kind} round")
    wall = time.perf_counter() - started
    backends = sorted(set(backends) | set(backend_pids(engine)))
    after = (tree_cpu(workers), backends_cpu(backends), postgres_cpu(), tree_cpu([http]))
    with engine.begin() as conn:
        conn.execute(update(feeds).values(next_poll_at=LATER))
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return Round(len(workers), kind, count, wall, *spent)


def scale(counts: list[int], feeds_n: int, base: str, http: int, folder: Path) -> list[Round]:
    """Both rounds for each number of workers, each on a fresh store."""
    rounds = []
    for count in counts:
        url, engine = fresh_store(feeds_n, base)
        config = write_config(folder, feeds_n, base, url)
        with ExitStack() as stack:
            pids = [w.pid for w in start_workers(stack, config, count)]
            for kind in ("first", "new", "unchanged"):
                rounds.append(measure_round(engine, pids, http, feeds_n, kind))
                print(f"  {count} worker(s), {kind}: {rounds[-1].rate:.0f} feeds/s", flush=True)
        engine.dispose()
    return rounds


def memory(count: int, base: str, folder: Path, with_round: bool) -> dict[str, float]:
    """RSS of one worker with ``count`` feeds configured: after start, after a round, at peak."""
    url, engine = fresh_store(count, base)
    config = write_config(folder, count, base, url)
    found: dict[str, float] = {}
    with ExitStack() as stack:
        worker = start_workers(stack, config, 1)[0]
        found["after start"] = rss_mb(worker.pid)
        if with_round:
            since = datetime.now(UTC)
            with engine.begin() as conn:
                conn.execute(update(feeds).values(next_poll_at=since))
            wait(lambda: round_over(engine, since, count), "the memory round", timeout=1800)
            found["after a round"] = rss_mb(worker.pid)
            parsers = [p for p in children_of(worker.pid) if parent_of(p) != worker.pid]
            found[f"its {len(parsers)} parser processes"] = sum(rss_mb(p) for p in parsers)
        found["peak"] = rss_mb(worker.pid, "VmHWM")
    engine.dispose()
    return found


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid``."""
    parents = {
        int(e.name): int(f[1])
        for e in os.scandir("/proc")
        if e.name.isdigit() and (f := proc_stat(int(e.name)))
    }
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return sorted(found)


def parent_of(pid: int) -> int:
    """The parent's process id (0 when the process is gone)."""
    fields = proc_stat(pid)
    return int(fields[1]) if fields else 0


def report(rounds: list[Round], memory_mb: dict[str, float], rss_feeds: int) -> None:
    """Print the table and the ratios."""
    cpus = os.cpu_count()
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"\n{rounds[0].feeds} feeds on 127.0.0.1, PostgreSQL on this machine, {cpus} CPUs")
    print(f"(load average {load} at the end: other work on this machine skews the figures)")
    head = f"{'workers':>7} {'round':<9} {'wall s':>7} {'feeds/s':>8} {'vs 1':>5}"
    head += f" {'client CPU s':>12} {'PG backends':>11} {'PG server':>9} {'HTTP srv':>8}"
    head += f" {'client ms/feed':>14} {'PG ms/feed':>10}"
    print(head)
    base = {r.kind: r.rate for r in rounds if r.workers == rounds[0].workers}
    for r in rounds:
        print(
            f"{r.workers:>7} {r.kind:<9} {r.wall:>7.2f} {r.rate:>8.0f} {r.rate / base[r.kind]:>5.2f}"
            f" {r.client:>12.2f} {r.backends:>11.2f} {r.server:>9.2f} {r.http:>8.2f}"
            f" {1000 * r.client / r.feeds:>14.2f} {1000 * r.server / r.feeds:>10.2f}"
        )
    for r in rounds:
        print(
            f"{r.workers} worker(s), {r.kind}: PostgreSQL used {r.server / r.client:.2f} s of CPU "
            f"per client CPU s ({r.server / r.wall:.2f} cores while the round ran)"
        )
    if memory_mb:
        parts = ", ".join(f"{k}: {v:.0f} MB" for k, v in memory_mb.items())
        print(f"\none worker with {rss_feeds} feeds configured, resident memory: {parts}")


def main() -> None:
    """Parse the arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4", help="numbers of workers, e.g. 1,2,4")
    parser.add_argument("--rss-feeds", type=int, default=10_000)
    parser.add_argument("--no-rss-round", action="store_true", help="RSS after start only")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp, feed_server() as (base, http):
        print(f"feed server {base} (pid {http}); store {PG} schema {SCHEMA}", flush=True)
        rounds = scale(counts, args.feeds, base, http, Path(tmp))
        memory_mb = {}
        if args.rss_feeds:
            print(f"  one worker with {args.rss_feeds} feeds...", flush=True)
            memory_mb = memory(args.rss_feeds, base, Path(tmp), not args.no_rss_round)
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()
    report(rounds, memory_mb, args.rss_feeds)


if __name__ == "__main__":
    main()
