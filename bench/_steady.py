"""Steady-state rounds: CPU per feed of a poll round in which every feed gained one entry.

    .venv/bin/python bench/steady.py [--feeds 200] [--entries 20] [--hosts 10] [--rounds 5]

Starts bench/_server.py (the generated news feeds of ``_feeds.py``, half RSS, half Atom) in its
own process. A store polls every feed once (the first round), then each measured round
the server moves every feed on by one entry (one new entry at the top, the oldest gone: the
body changed, so the body-hash shortcut does not apply) and ``poll()`` runs over all of them.
Printed side by side: that round's CPU per feed (this process and the parser pool, started
beforehand as ``broadsheet worker`` keeps one) and ``feedparser.parse(bytes)`` with its
defaults on the same bytes, in this process; then the rounds where nothing changed (all 304;
the same body without validators) per feed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import feedparser  # noqa: E402
from _feeds import feed_body  # noqa: E402
from _measure import (  # noqa: E402
    Run,
    cpu_passes,
    feed_server,
    feedparser_defaults,
    measure,
    post,
    warm_up,
)
from sqlalchemy import Engine  # noqa: E402

from ingest.models import FeedSpec, PollSettings  # noqa: E402
from ingest.parsing_pool import ParsingPool  # noqa: E402
from ingest.poll import RoundReport, poll  # noqa: E402
from ingest.store import feeds as stored_feeds  # noqa: E402
from ingest.store.database import open_store  # noqa: E402


class Steady:
    """A store of the server's feeds and the rounds polled into it."""

    def __init__(self, args: argparse.Namespace, settings: PollSettings, folder: Path) -> None:
        self.args, self.settings, self.folder = args, settings, folder
        self.exclude: set[int] = set()
        self.bases: list[str] = []
        self.generation = 0

    def store(self, mode: str) -> Engine:
        """A fresh SQLite store of every feed at ``/mode/N.xml``."""
        engine = open_store(f"sqlite:///{self.folder / mode}.db")
        urls = [f"{self.bases[n % len(self.bases)]}/{mode}/{n}.xml" for n in range(self.args.feeds)]
        stored_feeds.sync(engine, [FeedSpec(url=url) for url in urls], datetime.now(UTC))
        return engine

    def advance(self) -> None:
        """Every feed on the server gains one entry."""
        feeds = self.args.feeds
        post(self.bases[0], "/_/advance", {"feeds": list(range(feeds)), "by": [1] * feeds})
        self.generation += 1

    def round(self, engine: Engine, pool: ParsingPool, outcome: str, new: int) -> Run:
        """One measured ``poll(everything=True)``; stops unless every feed had ``outcome``."""
        run = measure(
            lambda: poll(engine, self.settings, everything=True, parser=pool), self.exclude
        )
        report: RoundReport = run.result
        if getattr(report, outcome) != self.args.feeds or report.failed:
            raise SystemExit(f"unexpected round (all {outcome} expected): {report.summary()}")
        if report.new_entries != new or report.updated_entries:
            raise SystemExit(f"unexpected round ({new} new expected): {report.summary()}")
        return run

    def rounds(self) -> dict[str, Run]:
        """The first round, the least-CPU steady round, and the unchanged rounds."""
        feeds, entries = self.args.feeds, self.args.entries
        with ParsingPool(self.settings.workers) as pool:
            warm_up(pool, self.exclude)
            validating, plain = self.store("v"), self.store("n")
            first = self.round(validating, pool, "fetched", feeds * entries)
            self.round(plain, pool, "fetched", feeds * entries)
            steady = []
            for _ in range(self.args.rounds):
                self.advance()
                steady.append(self.round(validating, pool, "fetched", feeds))
            self.round(plain, pool, "fetched", feeds * self.args.rounds)
            not_modified = least(self.round(validating, pool, "not_modified", 0) for _ in range(3))
            same = least(self.round(plain, pool, "skipped_unchanged", 0) for _ in range(3))
        return {"first": first, "steady": least(steady), "304": not_modified, "same": same}


def least(runs: object) -> Run:
    """The run with the least CPU."""
    return min(runs, key=lambda run: run.cpu)  # type: ignore[call-overload]


def feedparser_cpu(bodies: list[bytes], repeats: int = 3) -> float:
    """Least CPU seconds of ``repeats`` passes of feedparser.parse (defaults) over ``bodies``."""
    return min(cpu_passes(feedparser_defaults, bodies, repeats))


def ms(seconds: float) -> str:
    """Seconds as milliseconds."""
    return f"{seconds * 1000:.3f}"


def main() -> None:
    """Measure, then print the rounds per feed beside feedparser."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--feeds", type=int, default=200)
    options.add_argument("--entries", type=int, default=20)
    options.add_argument("--hosts", type=int, default=10, help="loopback addresses, up to 254")
    options.add_argument("--rounds", type=int, default=5, help="steady rounds (least CPU kept)")
    options.add_argument("--workers", type=int, default=0, help="parser processes, 0: one per CPU")
    args = options.parse_args()
    settings = replace(PollSettings(), workers=args.workers, allow_private=True)
    print(
        f"Broadsheet steady-state benchmark: {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}, feedparser "
        f"{feedparser.__version__}\n  {args.feeds} feeds x {args.entries} entries (half RSS, "
        f"half Atom); each steady round adds one entry per feed; least CPU of {args.rounds}\n"
        "  CPU: this process (all threads) + the parser pool (started beforehand); the feed "
        "server's not counted"
    )
    with (
        tempfile.TemporaryDirectory(prefix="broadsheet-steady-") as folder,
        feed_server(args.feeds, args.entries, args.hosts) as (bases, pid),
    ):
        bench = Steady(args, settings, Path(folder))
        bench.exclude, bench.bases = {pid}, bases
        runs = bench.rounds()
        bodies = [feed_body(n, args.entries, -bench.generation) for n in range(args.feeds)]
    theirs = feedparser_cpu(bodies) / args.feeds
    feeds = args.feeds
    print(f"\n  {'round':<44}{'CPU ms/feed':>12}{'own':>9}{'pool':>9}{'wall s':>8}")
    for name, key in (
        ("first round (20 new entries per feed)", "first"),
        ("steady: one new entry per feed", "steady"),
        ("unchanged: all 304", "304"),
        ("unchanged: same body, no validators", "same"),
    ):
        run = runs[key]
        print(
            f"  {name:<44}{ms(run.cpu / feeds):>12}{ms(run.own / feeds):>9}"
            f"{ms(run.children / feeds):>9}{run.wall:>8.2f}"
        )
    print(f"  {'feedparser.parse(bytes), same bytes':<44}{ms(theirs):>12}")
    ratio = runs["steady"].cpu / feeds / theirs
    unchanged = max(runs["304"].cpu, runs["same"].cpu) / feeds
    print(
        f"\n  steady round / feedparser.parse: {ratio:.3f} (target <= 0.25: "
        f"{'met' if ratio <= 0.25 else 'MISSED'})\n"
        f"  unchanged rounds, worst: {ms(unchanged)} ms CPU per feed (target <= 0.5: "
        f"{'met' if unchanged <= 0.0005 else 'MISSED'})\n  load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
