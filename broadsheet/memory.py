"""The garbage collector, told what a command's process is made of.

A command imports a great deal (typer, rich, SQLAlchemy, httpx...), and what it imports lives as
long as the process. CPython's collector traverses every live object at each full collection,
and one always runs as the interpreter exits: for a short command, about a tenth of its CPU
(`bench/ingest.py`, a poll with nothing due). So the CLI is imported with the collector off, and
what is alive once the CLI is loaded, and again once the store is open, is frozen out of the
collector's way (``gc.freeze``); everything allocated after that is collected as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_SETTLED: set[str] = set()


@contextmanager
def importing() -> Iterator[None]:
    """The collector off while modules load: they allocate much and free almost nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle(stage: str) -> None:
    """Freeze every object alive now out of later collections, once per ``stage`` and process:
    what a stage loads (modules, the store's tables and engine) lives as long as the process."""
    if stage not in _SETTLED:
        _SETTLED.add(stage)
        gc.freeze()
