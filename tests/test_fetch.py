"""The fetcher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import re
import socket
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from server import (
    SHARED,
    FeedServer,
    Reply,
    delayed,
    endless,
    gzip_bomb,
    gzipped,
    redirect,
    static,
    trickle,
)

from ingest.errors import FeedGone, FetchError, HostNotFound
from ingest.fetch import ACCEPT, Fetcher, fetch_one
from ingest.models import Fetched, PollSettings, Validators

SETTINGS = PollSettings(
    connect_timeout=2.0,
    read_timeout=2.0,
    timeout=5.0,
    max_bytes=64 * 1024,
    max_redirects=3,
    user_agent="Broadsheet-test/1.0 (+https://example.org/broadsheet)",
    allow_private=True,  # the test server listens on 127.0.0.1
)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
COMPRESSION = SHARED / "corpus" / "feedparser" / "tests" / "compression"


def fetch(url: str, validators: Validators = Validators(), **changes: object) -> Fetched:
    """fetch_one with the test settings, some of them changed."""
    return fetch_one(url, replace(SETTINGS, **changes), validators)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a plain fetch and what it sends -----------------------------------------------------------


def test_a_feed_comes_with_its_validators_and_body_hash(feed_server: FeedServer) -> None:
    fetched = fetch(feed_server.gen_url(1))
    assert fetched.status == 200
    assert fetched.content is not None and b"Generated feed 1" in fetched.content
    assert fetched.url == feed_server.gen_url(1)
    assert fetched.validators == Validators(
        etag='"gen-1-0-5"',
        last_modified="Tue, 14 Nov 2023 22:13:20 GMT",
        body_hash=hashlib.sha256(fetched.content).hexdigest(),
    )
    assert fetched.headers["content-type"] == "application/rss+xml"
    assert fetched.permanent_url is None and fetched.min_interval is None


def test_requests_are_identified_and_prefer_feeds(feed_server: FeedServer) -> None:
    fetch(feed_server.gen_url(1))
    (request,) = feed_server.requests
    assert request.headers["user-agent"] == SETTINGS.user_agent
    assert request.headers["accept"] == ACCEPT
    assert request.headers["accept"].startswith("application/rss+xml")
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in request.headers


def test_the_same_body_gives_the_same_hash(feed_server: FeedServer) -> None:
    first, second = fetch(feed_server.gen_url(2)), fetch(feed_server.gen_url(2))
    feed_server.gen_revision = 1
    changed = fetch(feed_server.gen_url(2))
    assert first.validators.body_hash == second.validators.body_hash
    assert changed.validators.body_hash != first.validators.body_hash


# -- conditional GET ---------------------------------------------------------------------------


def test_not_modified_keeps_the_validators_and_has_no_content(feed_server: FeedServer) -> None:
    first = fetch(feed_server.gen_url(3))
    second = fetch(feed_server.gen_url(3), first.validators)
    assert second.status == 304 and second.not_modified and second.content is None
    assert second.validators == first.validators
    sent = feed_server.requests[-1].headers
    assert sent["if-none-match"] == first.validators.etag
    assert sent["if-modified-since"] == first.validators.last_modified


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [('"only-etag"', None), (None, "Mon, 06 Jan 2025 10:00:00 GMT")],
    ids=["etag", "last-modified"],
)
def test_one_validator_is_enough(
    feed_server: FeedServer, etag: str | None, last_modified: str | None
) -> None:
    url = feed_server.route("/one.xml", body=RSS, etag=etag, last_modified=last_modified)
    first = fetch(url)
    assert (first.validators.etag, first.validators.last_modified) == (etag, last_modified)
    assert fetch(url, first.validators).not_modified


def test_a_changed_feed_answers_200_with_new_validators(feed_server: FeedServer) -> None:
    first = fetch(feed_server.gen_url(4))
    feed_server.gen_revision = 7
    second = fetch(feed_server.gen_url(4), first.validators)
    assert second.status == 200 and second.content is not None
    assert second.validators.etag == '"gen-4-7-5"'


def test_a_304_may_bring_new_validators(feed_server: FeedServer) -> None:
    url = feed_server.route("/v.xml", lambda request: Reply(304, {"ETag": '"v2"'}))
    old = Validators(etag='"v1"', last_modified="Mon, 06 Jan 2025 10:00:00 GMT", body_hash="abc")
    fetched = fetch(url, old)
    assert fetched.validators == Validators('"v2"', old.last_modified, "abc")


# -- politeness: Retry-After and caching -------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds(feed_server: FeedServer, status: int) -> None:
    url = feed_server.route("/busy.xml", status=status, headers={"Retry-After": "120"})
    with pytest.raises(FetchError, match=rf"^HTTP {status} .*wait 120 s") as caught:
        fetch(url)
    assert caught.value.retry_after == 120.0


def test_retry_after_as_an_http_date(feed_server: FeedServer) -> None:
    def handler(request: object) -> Reply:
        date = formatdate(1_800_000_000, usegmt=True)
        later = formatdate(1_800_000_000 + 3600, usegmt=True)
        return Reply(503, {"Date": date, "Retry-After": later})

    with pytest.raises(FetchError, match="HTTP 503 Service Unavailable") as caught:
        fetch(feed_server.route("/later.xml", handler))
    assert caught.value.retry_after == 3600.0  # against the server's own clock


def test_429_without_retry_after(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError, match="HTTP 429 Too Many Requests") as caught:
        fetch(feed_server.route("/busy.xml", status=429))
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "public, max-age=600"}, 600.0),
        ({"Cache-Control": "max-age=31536000"}, 7200.0),  # capped by max_cache_interval
        ({"Cache-Control": "no-cache, max-age=600"}, None),
        ({"Cache-Control": "max-age=600", "Age": "100"}, 500.0),
        ({"Expires": formatdate(1_800_000_900, usegmt=True)}, 900.0),
        ({"Expires": "0"}, None),
    ],
)
def test_cache_lifetime_becomes_min_interval(
    feed_server: FeedServer, headers: dict[str, str], expected: float | None
) -> None:
    headers = {"Date": formatdate(1_800_000_000, usegmt=True)} | headers
    url = feed_server.route("/cached.xml", body=RSS, headers=headers, etag='"c"')
    assert fetch(url, max_cache_interval=7200.0).min_interval == expected
    assert fetch(url, Validators(etag='"c"'), max_cache_interval=7200.0).min_interval == expected


# -- redirects ---------------------------------------------------------------------------------


def test_permanent_redirects_give_a_permanent_url(feed_server: FeedServer) -> None:
    feed_server.route("/a.xml", redirect("/b.xml", 301))
    feed_server.route("/b.xml", redirect(feed_server.gen_url(5), 308))
    fetched = fetch(feed_server.url("/a.xml"))
    assert fetched.status == 200 and fetched.content is not None
    assert fetched.url == fetched.permanent_url == feed_server.gen_url(5)


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_a_temporary_hop_means_no_permanent_url(feed_server: FeedServer, temporary: int) -> None:
    feed_server.route("/a.xml", redirect("/b.xml", 301))
    feed_server.route("/b.xml", redirect(feed_server.gen_url(6), temporary))
    fetched = fetch(feed_server.url("/a.xml"))
    assert fetched.url == feed_server.gen_url(6)
    assert fetched.permanent_url is None


def test_redirects_in_the_corpus(feed_server: FeedServer) -> None:
    base = feed_server.url("/corpus/feedparser/tests/http")
    moved = fetch(f"{base}/http_status_301.xml")
    assert moved.permanent_url == f"{base}/target.xml"
    assert fetch(f"{base}/http_redirect_to_304.xml").not_modified


def test_too_many_redirects(feed_server: FeedServer) -> None:
    for n in range(5):
        feed_server.route(f"/r{n}", redirect(f"/r{n + 1}", 302))
    with pytest.raises(FetchError, match=r"more than 3 redirects \(poll.max_redirects\)"):
        fetch(feed_server.url("/r0"))
    assert feed_server.hits("/r3") == 1 and feed_server.hits("/r4") == 0


def test_a_redirect_loop_ends(feed_server: FeedServer) -> None:
    feed_server.route("/ping", redirect("/pong", 301))
    feed_server.route("/pong", redirect("/ping", 301))
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(feed_server.url("/ping"))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "HTTP 302 Found without a Location header"),
        ({"Location": "ftp://example.com/feed"}, "only http and https"),
    ],
)
def test_broken_redirects(feed_server: FeedServer, headers: dict[str, str], message: str) -> None:
    url = feed_server.route("/odd", lambda request: Reply(302, headers))
    with pytest.raises(FetchError, match=message):
        fetch(url)


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("http://xn--/feed", "Malformed A-label"),
        ("http://xn--zz.com/feed", "Invalid A-label"),
        ("//xn--a/feed", "not allowed"),
        ("http://127.0.0.1:99999/feed", "port 99999 is out of range (1 to 65535)"),
        ("http://localhost:0/feed", "port 0 is out of range (1 to 65535)"),
        ("https://:443/feed", "it has no host name"),
        ("http:///feed", "it has no host name"),
        ("http://a..b/feed", "'a..b' is not a valid host name"),
        ("http://exa mple.com/feed", "'exa%20mple.com' is not a valid host name"),
        ("http://[::1/feed", "Invalid port"),
        ("gopher://example.com/feed", "only http and https feeds are supported"),
        ("javascript:alert(1)", "only http and https feeds are supported"),
    ],
)
def test_a_redirect_to_a_bad_url_names_it(
    feed_server: FeedServer, location: str, problem: str
) -> None:
    url = feed_server.route("/bad-hop", lambda request: Reply(301, {"Location": location}))
    with pytest.raises(FetchError) as caught:
        fetch(url)
    assert type(caught.value) is FetchError
    assert str(caught.value).startswith(f"HTTP 301 Moved Permanently to {location.strip()!r}") or (
        str(caught.value).startswith(f"HTTP 301 Moved Permanently to an invalid URL {location!r}")
    )
    assert problem in str(caught.value)
    assert [r.path for r in feed_server.requests] == ["/bad-hop"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://xn--/feed", "Malformed A-label"),
        ("http://127.0.0.1:99999/feed", "port 99999 is out of range"),
        ("http://127.0.0.1:0/feed", "port 0 is out of range"),
        ("http://a..b/feed", "'a..b' is not a valid host name"),
        ("https://:443/feed", "it has no host name"),
    ],
)
def test_a_feed_url_that_cannot_be_fetched_says_why(url: str, problem: str) -> None:
    with pytest.raises(FetchError, match=f"^not a valid URL: {re.escape(repr(url))}") as caught:
        fetch(url)
    assert problem in str(caught.value)


# -- HTTP errors -------------------------------------------------------------------------------


def test_410_gone_disables(feed_server: FeedServer) -> None:
    with pytest.raises(FeedGone, match=r"^HTTP 410 Gone: the server says this feed was removed"):
        fetch(feed_server.route("/gone.xml", status=410))


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "HTTP 404 Not Found"),
        (403, "HTTP 403 Forbidden"),
        (500, "HTTP 500 Internal Server Error"),
        (502, "HTTP 502 Bad Gateway"),
        (300, "HTTP 300 Multiple Choices"),
    ],
)
def test_http_errors_read_well(feed_server: FeedServer, status: int, message: str) -> None:
    with pytest.raises(FetchError, match=f"^{message}") as caught:
        fetch(feed_server.route("/error.xml", status=status, body=b"<html>oops</html>"))
    assert not isinstance(caught.value, FeedGone)


def test_missing_corpus_file_is_a_404(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404 Not Found"):
        fetch(feed_server.url("/corpus/no/such/file.xml"))


# -- network errors ----------------------------------------------------------------------------


def test_connection_refused() -> None:
    port = closed_port()
    with pytest.raises(FetchError, match=f"^connection refused by 127.0.0.1:{port}") as caught:
        fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_tls_errors_are_named(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError, match=f"^TLS handshake with 127.0.0.1:{feed_server.port}"):
        fetch(feed_server.url("/feed.xml").replace("http://", "https://"))


def test_dns_failures_are_named_with_what_to_check() -> None:
    # .invalid never resolves (RFC 6761), with or without a network.
    with pytest.raises(
        HostNotFound, match=r"^DNS lookup failed for feeds\.broadsheet\.invalid "
    ) as caught:
        fetch("https://feeds.broadsheet.invalid/rss", connect_timeout=30.0, timeout=60.0)
    assert str(caught.value).endswith(
        ": check the host name in the feed's URL, and that this machine can resolve names"
    )


def test_a_connection_cut_mid_body(feed_server: FeedServer) -> None:
    cut = Reply(200, {"Content-Length": "1000"}, iter([b"<rss>"]), close=True)
    with pytest.raises(FetchError, match=r"^127\.0\.0\.1 broke the connection"):
        fetch(feed_server.route("/cut.xml", lambda request: cut))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/feed.xml", "file:///etc/passwd", "example.com/feed", "feed://x/y"]
)
def test_only_http_and_https(feed_server: FeedServer, url: str) -> None:
    with pytest.raises(FetchError, match=r"^only http and https feeds are supported"):
        fetch(url)
    assert feed_server.requests == []


# -- limits ------------------------------------------------------------------------------------


def test_a_trickling_server_cannot_hold_a_fetch(feed_server: FeedServer) -> None:
    url = feed_server.route("/slow.xml", trickle(RSS * 100, every=0.05))
    with pytest.raises(FetchError, match=r"^timed out after 0.5 s \(poll.timeout"):
        fetch(url, timeout=0.5)


def test_a_silent_server_hits_the_read_timeout(feed_server: FeedServer) -> None:
    url = feed_server.route("/silent.xml", delayed(static(RSS), 3.0))
    with pytest.raises(FetchError, match=r"^timed out after 0.3 s waiting for 127.0.0.1"):
        fetch(url, read_timeout=0.3)


def test_an_announced_oversized_body_is_refused_unread(feed_server: FeedServer) -> None:
    url = feed_server.route("/big.xml", body=b"x" * (64 * 1024 + 1))
    with pytest.raises(FetchError, match=r"^response larger than 64 KiB \(poll.max_bytes\)"):
        fetch(url)


def test_a_body_that_never_ends(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError, match=r"^response larger than 64 KiB \(poll.max_bytes\)"):
        fetch(feed_server.route("/endless.xml", endless()))


def test_a_body_exactly_at_the_limit_is_fine(feed_server: FeedServer) -> None:
    body = b"x" * (64 * 1024)
    assert fetch(feed_server.route("/full.xml", gzipped(body))).content == body


def test_gzip_bodies_are_decoded(feed_server: FeedServer) -> None:
    url = feed_server.route("/gz.xml", gzipped(RSS * 50))
    fetched = fetch(url)
    assert fetched.content == RSS * 50
    assert fetched.validators.body_hash == hashlib.sha256(RSS * 50).hexdigest()
    assert "content-encoding" not in fetched.headers


def test_several_gzip_members_make_one_body(feed_server: FeedServer) -> None:
    body = gzip.compress(b"<rss>") + gzip.compress(b"</rss>")
    url = feed_server.route("/two.xml", body=body, headers={"Content-Encoding": "gzip"})
    assert fetch(url).content == b"<rss></rss>"


def test_a_gzip_bomb_stops_at_the_limit(feed_server: FeedServer) -> None:
    url = feed_server.route("/bomb.xml", gzip_bomb())
    with pytest.raises(FetchError, match=r"^response larger than 64 KiB once decompressed"):
        fetch(url)


@pytest.mark.parametrize(
    "name",
    [
        "gzip.gz",
        "gzip-not-compressed.gz",
        "deflate.z",
        "deflate-no-headers.z",
        "deflate-not-compressed.z",
    ],
)
def test_compressed_corpus_files(feed_server: FeedServer, name: str) -> None:
    fetched = fetch(feed_server.url(f"/corpus/feedparser/tests/compression/{name}"))
    assert fetched.content is not None and fetched.content.startswith(b"<feed")


def test_corrupt_gzip(feed_server: FeedServer) -> None:
    url = feed_server.url("/corpus/feedparser/tests/compression/gzip-struct-error.gz")
    with pytest.raises(FetchError, match=r"^the gzip body is corrupt"):
        fetch(url)


def test_unknown_encodings_are_refused(feed_server: FeedServer) -> None:
    url = feed_server.route("/br.xml", body=RSS, headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="only gzip and deflate"):
        fetch(url)


# -- concurrency -------------------------------------------------------------------------------


def fetch_all(urls: list[str], settings: PollSettings) -> list[Fetched]:
    """Fetch every URL at once through one Fetcher."""

    async def run() -> list[Fetched]:
        async with Fetcher(settings) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(url) for url in urls))

    return asyncio.run(run())


def test_the_per_host_limit_holds(feed_server: FeedServer) -> None:
    feed_server.route("/slow.xml", delayed(static(RSS), 0.2))
    urls = [feed_server.url("/slow.xml", host) for host in ("127.0.0.1", "localhost")] * 6
    settings = replace(SETTINGS, per_host=2, concurrency=3)
    assert all(f.status == 200 for f in fetch_all(urls, settings))
    assert feed_server.max_in_flight("127.0.0.1") == 2  # the first three start together
    assert 1 <= feed_server.max_in_flight("localhost") <= 2
    assert feed_server.max_in_flight() == 3


def test_the_overall_limit_holds(feed_server: FeedServer) -> None:
    feed_server.route("/slow.xml", delayed(static(RSS), 0.1))
    settings = replace(SETTINGS, per_host=10, concurrency=4)
    fetch_all([feed_server.url("/slow.xml")] * 12, settings)
    assert feed_server.max_in_flight() == 4


def test_a_round_fetches_each_feed_once(feed_server: FeedServer) -> None:
    urls = [feed_server.gen_url(n) for n in range(60)]
    settings = replace(SETTINGS, per_host=8, concurrency=8)
    first = fetch_all(urls, settings)

    async def again() -> list[Fetched]:
        async with Fetcher(settings) as fetcher:
            pending = (fetcher.fetch(f.url, f.validators) for f in first)
            return await asyncio.gather(*pending)

    assert all(f.not_modified for f in asyncio.run(again()))
    assert feed_server.counts == {f"/gen/{n}.xml": 2 for n in range(60)}


def test_a_proxy_from_the_environment(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", feed_server.base_url)
    fetched = fetch("http://feeds.example/gen/9.xml")
    assert fetched.content is not None and b"Generated feed 9" in fetched.content
    assert feed_server.requests[0].host == "feeds.example"


def test_many_hosts_through_a_proxy(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", feed_server.base_url)
    urls = [f"http://feeds{n}.example/gen/{n}.xml" for n in range(30)]  # more than the pools kept
    fetched = fetch_all(urls * 2, replace(SETTINGS, concurrency=2))
    assert all(f.status == 200 for f in fetched)
    assert {r.host for r in feed_server.requests} == {f"feeds{n}.example" for n in range(30)}


def test_shared_fixtures_are_served(feed_server: FeedServer) -> None:
    fetched = fetch(feed_server.url("/fixtures/newswire.rss"))
    assert fetched.content == Path(SHARED / "fixtures" / "newswire.rss").read_bytes()
    assert fetch(feed_server.url("/fixtures/newswire.rss"), fetched.validators).not_modified
    assert feed_server.hits("/fixtures/newswire.rss") == 2
