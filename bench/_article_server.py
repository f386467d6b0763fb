"""The full-text benchmark's server: summary-only feeds and their article pages, in its own process.

    python bench/_article_server.py --feeds 40 --entries 10 --hosts 4 --page-kb 120

Listens on 127.0.0.1 .. 127.0.0.<hosts>, one port each, prints one JSON line
``{"bases": [...]}`` and serves until its standard input closes. Paths:

    /s/N.xml      feed N: RSS 2.0 with a one-line summary per item, dated minutes ago, each item
                  linking to its article page on the host that serves the feed
    /a/N/E.html   the article page of entry E of feed N: a news page's furniture (a cookie
                  banner, a menu of links, inline scripts, related stories, comments, a footer)
                  around eight paragraphs of story, padded to about ``--page-kb`` KB

Standard library only, run apart from the client so that its CPU is not counted as the client's.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from typing import Any

from _feeds import WORDS, _paragraph, _title

_FEED = re.compile(r"^/s/(\d+)\.xml$")
_PAGE = re.compile(r"^/a/(\d+)/(\d+)\.html$")
STARTED = datetime.now(UTC)


def summary_feed(base: str, n: int, entries: int) -> bytes:
    """Feed ``n``: items with a one-line summary, linking to article pages under ``base``."""
    items = "".join(
        f"<item><title>{_title(n, e)}</title><link>{base}/a/{n}/{e}.html</link>"
        f"<guid>{base}/a/{n}/{e}.html</guid>"
        f"<pubDate>{format_datetime(STARTED - timedelta(minutes=5 + e))}</pubDate>"
        f"<description>{_title(n, e)}: the story so far, in a sentence.</description></item>\n"
        for e in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Summaries {n}</title><link>{base}/</link><description>News</description>"
        f"\n{items}</channel></rss>\n"
    ).encode()


@lru_cache(maxsize=64)
def _furniture(kb: int) -> tuple[str, str]:
    """A menu of links and an inline script, together about ``kb`` KB (half each)."""
    links, state = [], []
    for i in range(kb * 1024 // 2 // 60 + 1):
        word = WORDS[i % len(WORDS)]
        links.append(f'<li><a href="/section/{word}/{i}">{word.capitalize()} {i}</a></li>')
        state.append(f'{{"id":{i},"slot":"{word}","w":{i % 7}}}')
    menu = f'<nav class="mega-menu"><ul>{"".join(links)}</ul></nav>'
    script = f'<script>window.__STATE__={{"ads":[{",".join(state)}]}};</script>'
    return menu, script


def article_page(n: int, e: int, kb: int) -> bytes:
    """A news-shaped page around entry ``e`` of feed ``n``'s story."""
    site = f"news{n}.example"
    menu, script = _furniture(kb)
    story = "".join(_paragraph(site, n, e, p) for p in range(8))
    related = "".join(f'<li><a href="/a/{n}/{k}.html">{_title(n, k)}</a></li>' for k in range(6))
    comments = "".join(
        f'<div class="comment"><p class="who">reader{k}</p><p>Comment {k} on this: '
        f"{WORDS[k]} again, what a surprise.</p></div>"
        for k in range(5)
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_title(n, e)}</title>"
        f"{script}</head><body>"
        '<div class="cookie-banner"><p>We and our partners use cookies. Accept all?</p>'
        "<button>Accept</button></div>"
        f'<header><a href="/">News {n}</a>{menu}</header><main><article>'
        f"<h1>{_title(n, e)}</h1><p class='byline'>By Reporter {e % 7}</p>{story}</article>"
        f"<aside><h2>Most read</h2><ol>{related}</ol></aside>"
        f'<section class="comments"><h2>Comments</h2>{comments}</section></main>'
        "<footer><p>© News. All rights reserved.</p></footer></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    """GET only; keep-alive (HTTP/1.1) with Nagle off."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    entries = 10
    kb = 120

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """Serve a feed or an article page."""
        if match := _FEED.match(self.path):
            base = f"http://{self.headers['Host']}"
            body = summary_feed(base, int(match[1]), self.entries)
            return self._send(200, "application/rss+xml", body)
        if match := _PAGE.match(self.path):
            body = article_page(int(match[1]), int(match[2]), self.kb)
            return self._send(200, "text/html; charset=utf-8", body)
        return self._send(404, "text/plain", b"not here\n")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    """Start one server per loopback address, print their base URLs, serve until stdin closes."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--entries", type=int, default=10)
    options.add_argument("--hosts", type=int, default=4)
    options.add_argument("--page-kb", type=int, default=120)
    args = options.parse_args()
    Handler.entries, Handler.kb = args.entries, args.page_kb
    from _server import serve_on_loopback  # here: it puts bench/ first on the import path

    serve_on_loopback(Handler, args.hosts)


if __name__ == "__main__":
    main()
