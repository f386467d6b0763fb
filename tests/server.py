"""A real HTTP server on 127.0.0.1 for the tests: shared fixtures, the corpus and programmable routes.

    /fixtures/NAME   a file of tests/data/shared/fixtures, with an ETag and Last-Modified (conditional GET)
    /recent/NAME     the same fixture as if published yesterday (its day, 2022-03-30, moved), so that
                     a new feed's first poll does not take it for backlog
    /corpus/PATH     a file of tests/data/shared/corpus; XML files get the ``Header:`` lines of their top
                     comment; feedparser/tests/compression/*.gz and *.z go out gzip/deflate-encoded
    /gen/N.xml       a generated RSS feed, the same for the same (N, ``gen_revision``); conditional;
                     ``?items=K`` sets how many items (5 by default)
    /_/counts        the request counts as JSON, for another process (not counted itself)
    routed paths     ``server.route(path, handler)`` or ``server.route(path, body=..., status=...)``

A handler is a callable ``Request -> Reply``; ``static``, ``redirect``, ``trickle``, ``endless``,
``gzipped``, ``gzip_bomb``, ``delayed`` and ``sequence`` build the usual ones. A streamed body (any
iterable of bytes) goes out chunked unless the reply sets Content-Length.

``python tests/server.py [PORT]`` serves from a process of its own and prints its base URL.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import json
import re
import socket
import ssl
import sys
import threading
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SHARED = Path(__file__).resolve().parent / "data" / "shared"
RSS_TYPE = "application/rss+xml"
_GEN = re.compile(r"^/gen/(\d+)\.xml$")
_HEADER_LINE = re.compile(r"^Header:\s+([^:\s]+)\s*:(.*)$", re.MULTILINE)
_TYPES = {".xml": "application/xml", ".rss": RSS_TYPE, ".atom": "application/atom+xml"}
_TYPES |= {".json": "application/feed+json", ".html": "text/html; charset=utf-8"}
_FEEDPARSER_HOST = "http://localhost:8097/"  # where feedparser's own test server listened


@dataclass(frozen=True)
class Request:
    """What a handler sees of a request; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    stopping: threading.Event = field(repr=False)  # set when the server shuts down

    @property
    def host(self) -> str:
        """The Host header without its port."""
        return self.headers.get("host", "").rsplit(":", 1)[0]


@dataclass
class Reply:
    """What a handler answers; ``pause`` is waited before each chunk of a streamed body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    pause: float = 0.0
    close: bool = False  # close the connection afterwards (with a short body: a cut-off)


Handler = Callable[[Request], Reply]


def not_modified(request: Request, etag: str | None, last_modified: str | None) -> bool:
    """True when the request's validators match (If-None-Match wins over If-Modified-Since)."""
    if (tags := request.headers.get("if-none-match")) is not None:
        wanted = {t.strip().removeprefix("W/") for t in tags.split(",")}
        return etag is not None and ("*" in wanted or etag.removeprefix("W/") in wanted)
    since = request.headers.get("if-modified-since")
    if not since or not last_modified:
        return False
    try:
        return parsedate_to_datetime(since) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False


def _not_modified_reply(headers: dict[str, str]) -> Reply:
    return Reply(304, {k: v for k, v in headers.items() if not k.lower().startswith("content-")})


def static(
    body: bytes,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    content_type: str = RSS_TYPE,
) -> Handler:
    """Always the same reply; a 304 when ``etag``/``last_modified`` are set and match."""
    base = {"Content-Type": content_type} | (headers or {})
    base |= {"ETag": etag} if etag else {}
    base |= {"Last-Modified": last_modified} if last_modified else {}

    def handle(request: Request) -> Reply:
        if (etag or last_modified) and not_modified(request, etag, last_modified):
            return _not_modified_reply(base)
        return Reply(status, dict(base), body)

    return handle


def redirect(location: str, status: int = 301) -> Handler:
    """Redirect to ``location`` with ``status``."""
    return lambda request: Reply(status, {"Location": location})


