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
    # A round that outlasts poll_every makes the scheduler skip a tick; that is by design.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
