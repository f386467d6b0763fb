"""What a digest run did (or, dry, would do): counts, failures, retries waiting, files written."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from digests.settings import Subscriber


@dataclass
class DigestReport:
    """What one digest run did (or, dry, would do); ``as_dict`` is `broadsheet digest --json`."""

    due: int = 0
    sent: int = 0
    written: int = 0
    failed: int = 0
    skipped_empty: int = 0
    abandoned: int = 0
    retrying: int = 0  # failed earlier, waiting for their backoff
    held: int = 0  # due, but the subscriber wants nothing now (unsubscribed, paused): skipped
    archived: int = 0  # made and kept for the web archive only (the subscriber turned e-mail off)
    dry_run: bool = False
    errors: list[dict[str, str]] = field(default_factory=list)
    retries: list[dict[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts, errors and written files as plain data."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people."""
        would = "would be " if self.dry_run else ""
        line = (
            f"{self.due} {'digest' if self.due == 1 else 'digests'} due: {self.sent} {would}emailed, "
            f"{self.written} {would}written, {self.skipped_empty} empty (skipped), "
            f"{self.failed} failed"
        )
        line += f", {self.archived} {would}kept in the archive only" if self.archived else ""
        line += f", {self.held} held (unsubscribed or paused)" if self.held else ""
        line += f", {self.abandoned} given up" if self.abandoned else ""
        line += f", {self.retrying} waiting to retry" if self.retrying else ""
        return f"dry run, nothing sent or recorded: {line}" if self.dry_run else line

    def error(self, subscriber: Subscriber, message: str, state: str) -> None:
        """Note a failed (or given-up) digest."""
        self.errors.append({"subscriber": subscriber.email, "error": message, "state": state})

    def waiting(self, subscriber: Subscriber, at: datetime, error: str, attempts: int) -> None:
        """Note a failed digest backing off: retried at ``at``, after ``attempts`` attempts."""
        self.retrying += 1
        self.retries.append(
            {
                "subscriber": subscriber.email,
                "retry_at": f"{at:%Y-%m-%d %H:%M} UTC",
                "attempts": str(attempts),
                "error": error,
            }
        )
