"""Pure: which feeds are in trouble, and which alerts are due to whom, given what was announced.

Nothing here does I/O or reads the clock: the feeds' states, the ledger's rows and ``now`` are
passed in. The rules:

- A feed is **failing** when its failures in a row began at least ``[alerts] after`` ago. It
  is announced once per distinct error in a failing spell: errors are compared after
  ``normalise`` (numbers, sizes, times and URLs' query strings folded, HTTP status codes kept),
  so the same failure with another timestamp or byte count is not a new error.
- A failing spell that was announced is announced once more when the feed works again
  (``recovered``, with how long it failed), counted from its first success after the spell.
- A feed is **quiet** (only with ``[alerts] quiet``) when it works but nothing new was first
  seen in it for that long; once per quiet spell (a spell is named by its newest entry), and
  once more when a new entry arrives (``active``).
- Only the config's enabled feeds count; a feed disabled by a 410 is failing like any other.

An alert's ``key`` names exactly what it announces (kind, feed, spell, error): the ledger holds
one row per (recipient, key), so nothing is announced twice to anyone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from digests.settings import AlertSettings

FAILING = "failing"
RECOVERED = "recovered"
QUIET = "quiet"
ACTIVE = "active"
KINDS = (FAILING, RECOVERED, QUIET, ACTIVE)  # the order a message lists them in


@dataclass(frozen=True)
class FeedCondition:
    """A configured feed's state, as the store knows it."""

    url: str  # as the config writes it
    title: str
    enabled: bool  # the config polls it
    failing_since: datetime | None  # when the failures in a row began; None while it works
    error: str | None  # the last error
    last_success: datetime | None
    newest_entry: datetime | None  # when its newest entry was first seen
    created_at: datetime  # when the store first knew it


@dataclass(frozen=True)
class Problem:
    """A feed in trouble now: failing longer than ``after``, or quiet longer than ``quiet``."""

    url: str
    title: str
    reason: str  # failing | quiet
    since: datetime
    detail: str  # the error ('' when quiet)
    last_success: datetime | None


@dataclass(frozen=True)
class Alert:
    """One thing to tell the admin about one feed."""

    kind: str  # failing | recovered | quiet | active
    feed_url: str
    feed_title: str
    since: datetime  # when the spell began
    detail: str = ""  # the error (failing)
    until: datetime | None = None  # when the spell ended (recovered, active)
    last_success: datetime | None = None

    @property
    def key(self) -> str:
        """What this alert announces, the same whenever the same thing is announced."""
        spell = f"{self.kind} {self.feed_url} {stamp(self.since)}"
        if self.kind != FAILING:
            return spell
        return f"{spell} {hashlib.sha256(normalise(self.detail).encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Announced:
    """A ledger row, as deciding reads it: one alert given (or being given) to one recipient."""

    recipient: str
    key: str
    kind: str
    feed_url: str
    since: datetime


def problems(
    feeds: Iterable[FeedCondition], settings: AlertSettings, now: datetime
) -> list[Problem]:
    """The feeds failing for longer than ``after`` and those quiet for longer than ``quiet``."""
    found = []
    for feed in feeds:
        if not feed.enabled:
            continue
        if feed.failing_since is not None:
            if (now - feed.failing_since).total_seconds() >= settings.after:
                found.append(_problem(feed, FAILING, feed.failing_since, feed.error or ""))
        elif (since := _quiet_since(feed, settings, now)) is not None:
            found.append(_problem(feed, QUIET, since, ""))
    return sorted(found, key=lambda problem: (problem.reason, problem.since, problem.url))


def due(
    feeds: Sequence[FeedCondition],
    announced: Iterable[Announced],
    settings: AlertSettings,
    now: datetime,
) -> dict[str, list[Alert]]:
    """The alerts each recipient (lower-cased address) has not been given yet, in message order."""
    current = [_alert(problem) for problem in problems(feeds, settings, now)]
    by_url = {feed.url: feed for feed in feeds}
    given: dict[str, list[Announced]] = {}
    for row in announced:
        given.setdefault(row.recipient, []).append(row)
    found: dict[str, list[Alert]] = {}
    for recipient in (address.lower() for address in settings.email):
        rows = given.get(recipient, [])
        keys = {row.key for row in rows}
        fresh = [alert for alert in current if alert.key not in keys]
        fresh += [alert for alert in _endings(rows, by_url, now) if alert.key not in keys]
        found[recipient] = ordered(fresh)
    return found


