"""The poll round: claim due feeds, fetch them concurrently, parse in a process pool, store.

Each feed is claimed under a lease before it is fetched, so several processes (cron and a
worker, or many workers on one PostgreSQL) never poll the same feed in the same round. All
writes for one feed happen in one transaction: a crash mid-round loses nothing committed and
duplicates nothing. One feed's failure is stored on that feed and the round goes on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from ingest import decide
from ingest.errors import FeedError, FeedGone, HostNotFound
from ingest.fetch import Fetcher
from ingest.models import FeedState, Fetched, ParsedFeed, PollSettings
from ingest.parsing_pool import ParsingPool
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import failures as store_failures

Progress = Callable[[FeedState, str], None]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def worker_name() -> str:
    """A name for this process in leases and logs: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


OFFLINE = (
    "no feed's host name resolved: unless every URL is mistyped, this machine is offline or "
    "without DNS, so check its network; the feeds are retried on their schedule, or all at "
    "once with `broadsheet poll --all`"
)


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
    errors: list[dict[str, str]] = field(default_factory=list)
    unresolved: int = 0  # of the failures, host names that did not resolve

    def as_dict(self) -> dict[str, Any]:
        """Counts and errors as plain data."""
        return asdict(self)

    def counts(self) -> dict[str, int]:
        """The counts alone: what `broadsheet poll --json` prints."""
        details = ("errors", "unresolved")
        return {key: value for key, value in self.as_dict().items() if key not in details}

    @property
    def offline(self) -> bool:
        """No host name of several feeds resolved: the machine, not the feeds, is the problem."""
        return self.feeds > 1 and self.unresolved == self.feeds

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.feeds} {'feed' if self.feeds == 1 else 'feeds'}: {self.fetched} fetched, {self.not_modified} not modified, "
            f"{self.skipped_unchanged} unchanged, {self.failed} failed; "
            f"{self.new_entries} new entries, {self.updated_entries} updated"
        )


def poll(
    engine: Engine,
    settings: PollSettings,
    *,
    everything: bool = False,
    owner: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress | None = None,
    parser: ParsingPool | None = None,
    stop: threading.Event | None = None,
) -> RoundReport:
    """Run one round over the due feeds (all active feeds with ``everything``).

    Setting ``stop`` ends the round after the feeds already claimed; the rest wait for the next.
    """
    round_ = _Round(engine, settings, owner or worker_name(), clock, progress, stop)
    kept = (
        "every feed stored before it is kept; the feeds this round had claimed are polled again "
        f"once their lease (poll.lease, {settings.lease:g} s) runs out"
    )
    with store_failures("polling", kept):
        if parser is not None:
            return asyncio.run(round_.run(parser, everything))
        with ParsingPool(settings.workers) as own_parser:
            return asyncio.run(round_.run(own_parser, everything))


def due_count(engine: Engine, *, everything: bool = False, now: datetime | None = None) -> int:
    """How many feeds a round started now would poll (for progress bars)."""
    now = now or utcnow()
    return stored_feeds.count_due(engine, now, since=now, everything=everything)


