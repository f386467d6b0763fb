"""Pure decisions after a fetch: when to poll a feed next and what to record about its health.

Nothing here does I/O or reads the clock: ``now`` is passed in. The policy:

- **Success** (a body, or 304 Not Modified): the failure count goes back to 0 and the error is
  cleared. The next poll is ``now + max(interval, min_interval)``, where ``interval`` is the
  feed's own (else ``poll.interval``) and ``min_interval`` is how long the server said its answer
  stays fresh (Cache-Control max-age, else Expires), capped at ``poll.max_cache_interval`` (a day
  by default), so a server asking for a year does not silence a feed for weeks. The feed's own
  word is a minimum too, under the same cap: RSS 2.0 ``<ttl>`` (minutes) and the RSS 1.0
  syndication module's ``sy:updatePeriod`` / ``sy:updateFrequency`` ("hourly", 2: every half
  hour). It is read from each parsed document and kept for the polls that parse nothing (304).
- **Failure**: the failure count goes up by one and the message is kept for the admin. The wait
  doubles with each failure in a row, starting from the feed's interval (at least a minute):
  interval, 2x, 4x, ... up to ``poll.max_backoff`` (a day by default). Jitter then shortens it
  by up to a fifth, so feeds that failed together (a host down) do not all come back together.
  We never give up: a broken feed is still tried about once per ``max_backoff``.
- **Retry-After** (429, 503) is a minimum for that wait, also capped at ``max_backoff``.
- **410 Gone** disables the feed, its message becoming the reason.

The jitter is a number in [0, 1) derived from the feed's id and its failure count, so the same
inputs always give the same decision; tests may pass their own.

Also here, because they too are the publisher's word on when to come back: ``retry_after`` and
``cache_lifetime`` read those headers into seconds, ``declared_interval`` a feed's own fields.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from ingest.errors import FeedError, FeedGone, FetchError
from ingest.models import FeedState, Fetched, ParsedFeed, PollSettings

FIRST_RETRY = 60.0  # seconds: the shortest wait after a failure
JITTER = 0.2  # a failed feed's wait is shortened by up to this fraction
UPDATE_PERIODS = {  # sy:updatePeriod, in seconds (a month and a year rounded; the cap is lower)
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}


@dataclass(frozen=True)
class Decision:
    """What to store on a feed after a fetch, and when to poll it next."""

    next_poll: datetime  # aware, UTC
    consecutive_failures: int = 0
    last_error: str | None = None  # None after a success: the error is cleared
    disable: bool = False  # the server said 410 Gone
    declared_interval: float | None = None  # the feed's own minimum interval, to keep

    @property
    def disabled_reason(self) -> str | None:
        """Why the feed is disabled, when it is."""
        return self.last_error if self.disable else None


def interval_of(feed: FeedState, settings: PollSettings) -> float:
    """The feed's own polling interval in seconds, else the ``[poll]`` default."""
    return feed.interval if feed.interval is not None else settings.interval


def after_success(
    feed: FeedState,
    fetched: Fetched,
    now: datetime,
    settings: PollSettings,
    parsed: ParsedFeed | None = None,
) -> Decision:
    """A body or a 304 arrived: reset the failures and wait the interval, or what the server or
    the feed asked for (capped); ``parsed`` is None when nothing was parsed (304, same body)."""
    declared = parsed.min_interval if parsed is not None else feed.declared_interval
    wait = interval_of(feed, settings)
    for asked in (fetched.min_interval, declared):
        if asked is not None:
            wait = max(wait, min(asked, settings.max_cache_interval))
    return Decision(next_poll=_utc(now) + timedelta(seconds=wait), declared_interval=declared)


def after_failure(
    feed: FeedState,
    error: FeedError,
    now: datetime,
    settings: PollSettings,
    *,
    jitter: float | None = None,
) -> Decision:
    """The fetch or the parse failed: back off exponentially, honour Retry-After, disable on 410."""
    failures = feed.consecutive_failures + 1
    if jitter is None:
        jitter = jitter_for(feed.id, failures)
    wait = backoff(failures, interval_of(feed, settings), settings, jitter)
    if isinstance(error, FetchError) and error.retry_after is not None:
        wait = max(wait, min(error.retry_after, settings.max_backoff))
    return Decision(
        next_poll=_utc(now) + timedelta(seconds=wait),
        consecutive_failures=failures,
        last_error=str(error) or type(error).__name__,
        disable=isinstance(error, FeedGone),
    )


def backoff(failures: int, interval: float, settings: PollSettings, jitter: float) -> float:
    """Seconds to wait after ``failures`` failures in a row (1 is the first), jitter in [0, 1)."""
    base = max(interval, FIRST_RETRY)
    doubled = base * 2.0 ** min(max(failures, 1) - 1, 32)  # the exponent is capped: no overflow
    return min(doubled, settings.max_backoff) * (1.0 - JITTER * min(max(jitter, 0.0), 1.0))


def jitter_for(feed_id: int, failures: int) -> float:
    """A number in [0, 1) that is the same for the same feed and failure count."""
    digest = hashlib.blake2b(f"{feed_id}:{failures}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, (when - _server_now(headers, now)).total_seconds())


def cache_lifetime(headers: Mapping[str, str], now: datetime, cap: float) -> float | None:
    """Seconds the response stays fresh (Cache-Control max-age, else Expires), capped at ``cap``."""
    directives = {}
    for part in (headers.get("cache-control") or "").split(","):
        name, _, value = part.partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return None
    lifetime: float | None = None
    if "max-age" in directives:
        try:
            lifetime = float(directives["max-age"])
        except ValueError:
            return None
    elif expires := headers.get("expires"):
        when = _http_date(expires)
        lifetime = (when - _server_now(headers, now)).total_seconds() if when else None
    if lifetime is None:
        return None
    with contextlib.suppress(ValueError):
        lifetime -= float(headers.get("age") or 0)
    return min(lifetime, cap) if lifetime > 0 else None


def declared_interval(
    ttl: str | None, update_period: str | None, update_frequency: str | None
) -> float | None:
    """Seconds a feed asks between polls: its ``<ttl>`` (minutes) or its ``sy:updatePeriod``
    divided by ``sy:updateFrequency`` (a day and 1 when left out), whichever is longer."""
    asked = []
    minutes = _positive(ttl)
    if minutes is not None:
        asked.append(minutes * 60.0)
    if update_period is not None or update_frequency is not None:
        period = UPDATE_PERIODS.get((update_period or "daily").strip().lower())
        frequency = _positive(update_frequency) if update_frequency is not None else 1.0
        if period is not None and frequency is not None:
            asked.append(period / frequency)
    return max(asked, default=None)


def _positive(value: str | None) -> float | None:
    """A positive, finite number written as text, else None."""
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if 0 < number < 1e12 else None


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _server_now(headers: Mapping[str, str], now: datetime) -> datetime:
    """The server's clock (its Date header) when it sent one, so that clock skew cancels out."""
    return _http_date(headers.get("date") or "") or _utc(now)


def _utc(now: datetime) -> datetime:
    """``now`` in UTC; a naive datetime is taken to be UTC already."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
