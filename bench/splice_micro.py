"""CPU of ``ingest.splice.split`` per feed over the benchmark feeds, against another checkout.

Each figure comes from a process of its own that cuts the 200 feeds of ``_feeds.py`` (20 entries
each, RSS 2.0 and Atom 1.0, about 61 KB) ``--passes`` times and prints its CPU per feed. With
``--against`` a checkout of other code (a ``git worktree`` of the revision to compare with), a
process of each runs in turn, ``--pairs`` times, from a directory outside both (each checkout
first on PYTHONPATH); printed: the medians and the median of the pairs' ratios (other / this).
Run: .venv/bin/python bench/splice_micro.py [--against /tmp/old] [--pairs 15] [--passes 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FEEDS = 200


def child(passes: int) -> None:
    """Print the CPU milliseconds per feed of ``split`` here (the checkout on PYTHONPATH)."""
    sys.path.append(str(BENCH))  # after the ingest package
    from _feeds import feed_body

    from ingest.splice import split

    bodies = [feed_body(n, 20) for n in range(FEEDS)]
    assert all(split(body) is not None for body in bodies)
    started = time.process_time()
    for _ in range(passes):
        for body in bodies:
            split(body)
    print((time.process_time() - started) / passes / FEEDS * 1000)


def run(checkout: Path, passes: int, cwd: str) -> float:
    """One process's CPU milliseconds per feed with ``checkout``'s code."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # -P: bench/ not first on sys.path (bench/ingest.py is not the ingest package)
    command = [
        sys.executable,
        "-P",
        str(Path(__file__).resolve()),
        "--child",
        "--passes",
        str(passes),
    ]
    done = subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return float(done.stdout)


def main() -> None:
    """Time this checkout's ``split``, alone or in turn with another checkout's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.passes)
        return
    here = BENCH.parent
    print(f"load average {os.getloadavg()[0]:.2f}; {FEEDS} feeds x {args.passes} passes a process")
    with tempfile.TemporaryDirectory() as cwd:
        if args.against is None:
            times = [run(here, args.passes, cwd) for _ in range(args.pairs)]
            print(f"split: {statistics.median(times):.4f} ms/feed (median of {args.pairs})")
            return
        other, this, ratios = [], [], []
        for _ in range(args.pairs):
            other.append(run(args.against, args.passes, cwd))
            this.append(run(here, args.passes, cwd))
            ratios.append(other[-1] / this[-1])
    print(f"{args.against}: {statistics.median(other):.4f} ms/feed")
    print(f"{here}: {statistics.median(this):.4f} ms/feed")
    print(f"ratio (median of {args.pairs} pairs): {statistics.median(ratios):.2f}x", end=" ")
    print(f"(pairs from {min(ratios):.2f}x to {max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