class _Round:
    def __init__(
        self,
        engine: Engine,
        settings: PollSettings,
        owner: str,
        clock: Callable[[], datetime],
        progress: Progress | None,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self.engine = engine
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.progress = progress
        self.report = RoundReport()
        self.unchanged: list[tuple[int, dict[str, Any]]] = []
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="broadsheet-store")

    async def run(self, parser: ParsingPool, everything: bool) -> RoundReport:
        started = self.clock()
        batch_size = max(self.settings.concurrency * 2, 16)
        try:
            async with Fetcher(self.settings) as fetcher:
                while not self.stop.is_set():
                    batch = await self._store(
                        stored_feeds.claim,
                        self.engine,
                        self.owner,
                        self.clock(),
                        self.settings.lease,
                        batch_size,
                        since=started,
                        everything=everything,
                    )
                    if not batch:
                        break
                    self.report.feeds += len(batch)
                    await self._batch(fetcher, parser, batch)
                    await self._store(self._release_unchanged)
        finally:
            self.writer.shutdown(wait=True)
        return self.report

    async def _batch(self, fetcher: Fetcher, parser: ParsingPool, batch: list[FeedState]) -> None:
        """Poll a batch at once; when one fails beyond its feed (the store), stop the others."""
        tasks = [asyncio.ensure_future(self._one(fetcher, parser, feed)) for feed in batch]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # none outlives the Fetcher
            raise

    async def _store(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.writer, lambda: function(*args, **kwargs))

    async def _one(self, fetcher: Fetcher, parser: ParsingPool, feed: FeedState) -> None:
        now = self.clock()
        fetched: Fetched | None = None
        parsed: ParsedFeed | None = None
        try:
            fetched = await fetcher.fetch(feed.url, feed.validators)
            if (
                not fetched.not_modified
                and fetched.validators.body_hash != feed.validators.body_hash
            ):
                assert fetched.content is not None
                parsed = await parser.parse(fetched.content, fetched.headers, fetched.url, now)
        except FeedError as error:
            await self._store(self._record_failure, feed, error, now)
            return
        if parsed is None:  # nothing to store but the fetch state: written with the batch's
            self.unchanged.append((feed.id, self._success_values(feed, fetched, now)))
            self._count(feed, fetched, None, 0, 0)
            return
        await self._store(self._record_success, feed, fetched, parsed, now)

    def _release_unchanged(self) -> None:
        """Write the fetch state of the batch's unchanged feeds in one transaction."""
        pending, self.unchanged = self.unchanged, []
        if pending:
            with self.engine.begin() as conn:
                for feed_id, values in pending:
                    stored_feeds.release(conn, feed_id, values)

    def _success_values(
        self, feed: FeedState, fetched: Fetched, now: datetime, parsed: ParsedFeed | None = None
    ) -> dict[str, Any]:
        decision = decide.after_success(feed, fetched, now, self.settings, parsed)
        return {
            "declared_interval": decision.declared_interval,
            "last_fetch_at": now,
            "last_success_at": now,
            "last_error": None,
            "consecutive_failures": 0,
            "next_poll_at": decision.next_poll,
            "etag": fetched.validators.etag,
            "last_modified": fetched.validators.last_modified,
        }

    def _record_success(
        self, feed: FeedState, fetched: Fetched, parsed: ParsedFeed, now: datetime
    ) -> None:
        values = self._success_values(feed, fetched, now, parsed) | {
            "body_hash": fetched.validators.body_hash,
            "warning": parsed.warning,
            "duplicates": parsed.duplicates,
            "site_url": parsed.link,
        }
        if not feed.title and parsed.title:
            values["title"] = parsed.title
        if fetched.permanent_url:
            values["url"] = fetched.permanent_url
        with self.engine.begin() as conn:
            # First-seen is read inside the transaction, not when the fetch began: a digest that
            # reads the store before this commit then ends its window before this time too.
            new, updated = stored_entries.upsert(conn, feed.id, parsed.entries, self.clock())
            stored_feeds.release(conn, feed.id, values)
        self._count(feed, fetched, parsed, new, updated)

    def _count(
        self, feed: FeedState, fetched: Fetched, parsed: ParsedFeed | None, new: int, updated: int
    ) -> None:
        report = self.report
        if fetched.not_modified:
            report.not_modified += 1
            outcome = "not modified"
        elif parsed is None:
            report.skipped_unchanged += 1
            outcome = "unchanged"
        else:
            report.fetched += 1
            outcome = f"{new} new, {updated} updated"
        report.new_entries += new
        report.updated_entries += updated
        if self.progress:
            self.progress(feed, outcome)

    def _record_failure(self, feed: FeedState, error: FeedError, now: datetime) -> None:
        decision = decide.after_failure(feed, error, now, self.settings)
        values: dict[str, Any] = {
            "last_fetch_at": now,
            "last_error": str(error),
            "last_error_at": now,
            "consecutive_failures": decision.consecutive_failures,
            "next_poll_at": decision.next_poll,
        }
        if isinstance(error, FeedGone):
            values["disabled_reason"] = str(error)
        with self.engine.begin() as conn:
            stored_feeds.release(conn, feed.id, values)
        self.report.failed += 1
        self.report.unresolved += isinstance(error, HostNotFound)
        self.report.errors.append({"url": feed.url, "error": str(error)})
        if self.progress:
            self.progress(feed, f"failed: {error}")
