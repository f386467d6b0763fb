"""Feeds over https: the fetcher's own connections carry TLS and name bad certificates.

A real TLS server on 127.0.0.1 (a threaded HTTP server behind a self-signed certificate made with
openssl) serves feeds with validators. Trusted through ``SSL_CERT_FILE``, a first round fetches
and stores every feed and the next is all 304s; untrusted, each feed records the certificate
problem in words, and the round goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from server import FeedServer
from test_poll import health, poll_json, write_config
from tls import self_signed, server_context

FEEDS = ("newswire.rss", "harbor-times.atom", "no-guids.rss")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FeedServer, Path]]:
    """A feed server speaking https with a new self-signed certificate, and that certificate."""
    folder = tmp_path / "tls"
    folder.mkdir()
    cert, key = self_signed(folder)
    with FeedServer(tls=server_context(cert, key)) as server:
        yield server, cert


def test_feeds_over_https_are_fetched_then_answer_304(
    tmp_path: Path, tls_server: tuple[FeedServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    urls = [server.url(f"/fixtures/{name}") for name in FEEDS]
    assert all(url.startswith("https://127.0.0.1:") for url in urls)
    path = write_config(tmp_path, urls)
    first = poll_json(path)
    assert (first["fetched"], first["failed"], first["new_entries"]) == (3, 0, 8)
    second = poll_json(path, "--all")
    assert (second["not_modified"], second["failed"]) == (3, 0)
    rows = health(path)
    assert [rows[url]["last_error"] for url in urls] == [None, None, None]
    assert rows[urls[0]]["title"] == "Northwind Wire"


def test_an_untrusted_certificate_is_named_on_each_feed(
    tmp_path: Path, tls_server: tuple[FeedServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    urls = [server.url(f"/fixtures/{name}") for name in FEEDS]
    path = write_config(tmp_path, urls)
    report = poll_json(path)
    assert (report["fetched"], report["failed"]) == (0, 3)
    errors = [row["last_error"] for row in health(path).values()]
    assert all("TLS certificate of 127.0.0.1 is not valid" in error for error in errors), (
        json.dumps(errors)
    )
