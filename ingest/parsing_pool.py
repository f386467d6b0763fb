"""Parse feeds off the event loop: in worker processes (both cores) or, with one worker, a thread.

Parsing is CPU-bound, so a round parses in a process pool while the fetcher keeps downloading;
the article pages of feeds read in full are extracted there too. A parse (or an extraction) that
outlives ``timeout`` or kills its process is reported as that feed's (that article's) error and
the pool is replaced; the round goes on.

The pool's processes die with the process that started them, however it ends (``kill -9``
included): each watches a pipe whose only writing end that process holds, and exits when the
pipe closes. Once they are gone, the fork server and the resource tracker see their own pipes
close and exit too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from ingest.errors import ParseError
from ingest.models import Article, ParsedFeed

T = TypeVar("T")

PARSE_TIMEOUT = 60.0


class ParsingPool:
    """Runs ``parse_feed`` for a round; use as a context manager so the processes are reaped."""

    def __init__(self, workers: int = 0, timeout: float = PARSE_TIMEOUT) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._lifeline: tuple[Connection, Connection] | None = None  # (read, write) ends

    def __enter__(self) -> ParsingPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._cut_lifeline()

    def kill(self) -> None:
        """Kill the worker processes at once, abandoning any parse (orphans would live on)."""
        self._discard()

    async def parse(
        self,
        content: bytes,
        headers: Mapping[str, str],
        url: str,
        now: datetime,
        item_keys_json: str | None = None,
    ) -> ParsedFeed:
        """Parse one feed's bytes; ParseError when it is not a feed, takes too long or crashes.

        ``item_keys_json`` is the feed's stored ``item_keys`` (``FeedState.item_keys_json``),
        decoded in the parsing process into ``parse_feed``'s ``known``.
        """
        return await self._run(
            "parsing", "feed", _parse, content, dict(headers), url, now, item_keys_json
        )

    async def extract(self, content: bytes, headers: Mapping[str, str], url: str) -> Article | None:
        """An article page's story (None when it holds none); ParseError when it takes too long
        or crashes."""
        return await self._run(
            "extracting the article", "page", _extract, content, dict(headers), url
        )

    async def _run(self, doing: str, what: str, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        executor = None if self.workers == 1 else self._executor()
        future = loop.run_in_executor(executor, function, *args)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self._discard()
            raise ParseError(
                f"{doing} took longer than {self.timeout:g} s and was stopped; "
                f"the {what} is probably hostile or malformed"
            ) from None
        except BrokenProcessPool:
            self._discard()
            raise ParseError(
                f"the parser process died on this {what} (out of memory?); the {what} was skipped"
            ) from None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            # The fork server imports the parser once; every pool process forks from it ready.
            context.set_forkserver_preload(["ingest.parse"])
            self._lifeline = context.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_die_with_parent,
                initargs=(self._lifeline[0],),
            )
        return self._pool

    def _discard(self) -> None:
        """Drop a pool whose process is stuck or dead; a fresh one starts on the next parse."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()  # a stuck parse never returns; killing is the only way to free it
        pool.shutdown(wait=False, cancel_futures=True)
        self._cut_lifeline()

    def _cut_lifeline(self) -> None:
        """Close both ends of the pool's pipe: a process still running then exits."""
        lifeline, self._lifeline = self._lifeline, None
        for end in lifeline or ():
            end.close()


def _parse(
    content: bytes,
    headers: dict[str, str],
    url: str,
    now: datetime,
    item_keys_json: str | None = None,
) -> ParsedFeed:
    """``parse_feed``, importing feedparser only where a feed is parsed (a round with nothing
    to parse never loads it; the fork server has it preloaded for the pool's processes)."""
    from ingest.parse import parse_feed

    return parse_feed(content, headers, url, now, known_items(item_keys_json))


def known_items(item_keys_json: str | None) -> list[tuple[str, str]]:
    """The stored item keys as ``parse_feed`` takes them; none when there are none, or when
    the text is not a list of pairs (the body is then read whole, as on a first poll)."""
    if not item_keys_json:
        return []
    try:
        return [(key, identity) for key, identity in json.loads(item_keys_json) or ()]
    except (ValueError, TypeError):
        return []


def _extract(content: bytes, headers: dict[str, str], url: str) -> Article | None:
    """``extract_article``, importing trafilatura only in a process that reads articles."""
    from ingest.extract import extract_article

    return extract_article(content, headers, url)


def _die_with_parent(lifeline: Connection) -> None:
    """In a pool process: exit as soon as the pipe's writing end closes (its owner is gone)."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv_bytes()  # nothing is ever sent: this returns only by EOFError
        os._exit(1)  # no clean-up to wait for: the process that wanted the results is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
