"""Sizes of the standing suites (fuzz, crash, faults, soak): short in the normal run, long with --long.

``pytest --long`` (or BROADSHEET_LONG=1) runs the long versions: thousands of fuzz examples,
fifty or more crash trials per command, the 2,000-feed soak. The short versions keep the normal
suite quick and always replay the same seeds (every property test's examples are drawn from a
fixed seed, tests/conftest.py); the long run draws new ones.
"""

from __future__ import annotations

import os

LONG_ENV = "BROADSHEET_LONG"


def long_run() -> bool:
    """True when the long versions of the suites were asked for."""
    return os.environ.get(LONG_ENV, "") not in ("", "0")


def size(short: int, long: int) -> int:
    """``long`` in a long run, else ``short``."""
    return long if long_run() else short
