"""Markdown digests on disk: one file per window, written atomically (a temporary file, a rename).

A window's file is ``<output>/<subscriber>/<YYYY-MM-DD>.md`` for the day it ends; another window
ending the same day gets ``-HHMM``, then ``-HHMM-2``, ``-HHMM-3``... whichever is free first. An
invisible first line names the window, so a retried window finds and replaces its own file and
never another window's.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from itertools import count
from pathlib import Path

from ingest.errors import DeliveryError


class FileDeliveryError(DeliveryError):
    """The Markdown digest could not be written."""


def write(
    output_dir: Path, subscriber: str, local_end: datetime, window_start: datetime, text: str
) -> Path:
    """Write the Markdown digest of the window starting at ``window_start``; returns its path."""
    path = digest_path(output_dir, subscriber, local_end, window_start)
    write_atomically(path, marker(window_start) + text)
    return path


def digest_path(
    output_dir: Path, subscriber: str, local_end: datetime, window_start: datetime
) -> Path:
    """The window's own file if it has one already, else the first free name for its day."""
    folder = output_dir / _safe(subscriber)
    day = f"{local_end:%Y-%m-%d}"
    mine = window_start.isoformat()
    for existing in sorted(folder.glob(f"{day}*.md")):
        if _window_of(existing) == mine:
            return existing
    for name in _names(day, f"{local_end:%H%M}"):
        path = folder / name
        if not path.exists():
            return path
    raise AssertionError("unreachable: the names never run out")


def marker(window_start: datetime) -> str:
    """The invisible first line that ties a Markdown file to its window."""
    return f"<!-- broadsheet window {window_start.isoformat()} -->\n"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise FileDeliveryError(
            f"cannot write the Markdown digest {path}: {exc.strerror or exc}; check that this "
            "user can write [digests] output_dir (or BROADSHEET_OUTPUT_DIR)"
        ) from exc


def _names(day: str, hhmm: str) -> Iterator[str]:
    yield f"{day}.md"
    yield f"{day}-{hhmm}.md"
    for n in count(2):
        yield f"{day}-{hhmm}-{n}.md"


def _safe(subscriber: str) -> str:
    return re.sub(r"[^a-z0-9@._+-]", "_", subscriber.lower())


def _window_of(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8") as stream:
            first = stream.readline()
    except OSError:
        return None
    match = re.match(r"<!-- broadsheet window (\S+) -->", first)
    return match[1] if match else None
