"""HTTP statuses we do not take as a feed, in words: pure, a status and headers in, an error out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus

from ingest.decide import retry_after
from ingest.errors import FeedGone, FetchError

HINTS = {
    401: "the feed needs a login",
    403: "the server refuses access (it may block feed readers; check the URL in a browser)",
    404: "nothing at this URL any more; check the feed's address",
}


def status_error(status: int, headers: Mapping[str, str], now: datetime) -> FetchError:
    """The error for a status we do not accept as a feed (4xx, 5xx, odd 1xx/3xx)."""
    what = f"HTTP {status} {phrase(status)}"
    if status == 410:
        return FeedGone(
            f"{what}: the server says this feed was removed; it is disabled "
            "(re-enable it or remove it from the config)",
            status=status,
        )
    if status in (429, 503):
        wait = retry_after(headers, now)
        asks = f"the server asks us to wait {seconds(wait)} s" if wait is not None else ""
        hint = asks or ("the server is rate-limiting us" if status == 429 else "try again later")
        return FetchError(f"{what}: {hint}", retry_after=wait, status=status)
    hint = HINTS.get(status) or ("the server failed; it is retried later" if status >= 500 else "")
    return FetchError(f"{what}: {hint}" if hint else what, status=status)


def phrase(status: int) -> str:
    """The reason phrase of ``status`` ("Not Found"), or "(unknown status)"."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(unknown status)"


def seconds(value: float) -> str:
    """A number of seconds as written in messages: 30, 0.5."""
    return f"{value:g}"
