"""Whole `broadsheet` commands as a user meets them: start-up, first, steady and unchanged rounds.

Every command is a process of its own, measured from before its fork to its exit (wall) and with
the CPU of every process it started (``_processes.Accounting``). The feed server runs in its own
process and is not counted. Standard library only (the project is run, not imported).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from _feeds import feed_body
from _measure import cpu_passes, feedparser_defaults, post, reader_python
from _processes import Accounting, Measured
from _report import mark, median, ms, table

HERE = Path(__file__).resolve().parent
_SCRIPT = Path(sys.executable).with_name("broadsheet")
BROADSHEET = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "broadsheet"]
CHECK_GOAL = 0.25  # s wall, `broadsheet check`
IDLE_POLL_GOAL = 0.4  # s wall, `broadsheet poll` with nothing due
UNCHANGED_GOAL = 0.0005  # s CPU per feed beyond start-up, a round where nothing changed


@dataclass(frozen=True)
class Sample:
    """The medians of several runs of one command."""

    wall: float
    cpu: float
    runs: int


def sample(runs: Sequence[Measured]) -> Sample:
    """Medians of wall and CPU."""
    return Sample(median([r.wall for r in runs]), median([r.cpu for r in runs]), len(runs))


def write_config(path: Path, urls: list[str], args: argparse.Namespace, **poll: str) -> Path:
    """A config polling ``urls`` into an SQLite file beside it; ``poll`` adds [poll] keys."""
    lines = [
        "[storage]",
        f'url = "sqlite:///{path.with_suffix(".db").name}"',
        "[poll]",
        "allow_private = true",  # the feed server is on 127.0.0.x
        f"concurrency = {args.concurrency}",
        f"per_host = {args.per_host}",
        f"workers = {args.workers}",
        *(f'{key} = "{value}"' for key, value in poll.items()),
    ]
    for url in urls:
        lines += ["[[feeds]]", f'url = "{url}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def forget_store(config: Path) -> None:
    """Delete the SQLite store of ``config`` (and its WAL files)."""
    for suffix in (".db", ".db-wal", ".db-shm"):
        config.with_suffix(suffix).unlink(missing_ok=True)


def feedparser_cpu(bodies: list[bytes], passes: int) -> float:
    """Median CPU seconds of ``feedparser.parse(bytes)`` with its defaults over all ``bodies``."""
    return median(cpu_passes(feedparser_defaults, bodies, passes))


class Commands:
    """Runs `broadsheet` commands against one feed server, measuring each."""

    def __init__(self, args: argparse.Namespace, accounting: Accounting, folder: Path) -> None:
        self.args, self.accounting, self.folder = args, accounting, folder

    def run(self, *argv: str, expect: Callable[[dict[str, int]], bool] | None = None) -> Measured:
        """One `broadsheet` command; stops the benchmark when it fails or polls unexpectedly.

        ``expect`` judges the counts a poll round prints with ``--json`` (the same round as
        without it, read exactly).
        """
        done = self.accounting.run([*BROADSHEET, *argv], cwd=self.folder)
        if done.returncode != 0:
            raise SystemExit(f"broadsheet {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        if expect is not None and not expect(json.loads(done.stdout)):
            raise SystemExit(
                f"unexpected round: broadsheet {' '.join(argv)}: {done.stdout}"
                f"{self._feed_errors(argv)}"
            )
        return done

    def _feed_errors(self, argv: Sequence[str]) -> str:
        """The feeds' last errors, as `broadsheet feeds` shows them, for a round gone wrong."""
        config = argv[argv.index("-c") + 1] if "-c" in argv else None
        if config is None:
            return ""
        shown = subprocess.run(
            [*BROADSHEET, "feeds", "--json", "-c", config],
            capture_output=True,
            text=True,
            cwd=self.folder,
            check=False,
        )
        try:
            errors = [f.get("last_error") for f in json.loads(shown.stdout)]
        except (ValueError, AttributeError):
            return f"\n`broadsheet feeds`: {shown.stdout[-2000:]}{shown.stderr[-2000:]}"
        return "\nlast errors: " + "; ".join(sorted({e for e in errors if e})[:5])

    def repeat(
        self, times: int, *argv: str, before: Callable[[], None] | None = None, **kw: Any
    ) -> Sample:
        """Medians of ``times`` runs, each after ``before``."""
        runs = []
        for _ in range(times):
            if before is not None:
                before()
            runs.append(self.run(*argv, **kw))
        return sample(runs)

    def paired(
        self,
        times: int,
        small: str,
        big: str,
        feeds: int,
        expect: Callable[[dict[str, int], int], bool],
    ) -> tuple[Sample, Sample, float]:
        """``times`` pairs of `poll --all` rounds, over one feed (``small``) then all (``big``):
        the big rounds, the small ones, and the median per-feed CPU difference of the pairs."""
        bigs, smalls, per = [], [], []
        for _ in range(times):
            one = self.run("poll", "--all", "--json", "-c", small, expect=lambda c: expect(c, 1))
            every = self.run(
                "poll", "--all", "--json", "-c", big, expect=lambda c: expect(c, feeds)
            )
            smalls.append(one)
            bigs.append(every)
            per.append((every.cpu - one.cpu) / (feeds - 1))
        return sample(bigs), sample(smalls), median(per)

    def poll(
        self,
        times: int,
        config: str,
        expect: Callable[[dict[str, int]], bool],
        everything: bool = True,
        before: Callable[[], None] | None = None,
    ) -> Sample:
        """Medians of ``times`` runs of `broadsheet poll [--all]` whose counts ``expect`` likes."""
        chosen = ["--all"] if everything else []
        return self.repeat(
            times, "poll", *chosen, "--json", "-c", config, before=before, expect=expect
        )


