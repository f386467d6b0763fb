"""The benchmarks' feed server: generated feeds on several loopback addresses, in its own process.

    python bench/_server.py --feeds 200 --entries 20 --hosts 8

Listens on 127.0.0.1 .. 127.0.0.<hosts> (all of 127.0.0.0/8 is loopback on Linux), one port
each, prints one JSON line ``{"bases": ["http://127.0.0.1:PORT", ...]}`` and serves until its
standard input closes. Paths:

    /v/N.xml      feed N with ETag and Last-Modified; answers 304 to a matching conditional GET
    /n/N.xml      feed N without validators: always 200 and the whole body
    /_/counts     requests served so far by status, as JSON
    /_/advance    POST {"feeds": [N, ...], "by": [K, ...]}: feed N publishes K new entries (its
                  oldest K drop out), so its body, ETag and Last-Modified change
    /_/reset      POST: every feed back to its first body

Bodies are made when first asked for and kept (up to CACHED feeds; the first CACHED are made at
start and each advanced feed's new body before /_/advance answers), so that serving costs the
same for every client measured. Run apart from the client so that its CPU is not counted as
the client's. Standard library only.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _feeds import content_type, feed_body

_PATH = re.compile(r"^/([vn])/(\d+)\.xml$")
FIRST_MODIFIED = 1716897600  # 2024-05-28 12:00 UTC, when every feed's entry 0 was published
CACHED = 2048  # feed bodies kept in memory


class Feeds:
    """Every feed's state: how many entries it has published since the start."""

    def __init__(self, count: int, entries: int) -> None:
        self.count_of_feeds, self.entries = count, entries
        self.shifts = [0] * count
        self.counts: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.body = functools.lru_cache(maxsize=CACHED)(self._body)
        self.prepare(range(min(count, CACHED)))

    def _body(self, n: int, shift: int) -> bytes:
        return feed_body(n, self.entries, first=-shift)  # ``shift`` newer entries published

    def prepare(self, numbers: Iterable[int]) -> None:
        """Make the current bodies of feeds ``numbers`` now rather than when first asked for."""
        for n in numbers:
            self.body(n, self.shifts[n])

    def validators(self, n: int) -> tuple[str, str]:
        """Feed n's ETag and Last-Modified: they change when it publishes."""
        shift = self.shifts[n]
        return f'"{n}-{shift}"', formatdate(FIRST_MODIFIED + shift * 3 * 3600, usegmt=True)

    def advance(self, numbers: list[int], by: list[int]) -> None:
        """Feeds ``numbers`` publish ``by`` new entries each."""
        with self.lock:
            for n, k in zip(numbers, by, strict=True):
                self.shifts[n] += k
        self.prepare(numbers)

    def reset(self) -> None:
        """Every feed back to its first body."""
        with self.lock:
            self.shifts = [0] * self.count_of_feeds

    def count(self, status: int) -> None:
        """Count one answer."""
        with self.lock:
            self.counts[status] += 1


class Handler(BaseHTTPRequestHandler):
    """GET only; keep-alive (HTTP/1.1) with Nagle off, as production servers answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    feeds: Feeds

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """Serve a feed, a 304 or the counts."""
        feeds = self.feeds
        if self.path == "/_/counts":
            with feeds.lock:
                data = json.dumps(dict(feeds.counts)).encode()
            return self._send(200, {"Content-Type": "application/json"}, data, count=False)
        match = _PATH.match(self.path)
        n = int(match.group(2)) if match else -1
        if not match or n >= feeds.count_of_feeds:
            return self._send(404, {"Content-Type": "text/plain"}, b"no such feed\n")
        headers = {"Content-Type": content_type(n)}
        shift = feeds.shifts[n]
        if match.group(1) == "v":
            etag, modified = feeds.validators(n)
            headers |= {"ETag": etag, "Last-Modified": modified}
            tag = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if (tag is not None and etag in tag) or (tag is None and since == modified):
                return self._send(304, headers, b"")
        return self._send(200, headers, feeds.body(n, shift))

    def do_POST(self) -> None:
        """Advance some feeds, or reset them all."""
        length = int(self.headers.get("Content-Length") or 0)
        asked = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/_/advance":
            self.feeds.advance(asked["feeds"], asked["by"])
        elif self.path == "/_/reset":
            self.feeds.reset()
        else:
            return self._send(404, {"Content-Type": "text/plain"}, b"no such action\n")
        self._send(200, {"Content-Type": "application/json"}, b"{}", count=False)

    def _send(self, status: int, headers: dict[str, str], body: bytes, count: bool = True) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        if count:
            self.feeds.count(status)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    """Start one server per loopback address, print their base URLs, serve until stdin closes."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--feeds", type=int, default=200)
    options.add_argument("--entries", type=int, default=20)
    options.add_argument("--hosts", type=int, default=8)
    args = options.parse_args()
    Handler.feeds = Feeds(args.feeds, args.entries)
    serve_on_loopback(Handler, args.hosts)


def serve_on_loopback(handler: type[BaseHTTPRequestHandler], hosts: int) -> None:
    """Serve ``handler`` on 127.0.0.1 .. 127.0.0.<hosts>, print the bases, wait for stdin to close."""
    bases = []
    for k in range(1, hosts + 1):
        server = _Server((f"127.0.0.{k}", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        bases.append(f"http://127.0.0.{k}:{server.server_address[1]}")
    print(json.dumps({"bases": bases}), flush=True)
    sys.stdin.read()  # the parent closes our stdin (or dies) when it is done


if __name__ == "__main__":
    main()
