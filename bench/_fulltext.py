"""The measurements of bench/fulltext.py (see its docstring)."""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from _article_server import article_page
from _measure import Run, measure, server_process, wait_idle

from ingest.extract import extract_article
from ingest.models import FeedSpec, PollSettings
from ingest.parsing_pool import ParsingPool
from ingest.poll import poll
from ingest.report import RoundReport
from ingest.store import feeds as stored_feeds
from ingest.store.database import open_store

HERE = Path(__file__).resolve().parent
HTML = {"Content-Type": "text/html; charset=utf-8"}


def options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--entries", type=int, default=10, help="entries (articles) per feed")
    parser.add_argument("--hosts", type=int, default=4, help="loopback addresses serving them")
    parser.add_argument("--page-kb", type=int, default=120, help="about how large a page is")
    parser.add_argument("--pages", type=int, default=100, help="pages for extraction alone")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each kind; least CPU")
    parser.add_argument("--workers", type=int, default=0, help="parser processes (0: per CPU)")
    return parser.parse_args()


def extraction_alone(args: argparse.Namespace) -> tuple[float, float, float]:
    """The least CPU seconds per article over ``--repeat`` passes, MB per page, words kept."""
    pages = [article_page(n % 50, n // 50, args.page_kb) for n in range(args.pages)]
    extract_article(pages[0], HTML, "http://news.example/a")  # imports and caches warmed
    best = float("inf")
    words = 0
    for _ in range(args.repeat):
        start = time.process_time()
        found = [
            extract_article(page, HTML, f"http://news.example/a/{i}")
            for i, page in enumerate(pages)
        ]
        best = min(best, (time.process_time() - start) / len(pages))
        words = sum(len(article.text.split()) for article in found if article) // len(pages)
    return best, sum(map(len, pages)) / len(pages) / 1e6, words


def server(args: argparse.Namespace) -> AbstractContextManager[tuple[list[str], int]]:
    """bench/_article_server.py in its own process: its base URLs and its pid."""
    return server_process(
        "_article_server.py",
        f"--entries={args.entries}",
        f"--hosts={args.hosts}",
        f"--page-kb={args.page_kb}",
    )


def one_round(
    folder: Path,
    urls: list[str],
    full_text: bool,
    settings: PollSettings,
    pool: ParsingPool,
    exclude: set[int],
) -> Run:
    """A first round over ``urls`` into a fresh store, measured."""
    engine = open_store(f"sqlite:///{folder / f'{time.monotonic_ns()}.db'}")
    specs = [FeedSpec(url=url, full_text=full_text) for url in urls]
    stored_feeds.sync(engine, specs, datetime.now(UTC))
    try:
        return measure(lambda: poll(engine, settings, everything=True, parser=pool), exclude)
    finally:
        engine.dispose()


def warm(pool: ParsingPool, page: bytes) -> None:
    """Every pool process imports the parser and trafilatura before anything is measured."""

    async def extract_some() -> None:
        await asyncio.gather(
            *(pool.extract(page, HTML, "http://x/") for _ in range(pool.workers * 4))
        )

    asyncio.run(extract_some())


def rounds(args: argparse.Namespace) -> dict[bool, Run]:
    """The least-CPU round of each kind: plain feeds (False) and read in full (True)."""
    settings = PollSettings(allow_private=True, workers=args.workers)
    best: dict[bool, Run] = {}
    with server(args) as (bases, pid), tempfile.TemporaryDirectory() as folder:
        exclude = {pid}
        urls = [f"{bases[n % len(bases)]}/s/{n}.xml" for n in range(args.feeds)]
        with ParsingPool(settings.workers) as pool:
            warm(pool, article_page(0, 0, args.page_kb))
            wait_idle(exclude)
            for _ in range(args.repeat):
                for full_text in (False, True):
                    run = one_round(Path(folder), urls, full_text, settings, pool, exclude)
                    report: RoundReport = run.result
                    expected = args.feeds * args.entries if full_text else 0
                    if report.failed or report.articles_extracted != expected:
                        raise SystemExit(f"unexpected round: {report.summary()}")
                    if full_text not in best or run.cpu < best[full_text].cpu:
                        best[full_text] = run
    return best


def main() -> None:
    """Measure and print."""
    args = options()
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; {vars(args)}")
    cpu, size, words = extraction_alone(args)
    print("\n1. Extraction alone (trafilatura, then the sanitizer), in one process")
    print(f"   pages of {size * 1000:.0f} KB, {words} words of story each")
    print(f"   {cpu * 1000:.1f} ms CPU per article, {cpu / size * 1000:.0f} ms per MB of page")
    best = rounds(args)
    plain, full = best[False], best[True]
    articles = args.feeds * args.entries
    print(
        f"\n2. A first round over {args.feeds} feeds x {args.entries} entries ({articles} articles)"
    )
    print(f"   {'':24}{'CPU s':>8}{'wall s':>8}")
    for name, run in (("plain feeds", plain), ("read in full", full)):
        print(f"   {name:24}{run.cpu:8.2f}{run.wall:8.2f}")
    extra_cpu, extra_wall = full.cpu - plain.cpu, full.wall - plain.wall
    print(
        f"   articles add {extra_cpu / articles * 1000:.1f} ms CPU per article (fetch, extract, store)"
    )
    print(
        f"   articles' share of the round read in full: {extra_cpu / full.cpu:.0%} of its CPU, "
        f"{extra_wall / full.wall:.0%} of its wall time"
    )
