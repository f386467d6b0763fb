"""Write Markdown digests to disk atomically: a temporary file, then a rename."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from ingest.errors import DeliveryError


class FileDeliveryError(DeliveryError):
    """The Markdown digest could not be written."""


def digest_path(
    output_dir: Path, subscriber: str, local_end: datetime, window_start: datetime
) -> Path:
    """``<output>/<subscriber>/<YYYY-MM-DD>.md``; a second digest on the same day gets ``-HHMM``.

    The file of a retried window is the same file (its first line names the window), so a
    retry overwrites instead of adding a copy.
    """
    folder = output_dir / _safe(subscriber)
    path = folder / f"{local_end:%Y-%m-%d}.md"
    if path.exists() and _window_of(path) not in (None, window_start.isoformat()):
        path = folder / f"{local_end:%Y-%m-%d-%H%M}.md"
    return path


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
