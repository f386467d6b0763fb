"""Summarise a py-spy raw profile (``--format raw``): where the samples of a call went.

    py-spy record --subprocesses --format raw -o /tmp/p.txt -- .venv/bin/python bench/steady.py
    .venv/bin/python bench/_collapse.py /tmp/p.txt [--within poll] [--top 25]

Only stacks passing through a frame whose function is ``--within`` count (the rounds, not the
set-up; ``parse_feed`` for the parser pool's share). Prints the share of those samples spent
inside each function (inclusive) and at its top (self), file and line dropped. Standard library.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>[^ ]+) \((?P<file>[^:)]+)")


def frames(stack: str) -> list[str]:
    """``function (file)`` of every frame, processes and threads left out."""
    kept = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame)
        if match and not frame.startswith(("process ", "thread ")):
            file = match.group("file").split("site-packages/")[-1].split("wt-steady/")[-1]
            kept.append(f"{match.group('name')} ({file})")
    return kept


def main() -> None:
    """Read the profile, print the tables."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("profile", type=Path)
    options.add_argument("--within", default="poll")
    options.add_argument("--top", type=int, default=25)
    args = options.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        names = frames(stack)
        if not any(name.startswith(args.within + " ") for name in names):
            continue
        samples = int(count)
        total += samples
        own[names[-1]] += samples
        for name in set(names):
            inclusive[name] += samples
    print(f"{total} samples within {args.within}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for name, samples in counter.most_common(args.top):
            print(f"  {100 * samples / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
