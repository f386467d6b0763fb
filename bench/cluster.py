"""Story grouping: pairwise precision and recall of the old rule and the current one, and speed.

    .venv/bin/python bench/cluster.py [--old-rev 5a7ed94] [--entries 10000] [--repeat 3]

The old rule is ``digests/cluster.py`` as it was at ``--old-rev``, read with ``git show`` and
loaded as a module at run time. Both rules group the labelled sets in tests/data/cluster
(``labelled.toml``, which the current rule was tuned on, and ``heldout.toml``, written after
tuning); a pair of entries counts as grouped when the rule put them in one item, and as the
same story when their labels agree. Precision is the share of grouped pairs that are one
story; recall the share of same-story pairs that were grouped.

Time: milliseconds per 1,000 entries of ``cluster()`` on generated news-like entries (stories
with their own words and shared topic words, a third carried by two or three feeds), the
best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the packages, when run as bench/cluster.py
sys.path.insert(0, str(ROOT / "tests"))  # the labelled sets and their scores

from cluster_sets import generated, labelled, scores  # noqa: E402

from digests import cluster as current  # noqa: E402
from digests.models import DigestEntry  # noqa: E402

Grouping = Callable[[Sequence[DigestEntry]], object]


def old_rule(rev: str) -> ModuleType:
    """``digests/cluster.py`` as it was at ``rev``, loaded as a module."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:digests/cluster.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader(f"cluster_at_{rev}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    exec(compile(source, f"{rev}:digests/cluster.py", "exec"), module.__dict__)
    return module


def main() -> None:
    """Print the quality table and the time per 1,000 entries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default="5a7ed94")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    old = old_rule(args.old_rev)
    rules = {f"old ({args.old_rev})": old.cluster, "current": current.cluster}
    print(f"{'set':<10} {'pairs':>6} {'rule':<16} {'precision':>9} {'recall':>7} {'wrong':>6}")
    for name in ("labelled", "heldout"):
        entries, stories = labelled(name)
        for rule, cluster in rules.items():
            result = scores(cluster(entries).items, stories)  # type: ignore[attr-defined]
            print(
                f"{name:<10} {result.same:>6} {rule:<16} {result.precision:>9.3f} "
                f"{result.recall:>7.3f} {result.wrong:>6}"
            )
    entries = list(generated(args.entries))
    print(f"\ntime per 1,000 entries ({len(entries)} generated entries, best of {args.repeat})")
    for rule, cluster in rules.items():
        best = min(_timed(cluster, entries) for _ in range(args.repeat))
        print(f"  {rule:<16} {best / len(entries) * 1000 * 1000:8.1f} ms")


def _timed(cluster: Grouping, entries: Sequence[DigestEntry]) -> float:
    start = time.perf_counter()
    cluster(entries)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