@dataclass(frozen=True)
class Figures:
    """What the whole-command section measured."""

    check: Sample
    help: Sample
    idle_poll: Sample
    first: Sample
    first_plain: Sample
    reader: tuple[Measured, dict[str, Any]] | str
    not_modified: Sample
    same_body: Sample
    steady: Sample
    one_steady: Sample  # the same steady round over one feed: start-up, imports, the pool's start
    one_unchanged: Sample  # an all-304 round over one feed: start-up and the fetcher's imports
    per_not_modified: float  # CPU s per feed beyond start-up, all-304 rounds (median of pairs)
    per_same_body: float  # the same, same-body rounds without validators
    feedparser_first: float  # CPU s over all feeds' first bodies
    first_pairs: tuple[float, ...]  # each first round's CPU over feedparser's just before it
    feedparser_steady: float  # CPU s over all feeds' bodies after one new entry
    interpreter: Sample  # `python -c pass`: the floor of every command on this machine
    store_imports: Sample  # `python -c "import sqlalchemy"`: the floor of a command with a store


def measure(
    args: argparse.Namespace, accounting: Accounting, folder: Path, bases: list[str]
) -> Figures:
    """Every whole-command measurement, in an order that leaves the server as it found it."""
    feeds, n = args.feeds, args.startup_runs
    validating = [f"{bases[k % len(bases)]}/v/{k}.xml" for k in range(feeds)]
    plain = [f"{bases[k % len(bases)]}/n/{k}.xml" for k in range(feeds)]
    a = str(write_config(folder / "validating.toml", validating, args))
    b = str(write_config(folder / "plain.toml", plain, args))
    commands = Commands(args, accounting, folder)
    commands.run("--help")  # warm the page cache: every later command starts alike
    # feedparser runs on the first bodies just before each of our first rounds: this machine's
    # speed drifts (seen here: twice as slow within an hour), and a ratio must not span a drift.
    first_bodies = [feed_body(k, args.entries) for k in range(feeds)]
    theirs: list[float] = []

    def before_first() -> None:
        forget_store(Path(a))
        theirs.append(feedparser_cpu(first_bodies, 1))

    ours: list[Measured] = []
    for _ in range(args.rounds):
        before_first()
        ours.append(
            commands.run(
                "poll",
                "--all",
                "--json",
                "-c",
                a,
                expect=lambda c: c["fetched"] == feeds and c["new_entries"] == feeds * args.entries,
            )
        )
    first = sample(ours)
    pairs = tuple(mine.cpu / theirs_cpu for mine, theirs_cpu in zip(ours, theirs, strict=True))
    print(f"  first round: {first.wall:.2f} s wall, {first.cpu:.2f} s CPU", flush=True)
    check = commands.repeat(n, "check", "-c", a)
    shown = commands.repeat(n, "--help")
    idle = commands.poll(n, a, lambda c: c["feeds"] == 0, everything=False)
    interpreter = sample([accounting.run([sys.executable, "-c", "pass"]) for _ in range(n)])
    store_imports = sample(
        [accounting.run([sys.executable, "-c", "import sqlalchemy"]) for _ in range(n)]
    )
    print(f"  start-up: check {check.wall:.2f} s, poll (nothing due) {idle.wall:.2f} s", flush=True)
    reader = "skipped (--no-reader)" if args.no_reader else reader_whole(accounting, validating)
    # Unchanged rounds over all feeds, each right after the same round over one feed: what a
    # feed costs is the difference of the pair (start-up drifts less within a pair than across
    # the run), divided by the other feeds; the median of the pairs is reported.
    one = str(write_config(folder / "one.toml", validating[:1], args))
    one_plain = str(write_config(folder / "one-plain.toml", plain[:1], args))
    for config in (one, one_plain):
        forget_store(Path(config))
        commands.poll(1, config, lambda c: c["fetched"] == 1)
    not_modified, one_unchanged, per_not_modified = commands.paired(
        args.repeat, one, a, feeds, lambda c, k: c["not_modified"] == k
    )
    forget = partial(forget_store, Path(b))
    plain_first = commands.poll(1, b, lambda c: c["fetched"] == feeds, before=forget)
    same_body, _, per_same_body = commands.paired(
        args.repeat, one_plain, b, feeds, lambda c, k: c["skipped_unchanged"] == k
    )
    print("  unchanged rounds done", flush=True)
    everyone = {"feeds": list(range(feeds)), "by": [1] * feeds}
    steady = commands.poll(
        args.repeat,
        a,
        lambda c: c["fetched"] == feeds and c["new_entries"] == feeds,
        before=lambda: post(bases[0], "/_/advance", everyone),
    )
    print(f"  steady round: {steady.wall:.2f} s wall, {steady.cpu:.2f} s CPU", flush=True)
    # The same rounds over one feed: what a round costs whatever its size (start-up, the
    # imports a round of that kind needs, the parser pool's start); the rest is per feed.
    forget_store(Path(one))
    commands.poll(1, one, lambda c: c["fetched"] == 1)
    one_steady = commands.poll(
        args.repeat,
        one,
        lambda c: c["fetched"] == 1 and c["new_entries"] == 1,
        before=lambda: post(bases[0], "/_/advance", {"feeds": [0], "by": [1]}),
    )
    now = args.repeat  # entries each feed has published: one before each steady round
    bodies = [feed_body(k, args.entries, now) for k in range(feeds)]
    theirs_steady = feedparser_cpu(bodies, args.repeat)
    post(bases[0], "/_/reset", {})
    theirs_first = median(theirs)
    return Figures(
        check,
        shown,
        idle,
        first,
        plain_first,
        reader,
        not_modified,
        same_body,
        steady,
        one_steady,
        one_unchanged,
        per_not_modified,
        per_same_body,
        theirs_first,
        pairs,
        theirs_steady,
        interpreter,
        store_imports,
    )


