"""The benchmarks' feed server: generated feeds on several loopback addresses, in its own process.

    python bench/_server.py --feeds 200 --entries 20 --hosts 8

Listens on 127.0.0.1 .. 127.0.0.<hosts> (all of 127.0.0.0/8 is loopback on Linux), one port
each, prints one JSON line ``{"bases": ["http://127.0.0.1:PORT", ...]}`` and serves until its
standard input closes. Paths:

    /v/N.xml   feed N with ETag and Last-Modified; answers 304 to a matching conditional GET
    /n/N.xml   feed N without validators: always 200 and the whole body
    /_/counts  requests served so far by status, as JSON

Run apart from the client so that its CPU is not counted as the client's. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _feeds import content_type, feed_body

_PATH = re.compile(r"^/([vn])/(\d+)\.xml$")
LAST_MODIFIED = formatdate(1716897600, usegmt=True)  # 2024-05-28 12:00 UTC


class Feeds:
    """Every feed's body, type and ETag, generated once at start."""

    def __init__(self, count: int, entries: int) -> None:
        self.bodies = [feed_body(n, entries) for n in range(count)]
        self.types = [content_type(n) for n in range(count)]
        self.etags = [f'"{hashlib.sha256(b).hexdigest()[:32]}"' for b in self.bodies]
        self.counts: Counter[int] = Counter()
        self.lock = threading.Lock()

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
        if self.path == "/_/counts":
            with self.feeds.lock:
                data = json.dumps(dict(self.feeds.counts)).encode()
            return self._send(200, {"Content-Type": "application/json"}, data, count=False)
        match = _PATH.match(self.path)
        n = int(match.group(2)) if match else -1
        if not match or n >= len(self.feeds.bodies):
            return self._send(404, {"Content-Type": "text/plain"}, b"no such feed\n")
        headers = {"Content-Type": self.feeds.types[n]}
        if match.group(1) == "v":
            etag = self.feeds.etags[n]
            headers |= {"ETag": etag, "Last-Modified": LAST_MODIFIED}
            tag = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if (tag is not None and etag in tag) or (tag is None and since == LAST_MODIFIED):
                return self._send(304, headers, b"")
        return self._send(200, headers, self.feeds.bodies[n])

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
