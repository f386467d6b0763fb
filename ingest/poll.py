"""The poll round: claim due feeds, fetch them concurrently, parse in a process pool, store.

Feeds read in full then get their new entries' article text beside the round (ingest/articles.py).

Each feed is claimed under a lease before it is fetched, so several processes (cron and a
worker, or many workers on one PostgreSQL) never poll the same feed in the same round. All
writes for one feed happen in one transaction: a crash mid-round loses nothing committed and
duplicates nothing. One feed's failure is stored on that feed and the round goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from ingest import decide
from ingest.backlog import backlog
from ingest.errors import FeedError, FeedGone, HostNotFound, StoreError
from ingest.interrupt import interruptible
from ingest.models import FeedState, Fetched, ParsedFeed, PollSettings
from ingest.parsing_pool import ParsingPool
from ingest.report import RoundReport, unexpected
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import failures as store_failures
from ingest.store.database import is_outage

if TYPE_CHECKING:  # imported by a round that has feeds to fetch: one with none stays light
    from ingest.articles import Articles
    from ingest.fetch import Fetcher

Progress = Callable[[FeedState, str], None]
log = logging.getLogger(__name__)
# A claimed feed must be fetched within this share of the lease (waiting for a connection to its
# host included), or it is given back unwritten: the rest of the lease is left for parsing and
# writing it, so that its write lands before another process could take the feed over.
LEASE_SHARE = 0.75


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
            return asyncio.run(interruptible(round_.run(parser, everything)))
        with ParsingPool(settings.workers) as own_parser:
            return asyncio.run(interruptible(round_.run(own_parser, everything)))


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
        self.unchanged: list[tuple[FeedState, Fetched, dict[str, Any]]] = []
        self.given_back: set[int] = set()  # not claimed again this round
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="broadsheet-store")
        self.articles: Articles | None = None  # the round's, once its Fetcher is open

    async def run(self, parser: ParsingPool, everything: bool) -> RoundReport:
        started = self.clock()
        batch_size = max(self.settings.concurrency * 2, 16)
        try:
            batch = await self._claim(started, everything, batch_size)
            if batch:  # the fetcher (httpx) is opened, and imported, only for feeds to poll
                await self._fetching(parser, batch, started, everything, batch_size)
            await self._store(self._note_leases, started, everything)
        finally:
            self.writer.shutdown(wait=True)
        return self.report

    async def _fetching(
        self,
        parser: ParsingPool,
        batch: list[FeedState],
        started: datetime,
        everything: bool,
        batch_size: int,
    ) -> None:
        """Poll ``batch``, then claim and poll the next until none is left or the round stops;
        then wait for the articles they started."""
        from ingest.articles import Articles
        from ingest.fetch import Fetcher

        async with Fetcher(self.settings) as fetcher:
            self.articles = Articles(
                self.settings, fetcher, parser, self._with_engine, self.clock, self.report
            )
            try:
                while batch:
                    deadline = asyncio.get_running_loop().time() + self.settings.lease * LEASE_SHARE
                    self.report.feeds += len(batch)
                    await self._batch(fetcher, parser, batch, deadline)
                    await self._store(self._release_unchanged)
                    batch = await self._claim(started, everything, batch_size)
                await self.articles.finish(self.stop)
            finally:
                await self.articles.cancel()  # none outlives the Fetcher

    async def _claim(self, started: datetime, everything: bool, size: int) -> list[FeedState]:
        """The next batch of due feeds, under this round's lease (none once it is stopped)."""
        if self.stop.is_set():
            return []
        batch: list[FeedState] = await self._store(
            stored_feeds.claim,
            self.engine,
            self.owner,
            self.clock(),
            self.settings.lease,
            size,
            since=started,
            everything=everything,
            exclude=frozenset(self.given_back),
        )
        return batch

    async def _batch(
        self, fetcher: Fetcher, parser: ParsingPool, batch: list[FeedState], deadline: float
    ) -> None:
        """Poll a batch at once; when one fails beyond its feed (the store), stop the others."""
        tasks = [
            asyncio.ensure_future(self._one(fetcher, parser, feed, deadline)) for feed in batch
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # none outlives the Fetcher
            raise

    async def _with_engine(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(engine, *args)`` on the writer thread: a store function of the round's."""
        return await self._store(function, self.engine, *args)

    async def _store(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.writer, lambda: function(*args, **kwargs))

    async def _one(
        self, fetcher: Fetcher, parser: ParsingPool, feed: FeedState, deadline: float
    ) -> None:
        """Poll one feed; whatever goes wrong with it is stored on it, but a store outage."""
        now = self.clock()
        try:
            got = await self._fetch(fetcher, parser, feed, now, deadline)
        except FeedError as error:
            await self._store(self._record_failure, feed, error, now)
            return
        try:
            await self._keep(feed, got, now)
        except Exception as exc:
            if isinstance(exc, StoreError) or is_outage(exc):
                raise  # every other feed would fail the same way: the round stops
            log.debug("storing %s failed", feed.url, exc_info=True)
            await self._store(self._record_failure, feed, unexpected("store", exc), now)
            return
        if feed.full_text and got is not None and self.articles is not None:
            await self.articles.start(feed)

    async def _keep(
        self, feed: FeedState, got: tuple[Fetched, ParsedFeed | None] | None, now: datetime
    ) -> None:
        """Store what the fetch got: nothing (the feed is given back), its state, or entries."""
        if got is None:
            await self._store(self._give_back, feed)
            return
        fetched, parsed = got
        if parsed is None:  # nothing to store but the fetch state: written with the batch's
            self.unchanged.append((feed, fetched, self._success_values(feed, fetched, now)))
            self._show(feed, "not modified" if fetched.not_modified else "unchanged")
            return
        await self._store(self._record_success, feed, fetched, parsed, now)

    async def _fetch(
        self, fetcher: Fetcher, parser: ParsingPool, feed: FeedState, now: datetime, deadline: float
    ) -> tuple[Fetched, ParsedFeed | None] | None:
        """Fetch and parse (None when not fetched by ``deadline``); any failure is a FeedError.

        The parse is not cut short by the deadline: the pool's own timeout stops a stuck one,
        and the write that follows checks that the lease is still held.
        """
        doing = "fetch"
        limit = asyncio.timeout_at(deadline)
        try:
            async with limit:
                fetched = await fetcher.fetch(feed.url, feed.validators)
            if fetched.not_modified or fetched.validators.body_hash == feed.validators.body_hash:
                return fetched, None
            doing = "read"
            assert fetched.content is not None
            content, headers, known = fetched.content, fetched.headers, feed.item_keys_json
            return fetched, await parser.parse(content, headers, fetched.url, now, known)
        except FeedError:
            raise
        except TimeoutError as exc:
            if limit.expired():
                return None  # the lease is running out: leave the feed to its next holder
            raise unexpected(doing, exc) from exc
        except Exception as exc:  # a bug or a library's surprise on this feed's input
            log.debug("polling %s failed", feed.url, exc_info=True)
            raise unexpected(doing, exc) from exc

    def _release_unchanged(self) -> None:
        """Write the fetch state of the batch's unchanged feeds in one transaction."""
        pending, self.unchanged = self.unchanged, []
        if not pending:
            return
        updates = [(feed.id, values) for feed, _, values in pending]  # the same keys in each
        with self.engine.begin() as conn:
            held = stored_feeds.release_many(conn, updates, owner=self.owner)
        for (feed, fetched, _), kept in zip(pending, held, strict=True):
            if kept:
                self._tally(fetched, None, 0, 0)
            else:
                self._lost(feed)

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
            "failing_since": None,
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
            "item_keys": None if parsed.item_keys is None else [list(p) for p in parsed.item_keys],
        }
        if not feed.title and parsed.title:
            values["title"] = parsed.title
        if fetched.permanent_url:
            values["url"] = fetched.permanent_url
        new = updated = 0
        with self.engine.begin() as conn:
            # The feed's row first: it checks the lease is still ours and holds the row until
            # the entries are in. First-seen is read inside the transaction, not when the fetch
            # began: a digest that reads the store before this commit ends its window earlier.
            held = stored_feeds.release(conn, feed.id, values, owner=self.owner)
            if held:
                old = backlog(parsed.entries, feed.last_success is None, now)
                new, updated = stored_entries.upsert(
                    conn, feed.id, parsed.entries, self.clock(), old, full_text=feed.full_text
                )
        if not held:
            self._lost(feed)
            return
        self._show(feed, self._tally(fetched, parsed, new, updated))

    def _tally(self, fetched: Fetched, parsed: ParsedFeed | None, new: int, updated: int) -> str:
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
        return outcome

    def _show(self, feed: FeedState, outcome: str) -> None:
        if self.progress:
            self.progress(feed, outcome)

    def _lost(self, feed: FeedState) -> None:
        """The lease ran out and another process holds it now: what we got is dropped."""
        self.report.taken_over += 1
        self._show(feed, "skipped: another process took over")

    def _give_back(self, feed: FeedState) -> None:
        """Not fetched in time for the lease: free the feed for the next round, write nothing."""
        self.given_back.add(feed.id)
        if not stored_feeds.give_back(self.engine, feed.id, self.owner):
            self._lost(feed)
            return
        self.report.given_back += 1
        self._show(feed, "given back: not fetched in time for its lease")

    def _note_leases(self, started: datetime, everything: bool) -> None:
        leases = stored_feeds.leased_elsewhere(
            self.engine, self.owner, self.clock(), since=started, everything=everything
        )
        self.report.leased = leases.count
        self.report.leased_by = list(leases.owners)
        self.report.leased_until = leases.until

    def _record_failure(self, feed: FeedState, error: FeedError, now: datetime) -> None:
        decision = decide.after_failure(feed, error, now, self.settings)
        message = str(error).replace("\x00", "")  # PostgreSQL text holds no NUL
        values: dict[str, Any] = {
            "last_fetch_at": now,
            "last_error": message,
            "last_error_at": now,
            "consecutive_failures": decision.consecutive_failures,
            "failing_since": feed.failing_since or now,
            "next_poll_at": decision.next_poll,
        }
        if isinstance(error, FeedGone):
            values["disabled_reason"] = message
        with self.engine.begin() as conn:
            held = stored_feeds.release(conn, feed.id, values, owner=self.owner)
        if not held:
            self._lost(feed)
            return
        self.report.failed += 1
        self.report.unresolved += isinstance(error, HostNotFound)
        self.report.errors.append({"url": feed.url, "error": message})
        self._show(feed, f"failed: {message}")
