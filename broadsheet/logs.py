"""Worker logs: human-readable lines by default, JSON lines with --log-format json.

Either way credentials are masked (a database URL's password, a feed URL's token): log lines
end up in files and log collectors that more people read than the config.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from ingest.redact import mask_data, mask_text

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data |= {key: value for key, value in vars(record).items() if key not in _STANDARD}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(mask_data(data), default=lambda value: mask_text(str(value)))


class TextFormatter(logging.Formatter):
    """``time LEVEL message``, with credentials masked (in a traceback too)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line (and its traceback), masked."""
        return mask_text(super().format(record))


class _MigrationChatter(logging.Filter):
    """Drops Alembic's "Context impl" and "Will assume" lines, logged each time the store opens.

    Opening the store (at start, and again on SIGHUP) reads the schema's version through
    Alembic, which announces its dialect every time; an upgrade actually run is still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the announcements, True for everything else."""
        return not str(record.msg).startswith(("Context impl", "Will assume"))


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Send Broadsheet's logs to stderr in ``log_format`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _MigrationChatter) for f in migration.filters):
        migration.addFilter(_MigrationChatter())
    # A round that outlasts poll_every makes the scheduler skip a tick; that is by design.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
