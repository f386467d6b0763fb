"""Fetch feeds over HTTP: conditional GET, limits, redirects and politeness.

With ``ingest/fetch_errors.py`` (httpx's errors in words), the only module that imports httpx. One ``Fetcher`` holds the connections of a poll round and
bounds how many fetches run at once, overall and per host. Every failure becomes a ``FetchError``
whose message says what happened in words an admin can act on; nothing from httpx escapes.

Bodies are read raw and decompressed here, so the size limit applies to what a body inflates to:
a gzip bomb stops at ``max_bytes`` without ever being inflated in memory.

Article pages (``fetch_article``, for feeds read in full) go through the same limits, redirects,
address checks and per-host politeness, unconditionally, asking for HTML, under their own size
limit and deadline (``poll.max_article_bytes``, ``poll.article_timeout``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import socket
import ssl
import urllib.request
from datetime import UTC, datetime
from types import TracebackType
from typing import NamedTuple

import httpcore
import httpx

from ingest.addresses import check_address, host_problem, is_ip
from ingest.connect import CheckedBackend
from ingest.decide import cache_lifetime
from ingest.errors import FetchError, HostNotFound, TooLarge
from ingest.fetch_errors import causes, describe_error
from ingest.inflate import Decoder, size_text
from ingest.models import Fetched, PollSettings, Validators
from ingest.statuses import phrase, seconds, status_error

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
DEFAULT_USER_AGENT = "Broadsheet (self-hosted feed reader)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_KEEPALIVE_EXPIRY = 5.0
_SHARD = 2  # connections per pool; an origin allowed more gets several pools
_DRAIN_LIMIT = 64 * 1024
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _Kind(NamedTuple):
    """What is fetched: a feed or an article page, with its headers, size limit and deadline."""

    headers: dict[str, str]
    max_bytes: int
    size_key: str  # the setting named when the body is too large
    timeout: float
    timeout_key: str


class _Answer(NamedTuple):
    """One HTTP exchange: the status, the headers and the decoded body (None when not read)."""

    url: httpx.URL
    status: int
    headers: httpx.Headers
    body: bytes | None


class Fetcher:
    """Fetches feeds with pooled connections; use it as ``async with Fetcher(settings) as f``."""

    def __init__(self, settings: PollSettings) -> None:
        self.settings = settings
        self._pools: _Pools | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        agent = settings.user_agent or DEFAULT_USER_AGENT
        headers = {"User-Agent": agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        self._feed = _Kind(
            headers, settings.max_bytes, "poll.max_bytes", settings.timeout, "poll.timeout"
        )
        self._article = _Kind(
            headers | {"Accept": ACCEPT_HTML},
            settings.max_article_bytes,
            "poll.max_article_bytes",
            settings.article_timeout,
            "poll.article_timeout",
        )
        read, connect = settings.read_timeout, settings.connect_timeout
        self._timeouts = httpx.Timeout(read, connect=connect, pool=settings.timeout).as_dict()

    async def __aenter__(self) -> Fetcher:
        self._pools = _Pools(self.settings)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pools is not None:
            await self._pools.aclose()
            self._pools = None

    async def fetch(self, url: str, validators: Validators = Validators()) -> Fetched:
        """GET ``url`` conditionally, following redirects; a 304 gives ``content=None``."""
        return await self._fetch(url, validators, self._feed)

    async def fetch_article(self, url: str) -> Fetched:
        """GET an article page, following redirects, under the article size limit and deadline."""
        return await self._fetch(url, Validators(), self._article)

    async def _fetch(self, url: str, validators: Validators, kind: _Kind) -> Fetched:
        target = _http_url(url)
        start = str(target)
        deadline: float | None = None
        permanent, hops = True, 0
        while True:
            answer, deadline = await self._exchange(target, validators, deadline, kind)
            if answer.status not in _REDIRECTS:
                moved = permanent and hops > 0 and str(answer.url) != start
                return _fetched(answer, validators, self.settings, moved)
            if hops == self.settings.max_redirects:
                raise FetchError(
                    f"more than {hops} redirects (poll.max_redirects); "
                    f"the last one pointed to {answer.headers.get('location')}"
                )
            permanent = permanent and answer.status in _PERMANENT
            target, hops = _redirect_target(answer), hops + 1

    async def _exchange(
        self, url: httpx.URL, validators: Validators, deadline: float | None, kind: _Kind
    ) -> tuple[_Answer, float]:
        """One request under the host and overall limits and the whole-fetch deadline."""
        pools = self._pools  # kept: a fetch still unwinding when the Fetcher closes gives back
        if pools is None:
            raise RuntimeError("use the Fetcher inside 'async with'")
        host = self._hosts.get(url.host)
        if host is None:
            host = self._hosts[url.host] = asyncio.Semaphore(self.settings.per_host)
        try:
            async with host, self._slots:
                key, transport = await pools.take(url)
                try:
                    if deadline is None:  # the whole-fetch clock starts once a slot is ours
                        deadline = asyncio.get_running_loop().time() + kind.timeout
                    async with asyncio.timeout_at(deadline):
                        return await self._request_twice(transport, url, validators, kind), deadline
                finally:
                    pools.give_back(key)
        except TimeoutError as exc:
            raise FetchError(
                f"timed out after {seconds(kind.timeout)} s "
                f"({kind.timeout_key}, the limit for a whole fetch)"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            message = describe_error(exc, url, self.settings)
            unresolved = any(isinstance(cause, socket.gaierror) for cause in causes(exc))
            raise (HostNotFound if unresolved else FetchError)(message) from exc

    async def _request_twice(
        self,
        transport: httpx.AsyncBaseTransport,
        url: httpx.URL,
        validators: Validators,
        kind: _Kind,
    ) -> _Answer:
        """A GET, sent once more on a fresh connection when the kept-alive one proves broken.

        A server that sent more body than its Content-Length said, or closed a kept-alive
        connection just as it was reused, leaves bytes or nothing where the next response should
        be: that failure belongs to the previous feed, so a GET (idempotent) gets one more try.
        The broken connection is closed by then, so the second try opens a new one.
        """
        try:
            return await self._request(transport, url, validators, kind)
        except httpx.RemoteProtocolError:
            return await self._request(transport, url, validators, kind)

    async def _request(
        self,
        transport: httpx.AsyncBaseTransport,
        url: httpx.URL,
        validators: Validators,
        kind: _Kind,
    ) -> _Answer:
        headers = kind.headers
        if validators.etag or validators.last_modified:
            conditions = {
                "If-None-Match": validators.etag,
                "If-Modified-Since": validators.last_modified,
            }
            headers = headers | {name: value for name, value in conditions.items() if value}
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self._timeouts})
        response = await transport.handle_async_request(request)
        try:
            status = response.status_code
            if status in _REDIRECTS or status == 304:
                await _drain(response)
                return _Answer(url, status, response.headers, None)
            if not 200 <= status < 300:
                raise status_error(status, response.headers, datetime.now(UTC))
            body = await _read_body(response, kind.max_bytes, kind.size_key)
            return _Answer(url, status, response.headers, body)
        finally:
            await response.aclose()


_Origin = tuple[str, str, int | None, int]  # scheme, host, port, shard


class _Pools:
    """Small connection pools per origin: ``per_host`` connections split into pools of two.

    httpx's pool scans all of its connections on every request, which costs milliseconds of CPU
    per request once it holds dozens; pools of two keep that scan short. Pools not in use are
    closed beyond ``concurrency`` of them, which bounds the idle connections kept open.
    """

    def __init__(self, settings: PollSettings) -> None:
        self._shards = -(-settings.per_host // _SHARD)
        self._limits = httpx.Limits(
            max_connections=min(settings.per_host, _SHARD),
            max_keepalive_connections=min(settings.per_host, _SHARD),
            keepalive_expiry=_KEEPALIVE_EXPIRY,
        )
        self._keep = max(settings.concurrency, 8)
        self._pools: dict[_Origin, httpx.AsyncHTTPTransport] = {}
        self._users: dict[_Origin, int] = {}
        self._tls: ssl.SSLContext | None = None  # one for every https pool
        self._plain: ssl.SSLContext | None = None  # one for every http transport, never used
        self._proxies = urllib.request.getproxies()
        self._allow_private = settings.allow_private
        self._backend = CheckedBackend(settings.allow_private)

    async def take(self, url: httpx.URL) -> tuple[_Origin, httpx.AsyncBaseTransport]:
        """The least busy pool for ``url``'s origin, marked in use until ``give_back``."""
        origin = (url.scheme, url.host, url.port)
        if self._shards == 1:  # per_host of 1 or 2: one pool per origin
            key: _Origin = (*origin, 0)
        else:
            shards = ((*origin, i) for i in range(self._shards))
            key = min(shards, key=lambda k: self._users.get(k, 0))
        pool = self._pools.pop(key, None)
        self._pools[key] = pool or self._open(url)  # the most recently used last
        self._users[key] = self._users.get(key, 0) + 1
        if pool is None:
            try:
                await self._close_unused()
            except BaseException:  # cancelled: the fetch never gets to give it back
                self.give_back(key)
                raise
        return key, self._pools[key]

    def give_back(self, key: _Origin) -> None:
        """The pool taken as ``key`` is no longer in use by that fetch."""
        self._users[key] -= 1

    def _open(self, url: httpx.URL) -> httpx.AsyncHTTPTransport:
        tls: ssl.SSLContext | bool = False  # plain http never uses it
        if url.scheme == "https":
            if self._tls is None:
                self._tls = httpx.create_ssl_context()  # loading the CA bundle takes tens of ms
            tls = self._tls
        proxy = self._proxies.get(url.scheme)
        if proxy and urllib.request.proxy_bypass(url.host):
            proxy = None
        if proxy and not proxy.startswith(("http://", "https://")):
            raise FetchError(f"the proxy {proxy} set in the environment is not http or https")
        if proxy:  # the proxy connects and is trusted; an address written in the URL is checked
            if is_ip(url.host):
                check_address(url.host, url.host, self._allow_private)
            return httpx.AsyncHTTPTransport(verify=tls, limits=self._limits, proxy=proxy)
        if self._plain is None:  # else httpx makes an unverified context per transport
            self._plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        transport = httpx.AsyncHTTPTransport(verify=tls or self._plain, limits=self._limits)
        transport._pool = httpcore.AsyncConnectionPool(  # the same pool, over checked connections
            ssl_context=tls if isinstance(tls, ssl.SSLContext) else None,
            max_connections=self._limits.max_connections,
            max_keepalive_connections=self._limits.max_keepalive_connections,
            keepalive_expiry=self._limits.keepalive_expiry,
            network_backend=self._backend,
        )
        return transport

    async def _close_unused(self) -> None:
        """Close the least recently used pools not in use, keeping ``concurrency`` of them."""
        unused = [key for key in self._pools if not self._users.get(key)][: -self._keep]
        victims = [self._pools.pop(key) for key in unused]
        for key in unused:
            self._users.pop(key, None)
        for pool in victims:  # all popped first: nobody can pick one up while we wait
            await pool.aclose()

    async def aclose(self) -> None:
        """Close every pool and its connections."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def fetch_one(url: str, settings: PollSettings, validators: Validators = Validators()) -> Fetched:
    """Fetch one URL from synchronous code (the CLI): runs a Fetcher in its own event loop."""

    async def run() -> Fetched:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(url, validators)

    return asyncio.run(run())


@functools.lru_cache(maxsize=4096)  # a worker fetches the same URLs every round
def _http_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:  # a bad IDNA label is a UnicodeError
        raise FetchError(f"not a valid URL: {url!r} ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        scheme = f"{parsed.scheme}:" if parsed.scheme else "a relative URL"
        raise FetchError(f"only http and https feeds are supported, not {scheme} ({url})")
    if problem := _url_problem(parsed):
        raise FetchError(f"not a valid URL: {url!r}: {problem}")
    return parsed


def _redirect_target(answer: _Answer) -> httpx.URL:
    location = (answer.headers.get("location") or "").strip()
    what = f"HTTP {answer.status} {phrase(answer.status)}"
    if not location:
        raise FetchError(f"{what} without a Location header: the server's redirect is broken")
    try:
        written = httpx.URL(location)
        target = written if written.scheme else answer.url.join(written)
    except (httpx.InvalidURL, ValueError) as exc:  # a bad IDNA label is a UnicodeError
        raise FetchError(f"{what} to an invalid URL {location!r} ({exc})") from exc
    if target.scheme not in ("http", "https"):
        raise FetchError(f"{what} to {location!r}: only http and https feeds are supported")
    if problem := _url_problem(target):
        raise FetchError(f"{what} to an invalid URL {location!r}: {problem}")
    return target


def _url_problem(url: httpx.URL) -> str | None:
    """Why an http(s) URL cannot be fetched (no host, a bad host name, a port out of range)."""
    if url.port is not None and not 1 <= url.port <= 65535:
        return f"port {url.port} is out of range (1 to 65535)"
    try:
        _ = url.host  # decodes the IDNA name, which fails on a malformed "xn--" label
    except ValueError as exc:  # UnicodeError, idna.IDNAError
        return f"its host name is not valid IDNA ({exc})"
    return host_problem(url.raw_host.decode("ascii", "replace"))


def _fetched(answer: _Answer, old: Validators, settings: PollSettings, moved: bool) -> Fetched:
    headers = {k: v for k, v in answer.headers.items() if k not in _DROPPED_HEADERS}
    body, etag, modified = answer.body, headers.get("etag"), headers.get("last-modified")
    if body is None:  # 304: what it did not repeat stays as it was
        validators = Validators(etag or old.etag, modified or old.last_modified, old.body_hash)
    else:
        validators = Validators(etag, modified, hashlib.sha256(body).hexdigest())
    final = str(answer.url)
    return Fetched(
        url=final,
        status=answer.status,
        headers=headers,
        content=answer.body,
        validators=validators,
        permanent_url=final if moved else None,
        min_interval=cache_lifetime(headers, datetime.now(UTC), settings.max_cache_interval),
    )


async def _drain(response: httpx.Response) -> None:
    """Read a short unused body to its end so that the connection can serve the next request."""
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > _DRAIN_LIMIT:
            return  # not worth reading: the connection is closed instead


async def _read_body(response: httpx.Response, limit: int, key: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"response larger than {size_text(limit)} ({key}): "
            f"the server announced {size_text(int(declared))}"
        )
    decoder = Decoder(response.headers.get("content-encoding", ""), limit, key)
    parts = [decoder.feed(chunk) async for chunk in response.aiter_raw()]
    parts.append(decoder.finish())
    return b"".join(parts)
