"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server import FeedServer


@pytest.fixture(scope="session")
def feed_server_session() -> Iterator[FeedServer]:
    """The HTTP server on 127.0.0.1, started once for the whole session."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def feed_server(feed_server_session: FeedServer) -> Iterator[FeedServer]:
    """The session's HTTP server with no routes, counts or requests left from other tests."""
    feed_server_session.reset()
    yield feed_server_session
    errors = list(feed_server_session.errors)
    feed_server_session.reset()
    assert not errors, "the test server's handlers failed:\n" + "\n".join(errors)


# Fixtures for the store (SQLite and the local PostgreSQL) and for SMTP (aiosmtpd).
from smtp import smtp_server, smtp_session  # noqa: E402, F401
from stores import engine, store_url  # noqa: E402, F401
