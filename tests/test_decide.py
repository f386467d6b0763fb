"""The pure polling decisions: next poll, backoff, Retry-After, Cache-Control, 410."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.decide import (
    FIRST_RETRY,
    after_failure,
    after_success,
    backoff,
    cache_lifetime,
    jitter_for,
    retry_after,
)
from ingest.errors import FeedGone, FetchError, ParseError
from ingest.models import FeedState, Fetched, PollSettings, Validators

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = PollSettings(interval=1800.0, max_backoff=86400.0, max_cache_interval=21600.0)


def feed(failures: int = 0, interval: float | None = None, feed_id: int = 7) -> FeedState:
    """A stored feed with ``failures`` failures in a row."""
    return FeedState(
        id=feed_id,
        url="https://example.com/feed",
        config_url="https://example.com/feed",
        interval=interval,
        consecutive_failures=failures,
    )


def fetched(min_interval: float | None = None, content: bytes | None = b"<rss/>") -> Fetched:
    """A successful fetch (``content=None`` is a 304)."""
    return Fetched(
        url="https://example.com/feed",
        status=200 if content is not None else 304,
        headers={},
        content=content,
        validators=Validators(),
        min_interval=min_interval,
    )


def wait_of(decision_poll: datetime) -> float:
    """Seconds from NOW to the next poll."""
    return (decision_poll - NOW).total_seconds()


# -- success -----------------------------------------------------------------------------------


def test_success_waits_the_default_interval_and_clears_failures() -> None:
    decision = after_success(feed(failures=4), fetched(), NOW, SETTINGS)
    assert decision.next_poll == NOW + timedelta(seconds=1800)
    assert (decision.consecutive_failures, decision.last_error, decision.disable) == (
        0,
        None,
        False,
    )
    assert decision.disabled_reason is None


def test_not_modified_is_a_success() -> None:
    decision = after_success(feed(failures=2), fetched(content=None), NOW, SETTINGS)
    assert wait_of(decision.next_poll) == 1800
    assert decision.consecutive_failures == 0


def test_the_feeds_own_interval_wins_over_the_default() -> None:
    assert wait_of(after_success(feed(interval=600), fetched(), NOW, SETTINGS).next_poll) == 600


@pytest.mark.parametrize(
    ("min_interval", "expected"),
    [(None, 1800), (60, 1800), (3600, 3600), (21600, 21600), (365 * 86400, 21600)],
)
def test_the_server_may_ask_for_longer_but_never_weeks(
    min_interval: float | None, expected: float
) -> None:
    decision = after_success(feed(), fetched(min_interval), NOW, SETTINGS)
    assert wait_of(decision.next_poll) == expected


def test_next_poll_is_aware_utc_even_from_another_zone_or_a_naive_now() -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert after_success(feed(), fetched(), paris, SETTINGS).next_poll.tzinfo is UTC
    naive = after_success(feed(), fetched(), NOW.replace(tzinfo=None), SETTINGS).next_poll
    assert naive == NOW + timedelta(seconds=1800) and naive.tzinfo is UTC


# -- failure -----------------------------------------------------------------------------------


def test_failures_double_the_wait_from_the_interval() -> None:
    waits = []
    state = feed()
    for _ in range(5):
        decision = after_failure(state, FetchError("HTTP 500"), NOW, SETTINGS, jitter=0.0)
        waits.append(wait_of(decision.next_poll))
        state = feed(failures=decision.consecutive_failures)
    assert waits == [1800, 3600, 7200, 14400, 28800]
    assert state.consecutive_failures == 5


def test_backoff_is_capped_and_never_gives_up() -> None:
    for failures in (6, 7, 50, 10_000):
        decision = after_failure(feed(failures), FetchError("x"), NOW, SETTINGS, jitter=0.0)
        assert wait_of(decision.next_poll) == 86400
        assert decision.consecutive_failures == failures + 1


def test_a_short_interval_still_waits_a_minute_after_a_failure() -> None:
    decision = after_failure(feed(interval=5), FetchError("x"), NOW, SETTINGS, jitter=0.0)
    assert wait_of(decision.next_poll) == FIRST_RETRY


def test_jitter_shortens_the_wait_by_up_to_a_fifth() -> None:
    decision = after_failure(feed(), FetchError("x"), NOW, SETTINGS, jitter=0.5)
    assert wait_of(decision.next_poll) == 1800 * 0.9


def test_jitter_is_deterministic_per_feed_and_failure_count() -> None:
    one = after_failure(feed(feed_id=1), FetchError("x"), NOW, SETTINGS)
    assert one == after_failure(feed(feed_id=1), FetchError("x"), NOW, SETTINGS)
    spread = {jitter_for(feed_id, 1) for feed_id in range(100)}
    assert len(spread) == 100 and all(0 <= j < 1 for j in spread)


def test_the_error_message_is_kept() -> None:
    error = FetchError("connection refused by example.com:443")
    decision = after_failure(feed(), error, NOW, SETTINGS)
    assert decision.last_error == "connection refused by example.com:443"
    assert not decision.disable


def test_parse_errors_back_off_too() -> None:
    decision = after_failure(feed(1), ParseError("not a feed: an HTML page"), NOW, SETTINGS)
    assert decision.consecutive_failures == 2
    assert decision.last_error == "not a feed: an HTML page"


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(7200.0, 7200.0), (60.0, 1800.0), (10 * 86400.0, 86400.0)],
    ids=["longer", "shorter", "capped"],
)
def test_retry_after_is_a_minimum(retry: float, expected: float) -> None:
    error = FetchError("HTTP 429 Too Many Requests", retry_after=retry)
    decision = after_failure(feed(), error, NOW, SETTINGS, jitter=0.0)
    assert wait_of(decision.next_poll) == expected


def test_gone_disables_with_the_reason() -> None:
    gone = FeedGone("HTTP 410 Gone: the server says this feed was removed")
    decision = after_failure(feed(), gone, NOW, SETTINGS)
    assert decision.disable
    assert decision.disabled_reason == decision.last_error == str(gone)


@given(
    failures=st.integers(min_value=0, max_value=10_000),
    interval=st.floats(min_value=1, max_value=7 * 86400),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_backoff_stays_within_bounds(failures: int, interval: float, jitter: float) -> None:
    wait = backoff(failures, interval, SETTINGS, jitter)
    assert 0.8 * min(max(interval, FIRST_RETRY), SETTINGS.max_backoff) <= wait + 1e-6
    assert wait <= SETTINGS.max_backoff
    assert backoff(failures + 1, interval, SETTINGS, 0.0) >= backoff(
        failures, interval, SETTINGS, 0.0
    )


# -- reading the server's word -----------------------------------------------------------------

DATE = formatdate(1_800_000_000, usegmt=True)
LATER = formatdate(1_800_000_000 + 600, usegmt=True)
AT = datetime.fromtimestamp(1_800_000_000, UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "120"}, 120.0),
        ({"retry-after": " 5 "}, 5.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": LATER}, 600.0),
        ({"retry-after": LATER, "date": formatdate(1_800_000_000 + 500, usegmt=True)}, 100.0),
        ({"retry-after": DATE, "date": LATER}, 0.0),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, AT) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"cache-control": "max-age=300"}, 300.0),
        ({"cache-control": 'public, max-age="300"'}, 300.0),
        ({"cache-control": "max-age=300, no-store"}, None),
        ({"cache-control": "max-age=0"}, None),
        ({"cache-control": "max-age=forever"}, None),
        ({"cache-control": "max-age=300", "age": "299"}, 1.0),
        ({"cache-control": "max-age=999999"}, 3600.0),
        ({"expires": LATER}, 600.0),
        ({"expires": LATER, "date": LATER}, None),
        ({"expires": LATER, "cache-control": "max-age=60"}, 60.0),
        ({"expires": "-1"}, None),
    ],
)
def test_cache_lifetime(headers: dict[str, str], expected: float | None) -> None:
    assert cache_lifetime(headers, AT, cap=3600.0) == expected
