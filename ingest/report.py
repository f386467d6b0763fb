"""What a poll round did, in counts and in words; and how an unexpected failure is named."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ingest.errors import FeedError


@dataclass
class RoundReport:
    """What one round did; ``as_dict`` is the shape `broadsheet poll --json` prints."""

    feeds: int = 0
    fetched: int = 0
    not_modified: int = 0
    skipped_unchanged: int = 0
    failed: int = 0
    new_entries: int = 0
    updated_entries: int = 0
    given_back: int = 0  # not fetched within the lease: left for the next round, nothing written
    taken_over: int = 0  # the lease ran out and another process took the feed: nothing written
    leased: int = 0  # due feeds this round left alone: other processes hold their leases
    articles_extracted: int = 0  # article pages of feeds read in full, their text stored
    articles_fell_back: int = 0  # ... whose summary stands instead (the reason is on the entry)
    articles_retried: int = 0  # ... not fetched this time: tried again in a later round
    errors: list[dict[str, str]] = field(default_factory=list)
    unresolved: int = 0  # of the failures, host names that did not resolve
    leased_by: list[str] = field(default_factory=list)  # who holds them, the holder of most first
    leased_until: datetime | None = None  # when the last of those leases runs out

    def as_dict(self) -> dict[str, Any]:
        """Counts and errors as plain data (times as ISO 8601 text)."""
        data = asdict(self)
        data["leased_until"] = self.leased_until.isoformat() if self.leased_until else None
        return data

    def counts(self) -> dict[str, int]:
        """The counts alone: what `broadsheet poll --json` prints."""
        details = ("errors", "unresolved", "leased_by", "leased_until")
        return {key: value for key, value in self.as_dict().items() if key not in details}

    @property
    def offline(self) -> bool:
        """No host name of several feeds resolved: the machine, not the feeds, is the problem."""
        return self.feeds > 1 and self.unresolved == self.feeds

    def summary(self) -> str:
        """One line for people."""
        parts = [
            f"{self.feeds} {'feed' if self.feeds == 1 else 'feeds'}: {self.fetched} fetched, "
            f"{self.not_modified} not modified, {self.skipped_unchanged} unchanged, "
            f"{self.failed} failed",
            f"{self.new_entries} new entries, {self.updated_entries} updated",
        ]
        if self.given_back:
            parts.append(
                f"{self.given_back} given back (not fetched in time for the lease, [poll] "
                "lease; polled next round)"
            )
        if self.articles_extracted or self.articles_fell_back or self.articles_retried:
            parts.append(
                f"articles: {self.articles_extracted} extracted, {self.articles_fell_back} "
                f"fell back to the summary, {self.articles_retried} to retry"
            )
        if self.taken_over:
            parts.append(f"{self.taken_over} skipped: another process took over")
        if self.leased:
            parts.append(self._leases())
        return "; ".join(parts)

    def _leases(self) -> str:
        holders = self.leased_by[0] if self.leased_by else "another process"
        if (others := len(self.leased_by) - 1) > 0:
            holders += f" and {others} other process{'es' if others > 1 else ''}"
        until = f" until {self.leased_until:%H:%M} UTC" if self.leased_until else ""
        are = "feed is" if self.leased == 1 else "feeds are"
        return (
            f"{self.leased} {are} leased by {holders}{until} (a poll that was "
            "interrupted, or one still running); they are polled when the lease runs out "
            "([poll] lease)"
        )


def unexpected(doing: str, exc: BaseException) -> FeedError:
    """A FeedError naming an exception nothing expected while ``doing`` one feed."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    cause = getattr(exc, "orig", None) or exc  # a database error's own message, without the SQL
    text = "".join(c if c.isprintable() else " " for c in str(cause).strip().split("\n")[0])
    return FeedError(
        f"could not {doing} this feed: {type(cause).__name__}: {text[:200] or 'no detail'}; "
        "it is retried with backoff"
    )
