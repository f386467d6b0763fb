"""In-process figures for bench/ingest.py: ``ingest.poll.poll`` rounds and ``parse_feed`` alone.

The second section of bench/ingest.py (the first, whole commands, is ``_commands.py``): against
bench/_server.py in its own process,

- the CPU and wall time per entry of a first ``poll()`` round into a fresh SQLite store (fetch,
  parse, sanitize, store), with the parser pool started inside ``poll()`` and beforehand, beside
  ``parse_feed`` and ``feedparser.parse(bytes)`` with its defaults, in-process, on the same bytes;
- the CPU of rounds where nothing changed (all 304; the same body without validators) beside a
  full round, and the client CPU per conditional GET.

CPU here is this process's (all threads) plus its child processes' (the parser pool, from /proc);
the server's CPU is never counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import _commands as commands  # noqa: E402
import _worker_day as worker_day  # noqa: E402
import feedparser  # noqa: E402
from _commands import BROADSHEET  # noqa: E402
from _feeds import feed_body, kind  # noqa: E402
from _measure import (  # noqa: E402
    Run,
    byte_compiled,
    cpu_passes,
    feed_server,
    feedparser_defaults,
    measure,
    speed_probe,
    warm_up,
)
from _processes import Accounting  # noqa: E402
from _report import ms, table  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from ingest.fetch import Fetcher  # noqa: E402
from ingest.models import FeedSpec, PollSettings, Validators  # noqa: E402
from ingest.parse import parse_feed  # noqa: E402
from ingest.parsing_pool import ParsingPool  # noqa: E402
from ingest.poll import RoundReport, poll  # noqa: E402
from ingest.store import entries as stored_entries  # noqa: E402
from ingest.store import feeds as stored_feeds  # noqa: E402
from ingest.store.database import open_store  # noqa: E402

SAMPLE = 10  # feeds of each format parsed in-process for the per-entry comparison


@dataclass(frozen=True)
class Results:
    """Everything one run measured."""

    cold: Run  # first round, parser pool started inside poll()
    warm: Run  # first round into another fresh store, pool started beforehand
    plain: Run  # first round without validators, warm pool
    not_modified: Run
    same_hash: Run
    conditional: float  # CPU seconds per conditional GET, fetcher alone
    feedparser: dict[str, float]  # CPU seconds per entry, by format and "mixed"
    parse_feed: dict[str, float]


class Bench:
    """The rounds, against one feed server, into stores in one folder."""

    def __init__(self, args: argparse.Namespace, settings: PollSettings, folder: Path) -> None:
        self.args, self.settings, self.folder = args, settings, folder
        self.exclude: set[int] = set()
        self.stores = 0

    def store(self, urls: list[str]) -> Engine:
        """A new SQLite store that knows ``urls``."""
        self.stores += 1
        engine = open_store(f"sqlite:///{self.folder / str(self.stores)}.db")
        stored_feeds.sync(engine, [FeedSpec(url=url) for url in urls], datetime.now(UTC))
        return engine

    def round(self, engine: Engine, outcome: str, parser: ParsingPool | None = None) -> Run:
        """One ``poll(everything=True)`` round, measured; stops when it did not do ``outcome``."""
        run = measure(
            lambda: poll(engine, self.settings, everything=True, parser=parser), self.exclude
        )
        report: RoundReport = run.result
        if getattr(report, outcome) != self.args.feeds or report.failed:
            raise SystemExit(f"unexpected round (all {outcome} expected): {report.summary()}")
        return run

    def full(self, urls: list[str], parser: ParsingPool | None) -> tuple[Run, Engine]:
        """The least-CPU of ``--rounds`` first rounds, each into a fresh store.

        Without ``parser`` each round starts its own pool inside ``poll()``.
        """
        runs = []
        for _ in range(self.args.rounds):
            engine = self.store(urls)
            runs.append((self.round(engine, "fetched", parser), engine))
            stored = stored_entries.count(engine)
            if stored != self.args.feeds * self.args.entries:
                raise SystemExit(f"the round stored {stored} entries")
        return min(runs, key=lambda pair: pair[0].cpu)

    def unchanged(self, engine: Engine, outcome: str) -> Run:
        """The least-CPU of ``--repeat`` rounds in which no feed changed."""
        return min((self.round(engine, outcome) for _ in range(self.args.repeat)), key=cpu)

    def measure_all(self) -> Results:
        """Every measurement."""
        args = self.args
        with feed_server(args.feeds, args.entries, args.hosts) as (bases, server):
            self.exclude = {server}
            same_bytes(bases[0], [0, 1], args.entries)
            validating = feed_urls(bases, "v", args.feeds)
            plain = feed_urls(bases, "n", args.feeds)
            cold, first = self.full(validating, None)
            with ParsingPool(self.settings.workers) as pool:
                warm_up(pool, self.exclude)
                warm, _ = self.full(validating, pool)
                full_plain, second = self.full(plain, pool)
            not_modified = self.unchanged(first, "not_modified")
            same_hash = self.unchanged(second, "skipped_unchanged")
            conditional = conditional_gets(validating, self.settings, args.repeat)
        theirs, ours = parse_costs(args.entries, args.repeat)
        return Results(cold, warm, full_plain, not_modified, same_hash, conditional, theirs, ours)


def cpu(run: Run) -> float:
    """A run's CPU seconds (sort key)."""
    return run.cpu


