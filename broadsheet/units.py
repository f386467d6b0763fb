"""Durations ("20s", "30m", "1h", "1d") and sizes ("512KB", "10MB") as written in the config."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


# Past these, a value is a typo (an extra digit or two), and dates or buffers built from it
# would overflow: durations up to ten years, sizes up to a gibibyte.
MAX_DURATION = 3650 * 86400.0
MAX_DURATION_TEXT = "3650d"
MAX_SIZE = 1024**3
MAX_SIZE_TEXT = "1GiB"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "20s", "30m", "1h", "1d"; ValueError when it is not one."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f'expected a duration such as "20s", "30m", "1h" or "1d", got {text!r}')
    seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    if seconds > MAX_DURATION:
        raise ValueError(
            f"expected a duration of at most ten years ({MAX_DURATION_TEXT}), got {text!r}"
        )
    return seconds


def parse_size(text: str | int) -> int:
    """Bytes in a size such as "10MB" or "512KiB" (a bare integer is bytes)."""
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.match(text)
        if not match:
            raise ValueError(f'expected a size such as "512KB" or "10MB", got {text!r}')
        size = int(float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()])
    if size > MAX_SIZE:
        raise ValueError(f"expected a size of at most {MAX_SIZE_TEXT}, got {text!r}")
    return size


def format_duration(seconds: float) -> str:
    """The shortest exact way to write ``seconds`` back ("90s", "30m", "1h")."""
    for unit in ("d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
