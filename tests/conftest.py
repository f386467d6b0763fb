"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from server import FeedServer
from suites import LONG_ENV, long_run


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--long``: the long versions of the fuzz, crash, fault and soak suites."""
    parser.addoption(
        "--long",
        action="store_true",
        help="run the long versions of the standing suites (also BROADSHEET_LONG=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Read --long before the suites' modules are imported (their sizes are set at import).

    The normal run replays the same examples of every property test (a red run is the code's,
    never the draw's); the long run draws new ones, which is where new failures are found.
    """
    if config.getoption("--long"):
        os.environ[LONG_ENV] = "1"
    settings.register_profile("repeatable", derandomize=True, database=None)
    settings.register_profile("exploring")
    settings.load_profile("exploring" if long_run() else "repeatable")
    config.addinivalue_line("markers", "long: runs only with --long (or BROADSHEET_LONG=1)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``long`` unless the long run was asked for."""
    if long_run():
        return
    skip = pytest.mark.skip(reason="a long suite: run with --long or BROADSHEET_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


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