def reader_whole(accounting: Accounting, urls: list[str]) -> tuple[Measured, dict[str, Any]] | str:
    """reader 3.26's whole process over ``urls`` (fresh SQLite file), or why it was skipped."""
    python = reader_python()
    if isinstance(python, str):
        return python
    done = accounting.run([str(python), str(HERE / "_reader_round.py"), *urls])
    if done.returncode != 0:
        return f"skipped: reader's round failed: {' '.join(done.stderr.strip().splitlines()[-1:])}"
    return done, json.loads(done.stdout)


def report(figures: Figures, args: argparse.Namespace) -> None:
    """Print the whole-command tables, goals beside figures."""
    feeds, entries = args.feeds, args.entries
    f = figures
    print(f"\n1. Start-up: whole processes, median of {args.startup_runs} runs")
    rows = [["command", "wall s", "CPU s", "goal (wall)", ""]]
    rows.append(
        [
            "broadsheet check",
            f"{f.check.wall:.3f}",
            f"{f.check.cpu:.3f}",
            f"< {CHECK_GOAL}",
            mark(f.check.wall < CHECK_GOAL),
        ]
    )
    rows.append(["broadsheet --help", f"{f.help.wall:.3f}", f"{f.help.cpu:.3f}", "", ""])
    rows.append(
        [
            "broadsheet poll (nothing due)",
            f"{f.idle_poll.wall:.3f}",
            f"{f.idle_poll.cpu:.3f}",
            f"< {IDLE_POLL_GOAL}",
            mark(f.idle_poll.wall < IDLE_POLL_GOAL),
        ]
    )
    for label, floor in (
        ("floor: python -c pass", f.interpreter),
        ("floor: python -c 'import sqlalchemy'", f.store_imports),
    ):
        rows.append([label, f"{floor.wall:.3f}", f"{floor.cpu:.3f}", "", ""])
    table(rows)
    print(
        "  the floors are this machine's: the interpreter alone, and with the store's library "
        "(every command that opens a store imports it)"
    )
    print(
        "  'beyond start-up' below subtracts the CPU of the same kind of round over one feed: "
        f"{f.one_steady.cpu:.3f} s for a steady round (imports and the parser pool's start), "
        f"{f.one_unchanged.cpu:.3f} s for an unchanged one; the rest is what each feed costs"
    )

    print(
        f"\n2. First round: `broadsheet poll --all` into a fresh SQLite store, {feeds} feeds x "
        f"{entries} entries, median of {f.first.runs}"
    )
    rows = [["", "wall s", "CPU s", "CPU ms/entry"]]
    rows.append(
        [
            "broadsheet poll --all (validators)",
            f"{f.first.wall:.2f}",
            f"{f.first.cpu:.2f}",
            ms(f.first.cpu / (feeds * entries)),
        ]
    )
    rows.append(
        [
            "broadsheet poll --all (no validators)",
            f"{f.first_plain.wall:.2f}",
            f"{f.first_plain.cpu:.2f}",
            ms(f.first_plain.cpu / (feeds * entries)),
        ]
    )
    rows.append(
        [
            "feedparser.parse(bytes), defaults, in-process",
            "",
            f"{f.feedparser_first:.2f}",
            ms(f.feedparser_first / (feeds * entries)),
        ]
    )
    if not isinstance(f.reader, str):
        whole, inner = f.reader
        rows.append(
            [
                f"reader {inner['version']} whole process",
                f"{whole.wall:.2f}",
                f"{whole.cpu:.2f}",
                ms(whole.cpu / max(inner["entries"], 1)),
            ]
        )
        rows.append(
            ["  of which update_feeds()", f"{inner['wall']:.2f}", f"{inner['cpu']:.2f}", ""]
        )
    table(rows)
    share = median(list(f.first_pairs))
    each = ", ".join(f"{pair:.2f}" for pair in f.first_pairs)
    print(
        f"  CPU: ours / feedparser alone = {share:.2f}, the median of each round over feedparser's "
        f"pass just before it ({each}) (goal <= 0.5: {mark(share <= 0.5)})"
    )
    if isinstance(f.reader, str):
        print(f"  reader: {f.reader}")
    else:
        whole, inner = f.reader
        faster = whole.wall / f.first.wall
        print(
            f"  wall: reader's whole process / ours = {faster:.2f}x (goal >= 4x: "
            f"{mark(faster >= 4)}); reader stored {inner['entries']} entries, "
            f"{inner['broken']} feeds failed"
        )

    print(
        f"\n3. Steady state: every feed has 1 new entry among {entries}; `broadsheet poll --all`,"
        f" median of {f.steady.runs}"
    )
    beyond = (f.steady.cpu - f.one_steady.cpu) / (feeds - 1)
    theirs = f.feedparser_steady / feeds
    rows = [["", "wall s", "CPU s", "CPU ms/feed beyond start-up"]]
    rows.append(
        ["broadsheet poll --all", f"{f.steady.wall:.2f}", f"{f.steady.cpu:.2f}", ms(beyond)]
    )
    rows.append(["feedparser.parse(bytes) per feed", "", f"{f.feedparser_steady:.2f}", ms(theirs)])
    table(rows)
    share = beyond / theirs
    print(f"  ours / feedparser per feed = {share:.2f} (goal <= 0.25: {mark(share <= 0.25)})")

    print(
        f"\n4. Unchanged rounds: `broadsheet poll --all`, {feeds} feeds, nothing new, median of "
        f"{f.not_modified.runs}; per feed: the median over pairs (the same round over one feed "
        "just before) of the difference, divided by the other feeds"
    )
    rows = [["round", "wall s", "CPU s", "CPU ms/feed beyond start-up", "goal", ""]]
    for name, run, per in (
        ("all 304 (ETag, Last-Modified)", f.not_modified, f.per_not_modified),
        ("same body, no validators", f.same_body, f.per_same_body),
    ):
        rows.append(
            [
                name,
                f"{run.wall:.2f}",
                f"{run.cpu:.3f}",
                ms(per),
                f"<= {ms(UNCHANGED_GOAL)}",
                mark(per <= UNCHANGED_GOAL),
            ]
        )
    table(rows)