def ordered(alerts: Iterable[Alert]) -> list[Alert]:
    """Alerts in the order a message lists them: by kind, then oldest spell first."""
    return sorted(alerts, key=lambda a: (KINDS.index(a.kind), a.since, a.feed_url, a.key))


def _endings(
    rows: Sequence[Announced], feeds: dict[str, FeedCondition], now: datetime
) -> list[Alert]:
    """Recoveries of the announced failing spells, and new entries after announced quiet ones."""
    endings: dict[str, Alert] = {}
    for row in rows:
        feed = feeds.get(row.feed_url)
        if feed is None or not feed.enabled:
            continue  # removed or turned off: nobody waits for its news any more
        ending = None
        if row.kind == FAILING:
            ending = _recovery(feed, row.since)
        elif row.kind == QUIET:
            ending = _activity(feed, row.since)
        if ending is not None:
            endings[ending.key] = ending
    return list(endings.values())


def _recovery(feed: FeedCondition, since: datetime) -> Alert | None:
    """The feed worked again after the spell that began at ``since``; None while it goes on."""
    if feed.failing_since is not None and stamp(feed.failing_since) == stamp(since):
        return None
    if feed.last_success is None or feed.last_success < since:
        return None  # reset by hand, not yet working: no news to give
    return Alert(RECOVERED, feed.url, feed.title, since, until=feed.last_success)


def _activity(feed: FeedCondition, since: datetime) -> Alert | None:
    """A new entry came after the quiet spell that began at ``since``; None while it goes on."""
    if feed.newest_entry is None or stamp(feed.newest_entry) <= stamp(since):
        return None
    return Alert(ACTIVE, feed.url, feed.title, since, until=feed.newest_entry)


def _quiet_since(feed: FeedCondition, settings: AlertSettings, now: datetime) -> datetime | None:
    """Since when a working feed has been quiet, when that is longer than ``quiet``."""
    if settings.quiet is None or feed.last_success is None:
        return None
    since = feed.newest_entry or feed.created_at
    return since if (now - since).total_seconds() >= settings.quiet else None


def _problem(feed: FeedCondition, reason: str, since: datetime, detail: str) -> Problem:
    return Problem(feed.url, feed.title, reason, since, detail, feed.last_success)


def _alert(problem: Problem) -> Alert:
    fields = (problem.url, problem.title, problem.since, problem.detail)
    return Alert(problem.reason, *fields, last_success=problem.last_success)


def stamp(moment: datetime) -> str:
    """A moment to the second in UTC: how a spell is named (both databases keep it exactly)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_QUERY = re.compile(r"(https?://[^\s?#'\"<>]*)\?[^\s#'\"<>]*")
_STATUS = re.compile(r"(\bHTTP \d{3}\b)", re.IGNORECASE)  # the status is the failure: kept
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIMES = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d| ?UTC)?)?"
    rf"|(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d\d? {_MONTH} \d{{4}}(?: \d\d:\d\d(?::\d\d)?)?"
    r"(?: (?:GMT|UTC|[+-]\d{4}))?"
)
_SIZE = re.compile(r"\d[\d,.]*\s*(?:bytes?|[kKMGT]i?B)\b")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def normalise(error: str) -> str:
    """The error with what changes between two tries of the same failure folded away."""
    text = _QUERY.sub(r"\1?…", error)
    parts = _STATUS.split(text)  # odd items are the kept status codes
    folded = [part if index % 2 else _fold(part) for index, part in enumerate(parts)]
    return " ".join("".join(folded).split()).casefold()


def _fold(text: str) -> str:
    text = _TIMES.sub("<time>", text)
    text = _SIZE.sub("<size>", text)
    return _NUMBER.sub("#", text)
