"""`broadsheet worker` as it runs for days: CPU per simulated hour, memory over a simulated day.

The clock is made irrelevant by shortening every duration in the same proportion: a feed's
30-minute interval becomes ``--half-hour`` seconds, and ``[worker] poll_every`` (60 s by
default) shrinks by the same factor, so the worker runs as many rounds per simulated hour as it
would per real hour and polls each feed as often. Every simulated half hour, 10% of the feeds
(chosen at random, seeded) publish one or two new entries. The store is filled beforehand by a
`broadsheet poll --all` (itself measured: a first round at this size) and the feeds' next polls
spread over one half hour, as a worker that has run for a while has them.

Also ``scale``: one worker started with 10,000 feeds and an empty store, the memory of all its
processes while its first round runs and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _commands import BROADSHEET, HERE, Commands, post, write_config
from _measure import feed_server
from _processes import Accounting, Measured, Tracked, memory_mb
from _report import mark
from sqlalchemy import bindparam, create_engine, update

from ingest.store.schema import feeds as feeds_table

REAL_POLL_EVERY = 60.0  # s, [worker] poll_every's default
HALF_HOUR = 1800.0
CHANGING = 0.10  # share of the feeds with new entries each half hour
FLAT = 1.10  # memory at the end within 10% of the first sample: flat
SCALE_GOAL_MB = 300


@dataclass(frozen=True)
class Day:
    """What the simulated day measured."""

    feeds: int
    hours: float
    half_hour: float  # real seconds standing for 30 minutes
    fill: Measured  # the `broadsheet poll --all` that filled the store
    cpu: float  # worker CPU seconds over the simulated hours, all its processes
    answers: dict[str, int]  # the feed server's answers over them, by status
    published: int  # new entries published over them
    memory: list[tuple[float, float, float]]  # (simulated hour, RSS sum MB, PSS sum MB)


def served(base: str) -> dict[str, int]:
    """The feed server's answers so far, by status."""
    with urllib.request.urlopen(f"{base}/_/counts", timeout=30) as response:
        found: dict[str, int] = json.loads(response.read())
    return found


def spread(database: Path, count: int, half_hour: float) -> None:
    """Spread the feeds' next polls evenly over the next half hour."""
    engine = create_engine(f"sqlite:///{database}")
    start = datetime.now(UTC) + timedelta(seconds=1)
    step = half_hour / count
    rows = [{"key": k + 1, "when": start + timedelta(seconds=k * step)} for k in range(count)]
    with engine.begin() as conn:
        query = update(feeds_table).where(feeds_table.c.id == bindparam("key"))
        conn.execute(query.values(next_poll_at=bindparam("when")), rows)
    engine.dispose()


def start_worker(
    accounting: Accounting, config: Path, stack: ExitStack, factor: float = 1.0
) -> tuple[Tracked, Path]:
    """Start `broadsheet worker` (its clock ``factor`` times faster) with its log in a file.

    It is stopped with SIGTERM, as systemd stops it, when ``stack`` closes.
    """
    log = config.with_suffix(".log")
    handle = stack.enter_context(log.open("w"))
    command = [*BROADSHEET, "worker", "-c", str(config)]
    if factor != 1.0:
        command = [sys.executable, str(HERE / "_scaled_worker.py"), f"{factor:g}", *command[-3:]]
    worker = accounting.start(command, stdout=handle, stderr=handle, cwd=config.parent)

    def stop() -> None:
        if worker.process.poll() is None:
            os.kill(worker.process.pid, signal.SIGTERM)
        worker.wait(timeout=120)

    stack.callback(stop)
    return worker, log