def feed_urls(bases: list[str], mode: str, feeds: int) -> list[str]:
    """Feed n lives on host n modulo the number of hosts; mode 'v' has validators, 'n' not."""
    return [f"{bases[n % len(bases)]}/{mode}/{n}.xml" for n in range(feeds)]


def same_bytes(base: str, numbers: list[int], entries: int) -> None:
    """Stop unless the server sends exactly the bytes that feedparser is timed on here."""
    for n in numbers:
        with urllib.request.urlopen(f"{base}/n/{n}.xml", timeout=10) as response:
            if response.read() != feed_body(n, entries):
                raise SystemExit(f"the server's feed {n} differs from bench/_feeds.py's")


def conditional_gets(urls: list[str], settings: PollSettings, repeats: int) -> float:
    """Least client CPU seconds per conditional GET answered 304: the fetcher alone, no store."""

    async def fetch_all(validators: list[Validators]) -> list[Validators]:
        async with Fetcher(settings) as fetcher:
            pairs = zip(urls, validators, strict=True)
            done = await asyncio.gather(*(fetcher.fetch(url, known) for url, known in pairs))
        if validators[0].etag and not all(fetched.not_modified for fetched in done):
            raise SystemExit("the server did not answer 304 to a conditional GET")
        return [fetched.validators for fetched in done]

    known = asyncio.run(fetch_all([Validators()] * len(urls)))
    passes = []
    for _ in range(repeats):
        started = time.process_time()
        asyncio.run(fetch_all(known))
        passes.append((time.process_time() - started) / len(urls))
    return min(passes)


