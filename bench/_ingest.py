"""Ingest cost end to end: poll rounds against a local feed server, beside feedparser and reader.

    .venv/bin/python bench/ingest.py [--feeds 200] [--entries 20] [--hosts 10] [--no-reader]

Starts bench/_server.py (generated news feeds, half RSS 2.0 with content:encoded, half Atom,
about 2 KB of article HTML per entry) in its own process on several loopback addresses, and
prints:

1. the CPU and wall time per entry of an ``ingest.poll.poll`` round into a fresh SQLite store
   (fetch, parse, sanitize, store), beside ``feedparser.parse(bytes)`` with its defaults on the
   same bytes;
2. that first round's wall and CPU time beside lemon24/reader's ``update_feeds()`` on the same
   server (reader runs in its own virtualenv, $BROADSHEET_BENCH_VENV, made on first use);
3. the CPU of rounds where nothing changed (all 304; all the same body without validators)
   beside a full round, and the client CPU per conditional GET.

A round is measured twice over: with the parser pool started inside ``poll()`` (as
`broadsheet poll` runs it) and with a pool started beforehand (as `broadsheet worker` keeps one).
CPU includes child processes (the parser pool); the server's CPU is never counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import feedparser  # noqa: E402
from _feeds import feed_body, kind  # noqa: E402
from _measure import (  # noqa: E402
    Run,
    feed_server,
    feedparser_defaults,
    measure,
    reader_round,
    wait_idle,
)
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
    reader: dict[str, Any] | str


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
            reader = "skipped (--no-reader)" if args.no_reader else reader_round(validating)
        theirs, ours = parse_costs(args.entries, args.repeat)
        return Results(
            cold, warm, full_plain, not_modified, same_hash, conditional, theirs, ours, reader
        )


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


def warm_up(pool: ParsingPool, exclude: set[int]) -> None:
    """Start every process of ``pool`` and let them finish importing."""

    async def parse_some() -> None:
        now = datetime.now(UTC)
        jobs = [pool.parse(feed_body(n, 2), {}, "http://127.0.0.1/", now) for n in range(8)]
        await asyncio.gather(*jobs)

    asyncio.run(parse_some())
    wait_idle(exclude)


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


def least_cpu(parse: Callable[[bytes], object], bodies: list[bytes], repeats: int) -> float:
    """Least CPU seconds of ``repeats`` passes of ``parse`` over ``bodies``."""
    passes = []
    for _ in range(repeats):
        started = time.process_time()
        for body in bodies:
            parse(body)
        passes.append(time.process_time() - started)
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

        theirs[name] = least_cpu(feedparser_defaults, bodies, repeats) / (SAMPLE * entries)
        ours[name] = least_cpu(ours_parse, bodies, repeats) / (SAMPLE * entries)
    for costs in (theirs, ours):
        costs["mixed"] = (costs["rss"] + costs["atom"]) / 2
    return theirs, ours


def ms(seconds: float) -> str:
    """Seconds as milliseconds with three or so significant digits."""
    value = seconds * 1000
    return f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table(rows: list[list[str]]) -> None:
    """Print rows as columns, the first row as the heading; numbers right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip())
        if number == 0:
            print("  " + "  ".join("-" * width for width in widths))


def verdict(met: bool) -> str:
    """'met' or 'MISSED'."""
    return "met" if met else "MISSED"


def print_settings(args: argparse.Namespace, settings: PollSettings) -> None:
    """What was measured, on what, with which settings."""
    per_entry = sum(len(feed_body(n, args.entries)) for n in range(2)) / 2 / args.entries
    hosts = f"127.0.0.1 .. 127.0.0.{args.hosts}" if args.hosts > 1 else "127.0.0.1"
    processes = settings.workers or os.cpu_count() or 1
    print(
        f"Broadsheet ingest benchmark: {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at start, Python {sys.version.split()[0]}, "
        f"feedparser {feedparser.__version__}\n"
        f"  feeds:   {args.feeds} x {args.entries} entries; half RSS 2.0 with content:encoded, "
        "half Atom 1.0;\n"
        f"           {per_entry / 1024:.1f} KB per entry on the wire, 2.2 KB of it article HTML\n"
        "  server:  bench/_server.py, own process (its CPU not counted), HTTP/1.1 keep-alive,\n"
        f"           {args.hosts} hosts {hosts}, feed n on host n mod {args.hosts}\n"
        f"  [poll]:  concurrency = {settings.concurrency}, per_host = {settings.per_host}, "
        f"workers = {settings.workers} ({processes} parser processes), others default\n"
        "  store:   a fresh SQLite file (WAL) for each first round\n"
        "  CPU:     this process (all threads) + child processes (the parser pool);\n"
        f"           least CPU of {args.rounds} first rounds and of {args.repeat} of the rest"
    )