def wait_for_round(log: Path, rounds: int, timeout: float) -> None:
    """Wait until the worker has logged ``rounds`` poll rounds."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count(" poll: ") < rounds:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the worker did not finish a poll round in {timeout:.0f} s; see {log}"
            )
        time.sleep(0.1)


def simulate(args: argparse.Namespace, accounting: Accounting, folder: Path) -> Day:
    """A worker over ``--worker-hours`` simulated hours (24 with ``--worker``)."""
    count, half = args.worker_feeds, args.half_hour
    hours = 24.0 if args.worker else args.worker_hours
    poll_every = f"{1000 * REAL_POLL_EVERY * half / HALF_HOUR:.0f}ms"
    pick = random.Random(1)
    with feed_server(count, args.entries, args.hosts) as (bases, _):
        urls = [f"{bases[k % len(bases)]}/v/{k}.xml" for k in range(count)]
        config = write_config(folder / "day.toml", urls, args, interval=f"{half:g}s")
        with config.open("a") as handle:
            handle.write(f'[worker]\npoll_every = "{poll_every}"\n')
        fill = Commands(args, accounting, folder).run(
            "poll", "--all", "--json", "-c", str(config), expect=lambda c: c["fetched"] == count
        )
        print(
            f"  worker: store filled ({count} feeds, {fill.wall:.1f} s); the day starts", flush=True
        )
        spread(config.with_suffix(".db"), count, half)
        with ExitStack() as stack:
            worker, log = start_worker(accounting, config, stack, HALF_HOUR / half)
            wait_for_round(log, 1, 120)
            memory = [(0.0, *memory_mb(worker.pids()))]
            before, answers, published = worker.cpu(), served(bases[0]), 0
            started = time.monotonic()
            slots = round(2 * hours)
            for slot in range(slots):
                chosen = pick.sample(range(count), round(CHANGING * count))
                by = [pick.choice((1, 2)) for _ in chosen]
                post(bases[0], "/_/advance", {"feeds": chosen, "by": by})
                published += sum(by)
                time.sleep(max(0.0, started + (slot + 1) * half - time.monotonic()))
                if (slot + 1) in (2, slots) or (slot + 1) % 12 == 0:  # 1 h, every 6 h, the end
                    memory.append(((slot + 1) / 2, *memory_mb(worker.pids())))
            spent = worker.cpu() - before
            after = served(bases[0])
    delta = {key: after.get(key, 0) - answers.get(key, 0) for key in after}
    return Day(count, hours, half, fill, spent, delta, published, memory)


def report_day(day: Day) -> None:
    """Print the simulated day."""
    factor = HALF_HOUR / day.half_hour
    print(
        f"\n5. The worker: `broadsheet worker`, {day.feeds} feeds every 30 min, {CHANGING:.0%} of "
        f"them with 1-2 new entries each half hour;\n   {day.hours:g} simulated hours at "
        f"{factor:.0f}x ({day.half_hour:g} s per half hour, poll_every and intervals shortened alike)"
    )
    polls = sum(day.answers.values())
    expected = 2 * day.feeds * day.hours
    fetched = day.answers.get("200", 0)
    print(
        f"  filling the store first (`broadsheet poll --all`, {day.feeds} feeds): "
        f"{day.fill.wall:.1f} s wall, {day.fill.cpu:.1f} s CPU"
    )
    print(
        f"  CPU per simulated hour: {day.cpu / day.hours:.2f} s (all the worker's processes; "
        f"{100 * day.cpu / day.hours / 3600:.3f}% of a core in real time)"
    )
    print(
        f"  polls: {polls} ({polls / day.hours:.0f} per simulated hour; "
        f"{expected / day.hours:.0f} expected): {fetched} with new entries "
        f"({day.published} entries published), {day.answers.get('304', 0)} not modified"
    )
    if polls < 0.95 * expected:
        print("  the worker fell behind the shortened clock: CPU per hour above is understated")
    if fetched:
        print(f"  CPU per poll: {1000 * day.cpu / polls:.2f} ms")
    print("  memory of all the worker's processes (RSS sum; PSS sum, shared pages divided):")
    for hour, rss, pss in day.memory:
        print(f"    after {hour:4g} h: {rss:6.0f} MB RSS, {pss:6.0f} MB PSS")
    first, last = day.memory[min(1, len(day.memory) - 1)], day.memory[-1]
    print(
        f"  flat (the end within {FLAT - 1:.0%} of the first simulated hour, when every part had "
        f"run): RSS {mark(last[1] <= FLAT * first[1])}, PSS {mark(last[2] <= FLAT * first[2])}"
    )


def scale(args: argparse.Namespace, accounting: Accounting, folder: Path) -> None:
    """One worker, ``--scale-feeds`` feeds, empty store: memory while its first round runs."""
    count = args.scale_feeds
    print(f"\n6. One worker with {count} feeds, first round into an empty SQLite store", flush=True)
    with feed_server(count, args.entries, args.hosts) as (bases, _):
        urls = [f"{bases[k % len(bases)]}/v/{k}.xml" for k in range(count)]
        config = write_config(folder / "scale.toml", urls, args)
        with ExitStack() as stack:
            worker, log = start_worker(accounting, config, stack)
            started, peak, samples = time.monotonic(), (0.0, 0.0), []
            while log.read_text(errors="replace").count(" poll: ") < 1:
                if time.monotonic() - started > 3600:
                    raise SystemExit(f"the first round took over an hour; see {log}")
                rss, pss = memory_mb(worker.pids())
                samples.append((time.monotonic() - started, rss, pss))
                peak = (max(peak[0], rss), max(peak[1], pss))
                time.sleep(1)
            wall = time.monotonic() - started
            after = memory_mb(worker.pids())
            spent = worker.cpu()
    early = next((s for s in samples if s[0] >= 3), samples[-1] if samples else (0, 0.0, 0.0))
    print(f"  first round: {wall:.0f} s wall, {spent:.0f} s CPU (all processes)")
    rows = [
        ("after start (3 s)", early[1], early[2]),
        ("peak during the round", *peak),
        ("after the round", *after),
    ]
    for name, rss, pss in rows:
        print(
            f"    {name:<22} {rss:6.0f} MB RSS sum {mark(rss < SCALE_GOAL_MB)}   "
            f"{pss:6.0f} MB PSS sum {mark(pss < SCALE_GOAL_MB)}   (goal < {SCALE_GOAL_MB} MB)"
        )
