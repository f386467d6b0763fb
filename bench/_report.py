"""Printing for bench/ingest.py: tables, milliseconds, goals met or missed. Standard library only."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def ms(seconds: float) -> str:
    """Seconds as milliseconds with three or so significant digits."""
    value = seconds * 1000
    if abs(value) < 10:
        return f"{value:.3f}"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


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


def mark(met: bool) -> str:
    """A tick when a goal is met, a cross when it is not."""
    return "✓" if met else "✗"


def median(values: Sequence[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    return statistics.median(values)