def trickle(body: bytes, every: float = 1.0) -> Handler:
    """Send ``body`` one byte each ``every`` seconds (with an honest Content-Length)."""
    headers = {"Content-Type": RSS_TYPE, "Content-Length": str(len(body))}
    return lambda request: Reply(200, headers, (body[i : i + 1] for i in range(len(body))), every)


def endless(chunk: bytes = b"<item><title>again</title></item>\n" * 256) -> Handler:
    """A body that never ends (chunked): ``chunk`` after ``chunk``."""
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Endless</title>\n'

    def handle(request: Request) -> Reply:
        return Reply(
            200, {"Content-Type": RSS_TYPE}, itertools.chain([head], itertools.repeat(chunk))
        )

    return handle


def gzipped(body: bytes, **kwargs: Any) -> Handler:
    """``static`` with the body gzip-compressed and Content-Encoding: gzip."""
    headers = {"Content-Encoding": "gzip"} | kwargs.pop("headers", {})
    return static(gzip.compress(body), headers=headers, **kwargs)


def gzip_bomb(size: int = 10 * 1024**3) -> Handler:
    """A gzip body inflating to ``size`` bytes of zeros, compressed while it is sent (~1000:1)."""

    def body() -> Iterator[bytes]:
        compressor, block = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1024 * 1024)
        for _ in range(size // len(block)):
            yield compressor.compress(block)
        yield compressor.flush()

    headers = {"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"}
    return lambda request: Reply(200, headers, body())


def delayed(handler: Handler, seconds: float) -> Handler:
    """``handler`` after ``seconds`` (cut short when the server stops)."""

    def handle(request: Request) -> Reply:
        request.stopping.wait(seconds)
        return handler(request)

    return handle


def sequence(*handlers: Handler) -> Handler:
    """The first request gets the first handler, the next the second...; the last one repeats."""
    queue, lock = list(handlers), threading.Lock()

    def handle(request: Request) -> Reply:
        with lock:
            current = queue.pop(0) if len(queue) > 1 else queue[0]
        return current(request)

    return handle


@lru_cache(maxsize=4096)
def generated_body(n: int, revision: int, items: int = 5) -> bytes:
    """The RSS of generated feed ``n`` at ``revision``: deterministic, ``items`` items."""
    entries = "".join(
        f"<item><title>Story {n}.{i} (r{revision})</title>"
        f"<link>http://example.com/{n}/{revision}/{i}</link><guid>gen-{n}-{revision}-{i}</guid>"
        f"<pubDate>{formatdate(1_700_000_000 + revision * 3600 + i * 60, usegmt=True)}</pubDate>"
        f"<description>Body of story {i} in feed {n}.</description></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Generated feed {n}</title><link>http://example.com/{n}/</link>"
        f"<description>Feed {n}</description>{entries}</channel></rss>"
    ).encode()


def generated_feed(request: Request, n: int, revision: int) -> Reply:
    """Reply for /gen/N.xml: conditional on an ETag and Last-Modified that follow the revision."""
    items = int(request.query.get("items", "5"))
    etag = f'"gen-{n}-{revision}-{items}"'
    headers = {"Content-Type": RSS_TYPE, "ETag": etag}
    headers["Last-Modified"] = formatdate(1_700_000_000 + revision * 3600, usegmt=True)
    if not_modified(request, etag, headers["Last-Modified"]):
        return _not_modified_reply(headers)
    return Reply(200, headers, generated_body(n, revision, items))


def corpus_headers(data: bytes, base: str) -> dict[str, str]:
    """The ``Header:`` lines of a corpus file's top comment (feedparser's convention)."""
    top = data[:4096].decode("utf-8", "replace")
    comment = top[top.find("<!--") : top.find("-->")] if "<!--" in top else ""
    headers = {k.strip(): v.strip() for k, v in _HEADER_LINE.findall(comment)}
    headers = {
        ("Content-Type" if k.lower() == "content-type" else k): v for k, v in headers.items()
    }
    if "Location" in headers:
        headers["Location"] = headers["Location"].replace(_FEEDPARSER_HOST, base + "feedparser/")
    return headers


FIXTURE_DAY = datetime(2022, 3, 30, tzinfo=UTC)  # the day the shared fixtures are dated


def as_of_yesterday(data: bytes) -> bytes:
    """A fixture with its day moved to yesterday (RFC 822 and ISO 8601 dates; times kept)."""
    day = datetime.now(UTC) - timedelta(days=1)
    old, new = (formatdate(d.timestamp(), usegmt=True)[5:16] for d in (FIXTURE_DAY, day))
    data = data.replace(old.encode(), new.encode())  # "30 Mar 2022"
    return data.replace(f"{FIXTURE_DAY:%Y-%m-%d}".encode(), f"{day:%Y-%m-%d}".encode())


def serve_file(request: Request, root: Path, relative: str, base: str) -> Reply:
    """A file under ``root`` with the headers its folder calls for (see the module docstring)."""
    if relative == "feedparser/-/return-304.xml":  # the target of feedparser's redirect-to-304
        return Reply(304)
    path = (root / relative).resolve()
    if not path.is_file() or not path.is_relative_to(root.resolve()):
        return Reply(404, {"Content-Type": "text/plain"}, b"no such file\n")
    data = path.read_bytes()
    headers = {"Content-Type": _TYPES.get(path.suffix, "application/octet-stream")}
    if "/compression/" in relative:
        headers = {"Content-Type": "application/xml"}
        headers["Content-Encoding"] = "gzip" if path.suffix == ".gz" else "deflate"
    elif path.suffix == ".xml":
        headers |= corpus_headers(data, base)
    if root.name == "fixtures" and base.endswith("/recent/"):
        data = as_of_yesterday(data)
    if root.name == "fixtures":
        headers["ETag"] = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        headers["Last-Modified"] = formatdate(path.stat().st_mtime, usegmt=True)
    if not_modified(request, headers.get("ETag"), headers.get("Last-Modified")):
        return _not_modified_reply({k: v for k, v in headers.items() if k != "Status"})
    return Reply(int(headers.pop("Status", "200")), headers, data)


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 in a background thread; ``base_url`` is its address."""

    def __init__(
        self, shared: Path = SHARED, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.shared = shared
        self.gen_revision = 0  # change it to change every generated feed
        self.errors: list[str] = []  # unexpected handler failures (tracebacks)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._routes: dict[str, Handler] = {}
        self._counts: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._log: list[Request] = []
        self._epoch = 0
        self._httpd = _HTTPServer(("127.0.0.1", port), _RequestHandler)
        self._httpd.feeds = self
        self.port: int = self._httpd.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:  # each connection's handshake happens in its handler thread
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.base_url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop serving, cut open connections and wait for every handler thread to end."""
        self.stopping.set()
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.cut_connections()
        self._httpd.server_close()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The absolute URL of ``path``; ``host="localhost"`` reaches it as another host."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def gen_url(self, n: int, host: str = "127.0.0.1") -> str:
        """The URL of generated feed ``n``."""
        return self.url(f"/gen/{n}.xml", host)

    def route(self, path: str, handler: Handler | None = None, **static_reply: Any) -> str:
        """Answer ``path`` with ``handler``, else with ``static(body, **rest)``; its URL."""
        if handler is None:
            body = static_reply.pop("body", b"")
            handler = static(body.encode() if isinstance(body, str) else body, **static_reply)
        with self._lock:
            self._routes[path] = handler
        return self.url(path)

    def reset(self) -> None:
        """Forget routes, counts, the request log, errors and the generated feeds' revision."""
        with self._lock:
            for kept in (self._routes, self._counts, self._in_flight, self._peak):
                kept.clear()
            self._log.clear()
            self.errors.clear()
            self._epoch += 1
            self.gen_revision = 0

    def hits(self, path: str) -> int:
        """Requests ``path`` (without query) received since the last reset."""
        with self._lock:
            return self._counts[path]

    @property
    def counts(self) -> dict[str, int]:
        """Requests per path since the last reset."""
        with self._lock:
            return dict(self._counts)

    @property
    def requests(self) -> list[Request]:
        """Every request received since the last reset, in order."""
        with self._lock:
            return list(self._log)

    def max_in_flight(self, host: str | None = None) -> int:
        """The most requests handled at once for ``host`` (Host header name), or for all hosts."""
        with self._lock:
            return self._peak[host or "*"]

    def _begin(self, request: Request) -> int:
        with self._lock:
            self._log.append(request)
            self._counts[request.path] += 1
            for key in (request.host, "*"):
                self._in_flight[key] += 1
                self._peak[key] = max(self._peak[key], self._in_flight[key])
            return self._epoch

    def _end(self, request: Request, epoch: int) -> None:
        with self._lock:
            if epoch == self._epoch:  # else a reset since the request began zeroed the counts
                for key in (request.host, "*"):
                    self._in_flight[key] -= 1

    def _handler(self, path: str) -> Handler | None:
        with self._lock:
            if handler := self._routes.get(path):
                return handler
        if match := _GEN.match(path):
            n, revision = int(match[1]), self.gen_revision
            return lambda request: generated_feed(request, n, revision)
        folder = path.split("/")[1]
        if folder in ("fixtures", "corpus", "recent"):
            relative, base = path.removeprefix(f"/{folder}/"), f"{self.base_url}/{folder}/"
            root = self.shared / ("fixtures" if folder == "recent" else folder)
            return lambda request: serve_file(request, root, relative, base)
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    feeds: FeedServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so that they end."""
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away: normal when it enforces limits and timeouts
        self.feeds.errors.append(traceback.format_exc())
        traceback.print_exc()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends on its own
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def do_GET(self) -> None:
        feeds = self.server.feeds
        parts = urlsplit(self.path)  # a proxy request carries an absolute URL
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(
            self.command, parts.path, dict(parse_qsl(parts.query)), headers, feeds.stopping
        )
        if request.path == "/_/counts":
            self._send(
                Reply(200, {"Content-Type": "application/json"}, json.dumps(feeds.counts).encode())
            )
            return
        epoch = feeds._begin(request)
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                feeds._end(request, epoch)

        try:
            handler = feeds._handler(request.path)
            reply = handler(request) if handler else Reply(404, {"Content-Type": "text/plain"})
            self._send(reply, end)
        finally:
            end()

    def _send(self, reply: Reply, end: Callable[[], None] = lambda: None) -> None:
        """Write ``reply``; ``end`` is called just before the bytes that complete it.

        A client may start its next request as soon as it has read a whole response, so a
        request stops counting as in flight before that moment, never after it.
        """
        headers = {"Server": "feed-server", "Date": formatdate(usegmt=True)} | reply.headers
        bodiless = reply.status in (204, 304) or reply.status < 200
        streamed = not isinstance(reply.body, bytes)
        chunked = streamed and not bodiless and "Content-Length" not in headers
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        elif not streamed and not bodiless:
            headers.setdefault("Content-Length", str(len(reply.body)))  # type: ignore[arg-type]
        self.send_response_only(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if bodiless or (isinstance(reply.body, bytes) and not reply.body):
            end()
            self.end_headers()
        elif isinstance(reply.body, bytes):
            self.end_headers()
            end()
            self.wfile.write(reply.body)
        else:
            self.end_headers()
            if not self._stream(reply.body, reply.pause, chunked, end):  # type: ignore[arg-type]
                reply.close = True
        self.close_connection = self.close_connection or reply.close

    def _stream(
        self, body: Iterable[bytes], pause: float, chunked: bool, end: Callable[[], None]
    ) -> bool:
        """Write a streamed body; False when the server stopped before its end."""
        stop = self.server.feeds.stopping
        chunks = iter(body)
        chunk = next(chunks, None)
        while chunk is not None:
            if (pause and stop.wait(pause)) or stop.is_set():
                return False
            following = next(chunks, None)
            if following is None and not chunked:
                end()  # the last bytes of a body without chunked framing complete it
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                self.wfile.flush()
            chunk = following
        end()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        return True


def main() -> None:
    """Serve until interrupted, printing the base URL (for a benchmark in another process)."""
    with FeedServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