def print_per_entry(results: Results, args: argparse.Namespace) -> None:
    """1. A whole round per entry beside feedparser.parse alone."""
    entries = args.feeds * args.entries
    theirs, ours = results.feedparser, results.parse_feed
    print(f"\n1. Cost per entry, {entries} entries: our whole round vs feedparser.parse alone")
    rows = [["", "CPU ms/entry", "wall ms/entry", "RSS CPU", "Atom CPU"]]
    for name, run in (
        ("poll(), pool started in the round", results.cold),
        ("poll(), pool started beforehand", results.warm),
    ):
        rows.append([name, ms(run.cpu / entries), ms(run.wall / entries), "", ""])
    for name, costs in (
        ("parse_feed alone, in-process", ours),
        ("feedparser.parse(bytes), defaults", theirs),
    ):
        rows.append([name, ms(costs["mixed"]), "", ms(costs["rss"]), ms(costs["atom"])])
    table(rows)
    for name, run in (
        ("pool started in the round", results.cold),
        ("pool started beforehand", results.warm),
    ):
        ratio = theirs["mixed"] / (run.cpu / entries)
        print(
            f"  feedparser alone / our round ({name}): {ratio:.2f}x in CPU per entry "
            f"(target > 1: {verdict(ratio > 1)})"
        )


def print_first_round(results: Results, args: argparse.Namespace) -> None:
    """2. The first round beside reader's update_feeds()."""
    reader = results.reader
    print(f"\n2. First round over {args.feeds} feeds x {args.entries} entries, vs reader")
    rows = [["", "wall s", "CPU s", "own CPU", "children CPU", "entries"]]
    for name, run in (
        ("poll(), pool started in the round", results.cold),
        ("poll(), pool started beforehand", results.warm),
    ):
        times = [run.wall, run.cpu, run.own, run.children]
        rows.append([name, *(f"{t:.2f}" for t in times), str(args.feeds * args.entries)])
    start = results.cold.children - results.warm.children
    note = (
        f"  starting the pool inside the round: about {start:.2f} s more CPU (the pool's processes\n"
        "  start from a fork server that has imported the parser, then warm up on their first feeds)"
    )
    if isinstance(reader, str):
        table(rows)
        print(f"{note}\n  reader: {reader}")
        return
    name = f"reader {reader['version']} update_feeds()"
    rows.append(
        [name, f"{reader['wall']:.2f}", f"{reader['cpu']:.2f}", "", "", str(reader["entries"])]
    )
    table(rows)
    print(note)
    print("  reader with its defaults: one worker, feedparser's sanitizer on, its own SQLite file")
    for name, run in (
        ("pool started in the round", results.cold),
        ("pool started beforehand", results.warm),
    ):
        wall, spent = reader["wall"] / run.wall, reader["cpu"] / run.cpu
        print(
            f"  reader / ours ({name}): {wall:.1f}x wall, {spent:.1f}x CPU "
            f"(target >= 4x wall: {verdict(wall >= 4)})"
        )


def print_unchanged(results: Results, args: argparse.Namespace) -> None:
    """3. Rounds where nothing changed beside a full round."""
    feeds, full = args.feeds, results.warm
    print(f"\n3. Rounds where nothing changed, {feeds} feeds, beside a full round")
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
    worst = max(results.not_modified.cpu, results.same_hash.cpu)
    print(
        f"  client CPU per conditional GET (fetcher alone, 304, no store): "
        f"{ms(results.conditional)} ms"
    )
    print(
        f"  targets: unchanged round under 1 ms client CPU per feed: "
        f"{verdict(worst / feeds < 0.001)}; under 2% of a full round: "
        f"{verdict(worst / full.cpu < 0.02)}"
    )


def main() -> None:
    """Measure, then print the settings and the three tables."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--feeds", type=int, default=200)
    options.add_argument("--entries", type=int, default=20)
    options.add_argument("--hosts", type=int, default=10, help="loopback addresses, up to 254")
    options.add_argument("--per-host", type=int, default=PollSettings.per_host)
    options.add_argument("--concurrency", type=int, default=PollSettings.concurrency)
    options.add_argument("--workers", type=int, default=0, help="parser processes, 0: one per CPU")
    options.add_argument("--rounds", type=int, default=2, help="first rounds measured (least CPU)")
    options.add_argument("--repeat", type=int, default=3, help="repeats of cheap measurements")
    options.add_argument("--no-reader", action="store_true", help="skip reader's round")
    args = options.parse_args()
    settings = replace(
        PollSettings(),
        concurrency=args.concurrency,
        per_host=args.per_host,
        workers=args.workers,
        allow_private=True,  # the feed server is on 127.0.0.1
    )
    print_settings(args, settings)
    with tempfile.TemporaryDirectory(prefix="broadsheet-bench-") as folder:
        results = Bench(args, settings, Path(folder)).measure_all()
    print_per_entry(results, args)
    print_first_round(results, args)
    print_unchanged(results, args)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