def parse_costs(entries: int, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds per entry of feedparser's defaults and of parse_feed, in this process."""
    theirs: dict[str, float] = {}
    ours: dict[str, float] = {}
    now = datetime.now(UTC)
    for name, first in (("rss", 0), ("atom", 1)):
        numbers = range(first, 2 * SAMPLE, 2)
        assert all(kind(n) == name for n in numbers)
        bodies = [feed_body(n, entries) for n in numbers]
        headers = {"Content-Type": f"application/{name}+xml"}

        def ours_parse(body: bytes, headers: dict[str, str] = headers) -> object:
            return parse_feed(body, headers, "http://127.0.0.1/feed.xml", now)

        theirs[name] = min(cpu_passes(feedparser_defaults, bodies, repeats)) / (SAMPLE * entries)
        ours[name] = min(cpu_passes(ours_parse, bodies, repeats)) / (SAMPLE * entries)
    for costs in (theirs, ours):
        costs["mixed"] = (costs["rss"] + costs["atom"]) / 2
    return theirs, ours


def print_settings(args: argparse.Namespace, accounting: Accounting) -> None:
    """What was measured, on what, with which settings."""
    per_entry = sum(len(feed_body(n, args.entries)) for n in range(2)) / 2 / args.entries
    hosts = f"127.0.0.1 .. 127.0.0.{args.hosts}" if args.hosts > 1 else "127.0.0.1"
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    busy = (
        " (a busy machine: wall times are inflated, CPU figures hold up better)"
        if load[0] > 0.25 * cpus
        else ""
    )
    print(
        f"Broadsheet ingest benchmark: {cpus} CPUs, load average "
        f"{', '.join(f'{v:.2f}' for v in load)} at start{busy}\n"
        f"  speed probe (CPU s of a fixed Python loop, lower is faster): {speed_probe():.3f}\n"
        f"  {byte_compiled()}\n"
        f"  Python {sys.version.split()[0]}, feedparser {feedparser.__version__}, "
        f"broadsheet as `{' '.join(BROADSHEET)}`\n"
        f"  feeds:   {args.feeds} x {args.entries} entries; half RSS 2.0 with content:encoded, "
        "half Atom 1.0;\n"
        f"           {per_entry / 1024:.1f} KB per entry on the wire, 2.2 KB of it article HTML\n"
        "  server:  bench/_server.py, own process (its CPU not counted), HTTP/1.1 keep-alive,\n"
        f"           {args.hosts} hosts {hosts}, feed n on host n mod {args.hosts}\n"
        f"  [poll]:  concurrency = {args.concurrency}, per_host = {args.per_host}, "
        f"workers = {args.workers} (0: one parser process per CPU), others default\n"
        "  store:   SQLite (WAL), a fresh file for each first round\n"
        f"  CPU:     {accounting.method}: every process a command starts;\n"
        "           figures are medians; wall is from before the fork to the exit"
    )
    if accounting.warning:
        print(f"  WARNING: {accounting.warning}")


def print_in_process(results: Results, args: argparse.Namespace) -> None:
    """Section B: poll() rounds and the parsers, in this process."""
    entries = args.feeds * args.entries
    theirs, ours = results.feedparser, results.parse_feed
    print(
        f"\nB. In-process figures (this process + its parser pool, from /proc; least of "
        f"{args.rounds} first rounds and of {args.repeat} of the rest)"
    )
    print(f"\nB1. A first poll() round over {args.feeds} feeds x {args.entries} entries")
    rows = [["", "wall s", "CPU s", "own CPU", "children CPU", "CPU ms/entry"]]
    for name, run in (
        ("poll(), pool started in the round", results.cold),
        ("poll(), pool started beforehand", results.warm),
    ):
        times = [run.wall, run.cpu, run.own, run.children]
        rows.append([name, *(f"{t:.2f}" for t in times), ms(run.cpu / entries)])
    table(rows)
    rows = [["parsing alone, in-process", "CPU ms/entry", "RSS", "Atom"]]
    for name, costs in (
        ("parse_feed", ours),
        ("feedparser.parse(bytes), defaults", theirs),
    ):
        rows.append([name, ms(costs["mixed"]), ms(costs["rss"]), ms(costs["atom"])])
    table(rows)
    start = results.cold.children - results.warm.children
    print(f"  starting the parser pool inside the round: about {start:.2f} s more CPU")
    for name, run in (("pool started in the round", results.cold), ("beforehand", results.warm)):
        ratio = (run.cpu / entries) / theirs["mixed"]
        print(f"  our round ({name}) / feedparser alone, CPU per entry: {ratio:.2f}")
    feeds, full = args.feeds, results.warm
    print(f"\nB2. poll() rounds where nothing changed, {feeds} feeds, beside a full round")
    rows = [["round", "wall s", "CPU ms", "CPU ms/feed", "% of full"]]
    for name, run in (
        ("full, first round, validators (pool warm)", results.warm),
        ("full, first round, no validators (pool warm)", results.plain),
        ("unchanged: all 304", results.not_modified),
        ("unchanged: same body hash, no validators", results.same_hash),
    ):
        share = f"{100 * run.cpu / full.cpu:.2f}%"
        rows.append([name, f"{run.wall:.2f}", ms(run.cpu), ms(run.cpu / feeds), share])
    table(rows)
    print(
        f"  client CPU per conditional GET (fetcher alone, 304, no store): "
        f"{ms(results.conditional)} ms"
    )


def options() -> argparse.Namespace:
    """The command line."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = options.add_argument
    add("--feeds", type=int, default=200)
    add("--entries", type=int, default=20)
    add("--hosts", type=int, default=10, help="loopback addresses, up to 254")
    add("--per-host", type=int, default=PollSettings.per_host)
    add("--concurrency", type=int, default=PollSettings.concurrency)
    add("--workers", type=int, default=0, help="parser processes, 0: one per CPU")
    add("--rounds", type=int, default=3, help="first rounds measured")
    add("--repeat", type=int, default=3, help="repeats of the other rounds")
    add("--startup-runs", type=int, default=5, help="runs of each start-up command")
    add("--no-reader", action="store_true", help="skip reader's round")
    add("--no-in-process", action="store_true", help="skip section B")
    add("--worker", action="store_true", help="simulate 24 hours of the worker (default: short)")
    add("--worker-hours", type=float, default=3, help="simulated hours without --worker")
    add("--worker-feeds", type=int, default=1000)
    add("--half-hour", type=float, default=6, help="real seconds standing for 30 minutes")
    add("--no-worker-day", action="store_true", help="skip the worker's simulated hours")
    add("--scale", action="store_true", help="also one worker's memory with --scale-feeds")
    add("--scale-feeds", type=int, default=10_000)
    return options.parse_args()


def main() -> None:
    """Measure and print, section by section."""
    args = options()
    settings = replace(
        PollSettings(),
        concurrency=args.concurrency,
        per_host=args.per_host,
        workers=args.workers,
        allow_private=True,  # the feed server is on 127.0.0.1
    )
    accounting = Accounting()
    print_settings(args, accounting)
    try:
        with tempfile.TemporaryDirectory(prefix="broadsheet-bench-") as folder:
            with feed_server(args.feeds, args.entries, args.hosts) as (bases, _):
                figures = commands.measure(args, accounting, Path(folder), bases)
            print("\nA. Whole commands, as users meet them")
            commands.report(figures, args)
            if not args.no_worker_day:
                worker_day.report_day(worker_day.simulate(args, accounting, Path(folder)))
            if args.scale:
                worker_day.scale(args, accounting, Path(folder))
            if not args.no_in_process:
                results = Bench(args, settings, Path(folder)).measure_all()
                print_in_process(results, args)
    finally:
        accounting.close()
    print(
        f"\nload average {', '.join(f'{v:.2f}' for v in os.getloadavg())} at the end; "
        f"speed probe {speed_probe():.3f} (beside the one at the start: a change means the "
        "machine's speed drifted during the run)"
    )
