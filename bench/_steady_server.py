"""The steady-state benchmark's feed server: each feed gains one entry per generation.

    python bench/_steady_server.py --feeds 200 --entries 20 --hosts 8

Like ``_server.py`` (its own process, several loopback addresses, one JSON line of base URLs,
serves until standard input closes), but the feeds move: at generation g feed N holds entries
-g .. -g + entries - 1 of ``_feeds.feed_body``, so each new generation adds one entry at the top
and drops the oldest. Paths:

    /s/N.xml      feed N now, with an ETag and Last-Modified of its generation (304 on a match)
    /n/N.xml      feed N now, without validators: always 200 and the whole body
    /_/advance    the next generation (every feed gains one entry); answers it as JSON

Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _feeds import content_type, feed_body
from _server import serve_on_loopback

_PATH = re.compile(r"^/([sn])/(\d+)\.xml$")


class Generations:
    """The feeds of the current generation, made when the generation starts."""

    def __init__(self, count: int, entries: int) -> None:
        self.count, self.entries = count, entries
        self.lock = threading.Lock()
        self.generation = -1
        self.advance()

    def advance(self) -> int:
        """Every feed gains its next entry; the new generation's number."""
        with self.lock:
            self.generation += 1
            first = -self.generation
            self.bodies = [feed_body(n, self.entries, first) for n in range(self.count)]
            self.etags = [f'"{hashlib.sha256(b).hexdigest()[:32]}"' for b in self.bodies]
            self.modified = formatdate(1716897600 + 3600 * self.generation, usegmt=True)
            return self.generation


class Handler(BaseHTTPRequestHandler):
    """GET only; keep-alive (HTTP/1.1) with Nagle off."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    feeds: Generations

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """Serve a feed, a 304 or the next generation."""
        if self.path == "/_/advance":
            data = json.dumps({"generation": self.feeds.advance()}).encode()
            return self._send(200, {"Content-Type": "application/json"}, data)
        match = _PATH.match(self.path)
        n = int(match.group(2)) if match else -1
        if not match or n >= self.feeds.count:
            return self._send(404, {"Content-Type": "text/plain"}, b"no such feed\n")
        with self.feeds.lock:
            body, etag, modified = self.feeds.bodies[n], self.feeds.etags[n], self.feeds.modified
        headers = {"Content-Type": content_type(n)}
        if match.group(1) == "s":
            headers |= {"ETag": etag, "Last-Modified": modified}
            tag = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if (tag is not None and etag in tag) or (tag is None and since == modified):
                return self._send(304, headers, b"")
        return self._send(200, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def main() -> None:
    """Start one server per loopback address, print their base URLs, serve until stdin closes."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--feeds", type=int, default=200)
    options.add_argument("--entries", type=int, default=20)
    options.add_argument("--hosts", type=int, default=8)
    args = options.parse_args()
    Handler.feeds = Generations(args.feeds, args.entries)
    serve_on_loopback(Handler, args.hosts)


if __name__ == "__main__":
    main()
