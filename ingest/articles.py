"""The article pass of a poll round: a feed read in full gets its new entries' article text.

Once a feed read in full (``[[feeds]] full_text = true``) is polled, its entries waiting for
their article (new ones, and those an earlier round could not fetch) are each fetched through
the round's Fetcher (its limits, per-host politeness and address checks), extracted in the
parser pool and stored beside the entry. Each article is a task of its own beside the feeds:
a slow page costs only its own entry, cut at ``poll.article_timeout``; what a try comes to
(the text, a later retry, a fallback to the summary) is decided by ``ingest/full_text.py``.

At most half the round's connections (``poll.concurrency``) serve articles, so the feeds keep
the rest; at most ``PER_FEED`` articles of one feed are tried in a round, newest first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ingest import full_text
from ingest.errors import FetchError, ParseError
from ingest.fetch import Fetcher
from ingest.models import ArticleOutcome, FeedState, PendingArticle, PollSettings
from ingest.parsing_pool import ParsingPool
from ingest.report import RoundReport
from ingest.store import full_text as stored_articles

PER_FEED = 20
log = logging.getLogger(__name__)
# Runs a store function with the round's engine, on its writer thread: store(function, *args).
Store = Callable[..., Awaitable[Any]]


class Articles:
    """The articles of one round; ``start`` after each feed, ``finish`` before the Fetcher closes."""

    def __init__(
        self,
        settings: PollSettings,
        fetcher: Fetcher,
        parser: ParsingPool,
        store: Store,
        clock: Callable[[], datetime],
        report: RoundReport,
    ) -> None:
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.clock = clock
        self.report = report
        self._slots = asyncio.Semaphore(max(1, settings.concurrency // 2))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, feed: FeedState) -> None:
        """Start on the articles this feed's entries wait for, without waiting for them."""
        waiting = await self.store(stored_articles.pending, feed.id, PER_FEED)
        self._tasks += [asyncio.ensure_future(self._one(article)) for article in waiting]

    async def finish(self, stop: threading.Event) -> None:
        """Wait for the articles still being fetched; when ``stop`` is set, leave them pending."""
        while self._tasks:
            if stop.is_set():
                await self.cancel()
                return
            await asyncio.wait(self._tasks, timeout=0.2)
            done = [task for task in self._tasks if task.done()]
            self._tasks = [task for task in self._tasks if not task.done()]
            for task in done:
                task.result()  # a store outage stops the round, as it does for feeds

    async def cancel(self) -> None:
        """Drop the articles still running: they stay pending for a later round."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, article: PendingArticle) -> None:
        async with self._slots:
            outcome = await self._try(article)
        if await self.store(stored_articles.record, article, outcome, self.clock()):
            self._count(outcome)

    async def _try(self, article: PendingArticle) -> ArticleOutcome:
        """Fetch and extract one article; whatever goes wrong becomes its outcome."""
        try:
            fetched = await self.fetcher.fetch_article(article.link)
            assert fetched.content is not None  # never conditional: no 304
            refused = full_text.not_html(fetched.headers, article)
            if refused is not None:
                return refused
            found = await self.parser.extract(fetched.content, fetched.headers, fetched.url)
        except FetchError as error:
            return full_text.failed(error, article)
        except ParseError:
            return ArticleOutcome(full_text.EXTRACTION_FAILED, article.tries)
        except Exception:  # a bug or a library's surprise on this page: the summary stands
            log.warning("reading the article %s failed", article.link, exc_info=True)
            return ArticleOutcome(full_text.EXTRACTION_FAILED, article.tries)
        return full_text.judged(found, article)

    def _count(self, outcome: ArticleOutcome) -> None:
        if outcome.status == full_text.OK:
            self.report.articles_extracted += 1
        elif outcome.status == full_text.PENDING:
            self.report.articles_retried += 1
        else:
            self.report.articles_fell_back += 1
