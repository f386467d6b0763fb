"""Per-entry cost of parse_feed against feedparser.parse(bytes) with its defaults.

Generates content-heavy RSS 2.0 and Atom 1.0 feeds (about 2 KB of article HTML per entry, with
links, relative URLs, images, a tracking pixel and tracking parameters) and prints the time per
entry of both and their ratio. Run: .venv/bin/python bench/parse_micro.py [entries] [repeats]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _measure import feedparser_defaults  # noqa: E402

from ingest.parse import parse_feed  # noqa: E402

NOW = datetime(2024, 6, 1, tzinfo=UTC)
PARAGRAPH = (
    "<p>Officials said on Tuesday that the “talks would continue” despite the setback, and that "
    'a <a href="/tag/negotiations/">new round</a> was planned; critics called it '
    '<em>a delay</em>, while <a href="https://example.org/report?utm_source=rss">a report</a> '
    "put the cost at €2.4&nbsp;billion &amp; rising.</p>\n"
)


def article(n: int) -> str:
    """About 2 KB of typical article HTML."""
    return (
        f"<h2>Section {n}</h2>\n"
        + PARAGRAPH * 4
        + f'<figure><img src="/uploads/{n}.jpg" alt="Photo {n}" width="800" height="450">'
        "<figcaption>A caption.</figcaption></figure>\n"
        + PARAGRAPH
        + f'<img src="https://pixel.wp.com/g.gif?post={n}" width="1" height="1" alt="">'
    )


def rss(entries: int) -> bytes:
    """An RSS 2.0 feed with content:encoded, dc:creator and categories."""
    items = "".join(
        f"<item><title>Story {n}: talks “continue” &amp; more</title>"
        f"<link>https://news.example/{n}/?utm_source=rss&amp;utm_medium=rss</link>"
        f'<guid isPermaLink="false">https://news.example/?p={n}</guid>'
        f"<pubDate>Tue, 28 May 2024 10:{n % 60:02d}:00 +0000</pubDate>"
        f"<dc:creator><![CDATA[Reporter {n % 7}]]></dc:creator>"
        "<category><![CDATA[World]]></category><category><![CDATA[Politics]]></category>"
        f"<description><![CDATA[<p>Summary of story {n}, in a sentence or two.</p>]]></description>"
        f"<content:encoded><![CDATA[{article(n)}]]></content:encoded></item>\n"
        for n in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>News</title>'
        f"<link>https://news.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def atom(entries: int) -> bytes:
    """An Atom 1.0 feed with escaped HTML summary and content."""

    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    items = "".join(
        f"<entry><title>Story {n}: talks “continue”</title><id>tag:news.example,2024:{n}</id>"
        f'<link rel="alternate" href="https://news.example/{n}/?utm_source=atom"/>'
        f"<published>2024-05-28T10:{n % 60:02d}:00+02:00</published>"
        f"<updated>2024-05-28T11:{n % 60:02d}:00+02:00</updated>"
        f"<author><name>Reporter {n % 7}</name></author>"
        '<category term="world"/><category term="politics"/>'
        f'<summary type="html">{escape(f"<p>Summary of story {n}.</p>")}</summary>'
        f'<content type="html">{escape(article(n))}</content></entry>\n'
        for n in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>News</title><id>tag:news.example,2024:feed</id>"
        "<updated>2024-05-28T12:00:00Z</updated>"
        f'<link rel="alternate" href="https://news.example/"/>{items}</feed>'
    ).encode()


def best_of(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` runs of each, in seconds; runs interleave so load hits both."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    """Print per-entry costs and ratios for RSS and Atom."""
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    url = "https://news.example/feed"
    for kind, body, content_type in (
        ("RSS 2.0", rss(entries), "application/rss+xml"),
        ("Atom 1.0", atom(entries), "application/atom+xml"),
    ):
        headers = {"Content-Type": content_type}
        assert len(parse_feed(body, headers, url, NOW).entries) == entries
        best = best_of(
            {
                "feedparser": lambda body=body: feedparser_defaults(body),
                "ours": lambda body=body, h=headers: parse_feed(body, h, url, NOW),
            },
            repeats,
        )
        theirs, mine = best["feedparser"] / entries, best["ours"] / entries
        print(
            f"{kind:8} {entries} entries, {len(body) / entries / 1024:.1f} KB/entry: "
            f"feedparser.parse(bytes) {theirs * 1000:.3f} ms/entry, "
            f"parse_feed {mine * 1000:.3f} ms/entry, ratio {theirs / mine:.2f}x faster"
        )


if __name__ == "__main__":
    main()
