"""Which alerts are due (pure): failing spells, distinct errors, recoveries, quiet spells; the message."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from digests.alert_deliver import batch_id
from digests.alert_render import render, span, subject
from digests.alerts import (
    ACTIVE,
    FAILING,
    QUIET,
    RECOVERED,
    Alert,
    Announced,
    FeedCondition,
    due,
    normalise,
    problems,
)
from digests.settings import AlertSettings, DigestSettings

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OPS = "ops@example.org"
SETTINGS = AlertSettings(email=("Ops@Example.org",), after=6 * 3600.0, quiet=14 * 86400.0)
WORKING = FeedCondition(
    url="https://news.example.org/feed.xml",
    title="Harbour News",
    enabled=True,
    failing_since=None,
    error=None,
    last_success=NOW - HOUR,
    newest_entry=NOW - 2 * HOUR,
    created_at=NOW - timedelta(days=90),
)
ERROR = "HTTP 500 Internal Server Error: the server failed; it is retried later"


def failing(hours: float, error: str = ERROR) -> FeedCondition:
    """WORKING, failing for ``hours`` with ``error`` (last success just before it began)."""
    began = NOW - timedelta(hours=hours)
    return replace(WORKING, failing_since=began, error=error, last_success=began - HOUR)


def given_to(alerts: list[Alert]) -> list[Announced]:
    """The ledger rows after ``alerts`` went to OPS."""
    return [Announced(OPS, a.key, a.kind, a.feed_url, a.since) for a in alerts]


def test_a_feed_failing_shorter_than_after_is_not_announced_and_longer_is_once() -> None:
    assert due([failing(5.9)], [], SETTINGS, NOW) == {OPS: []}
    (alert,) = due([failing(7)], [], SETTINGS, NOW)[OPS]
    assert (alert.kind, alert.detail, alert.since) == (FAILING, ERROR, NOW - 7 * HOUR)
    assert due([failing(7)], given_to([alert]), SETTINGS, NOW + HOUR) == {OPS: []}


def test_the_same_failure_with_other_numbers_is_no_new_alert_but_another_error_is() -> None:
    first = "HTTP 503 Service Unavailable: the server asks us to wait 120 s"
    (alert,) = due([failing(7, first)], [], SETTINGS, NOW)[OPS]
    same = "HTTP 503 Service Unavailable: the server asks us to wait 3600 s"
    assert due([failing(7, same)], given_to([alert]), SETTINGS, NOW) == {OPS: []}
    other = "HTTP 404 Not Found: nothing at this URL any more; check the feed's address"
    (second,) = due([failing(7, other)], given_to([alert]), SETTINGS, NOW)[OPS]
    assert second.detail == other and second.since == alert.since


def test_a_recovered_feed_is_announced_once_with_how_long_it_failed() -> None:
    (alert,) = due([failing(7)], [], SETTINGS, NOW)[OPS]
    back = replace(WORKING, last_success=NOW)
    (recovered,) = due([back], given_to([alert]), SETTINGS, NOW)[OPS]
    assert (recovered.kind, recovered.since, recovered.until) == (RECOVERED, alert.since, NOW)
    assert due([back], given_to([alert, recovered]), SETTINGS, NOW) == {OPS: []}


def test_no_recovery_is_announced_for_a_spell_nobody_was_told_of_nor_after_a_reset() -> None:
    assert due([WORKING], [], SETTINGS, NOW) == {OPS: []}
    (alert,) = due([failing(7)], [], SETTINGS, NOW)[OPS]
    reset = replace(WORKING, last_success=NOW - 8 * HOUR)  # errors cleared by hand, no success
    assert due([reset], given_to([alert]), SETTINGS, NOW) == {OPS: []}


def test_a_new_spell_after_an_announced_one_gives_its_recovery_and_then_its_own_alert() -> None:
    (alert,) = due([failing(30)], [], SETTINGS, NOW - 20 * HOUR)[OPS]
    again = replace(failing(7), last_success=NOW - 10 * HOUR)  # worked in between
    kinds = [a.kind for a in due([again], given_to([alert]), SETTINGS, NOW)[OPS]]
    assert kinds == [FAILING, RECOVERED]


def test_a_quiet_feed_is_announced_once_per_spell_and_once_when_it_has_news_again() -> None:
    quiet = replace(WORKING, newest_entry=NOW - timedelta(days=15))
    (alert,) = due([quiet], [], SETTINGS, NOW)[OPS]
    assert (alert.kind, alert.since) == (QUIET, NOW - timedelta(days=15))
    assert due([quiet], given_to([alert]), SETTINGS, NOW + 24 * HOUR) == {OPS: []}
    news = replace(WORKING, newest_entry=NOW)
    (active,) = due([news], given_to([alert]), SETTINGS, NOW)[OPS]
    assert (active.kind, active.until) == (ACTIVE, NOW)
    off = replace(SETTINGS, quiet=None)
    assert due([quiet], [], off, NOW) == {OPS: []}


def test_a_failing_feed_is_not_also_quiet_and_a_feed_turned_off_is_neither() -> None:
    old = replace(failing(7), newest_entry=NOW - timedelta(days=30))
    assert [p.reason for p in problems([old], SETTINGS, NOW)] == [FAILING]
    assert problems([replace(old, enabled=False)], SETTINGS, NOW) == []
    never = replace(WORKING, last_success=None, newest_entry=None)  # not polled yet
    assert problems([never], SETTINGS, NOW) == []


def test_every_recipient_is_told_what_they_were_not_told_yet() -> None:
    two = replace(SETTINGS, email=("ops@example.org", "ann@example.org"))
    (alert,) = due([failing(7)], [], two, NOW)[OPS]
    found = due([failing(7)], given_to([alert]), two, NOW)
    assert found[OPS] == [] and found["ann@example.org"] == [alert]


@given(st.text(max_size=60), st.integers(0, 10**9), st.integers(0, 10**9))
def test_normalising_folds_numbers_sizes_and_times_but_keeps_the_status(
    text: str, one: int, two: int
) -> None:
    def error(n: int) -> str:
        day = n % 9 + 1
        return f"HTTP 502 Bad Gateway after {n} bytes at 2026-03-0{day}T10:0{day}:00Z {text}"

    folded = normalise(error(one))
    assert folded == normalise(error(two))
    assert normalise(folded) == folded
    assert "http 502" in folded
    assert normalise("HTTP 404 Not Found") != normalise("HTTP 410 Gone")


def test_normalising_folds_sizes_query_strings_and_http_dates() -> None:
    a = "larger than 10 MB (read 10,485,761 bytes) from https://x.example/f?session=abc&t=1"
    b = "larger than 12.5 MB (read 13,107,201 bytes) from https://x.example/f?session=def&t=2"
    assert normalise(a) == normalise(b)
    assert normalise("expired Tue, 03 Mar 2026 10:00:00 GMT") == normalise(
        "expired Wed, 04 Mar 2026 11:30:00 GMT"
    )
    assert normalise("https://x.example/f?a=1") != normalise("https://y.example/f?a=1")


def test_the_message_lists_each_alert_in_a_line_a_person_reads() -> None:
    (fail,) = due([failing(7)], [], SETTINGS, NOW)[OPS]
    back = Alert(RECOVERED, "https://b.example/rss", "Valley Post", NOW - 7 * HOUR, until=NOW)
    rendered = render([back, fail], NOW, DigestSettings())
    assert rendered.subject == "The Broadsheet: 1 feed failing, 1 recovered"
    text = rendered.text
    assert (
        "- Harbour News: failing since Tue 3 Mar, 05:00 UTC (7 h): " + ERROR + "; "
        "last success Tue 3 Mar, 04:00 UTC"
    ) in text
    assert "- Valley Post recovered after 7 h (failing since Tue 3 Mar, 05:00 UTC)" in text
    assert text.index("Failing") < text.index("Recovered")
    assert "broadsheet feeds --failing" in text
    assert "<strong>Harbour News</strong>: failing since" in rendered.html
    assert 'href="https://b.example/rss"' in rendered.html


def test_durations_subjects_and_message_ids() -> None:
    assert [span(NOW, NOW - timedelta(minutes=m)) for m in (45, 90, 420, 1500, 2880)] == [
        "45 min",
        "1 h 30 min",
        "7 h",
        "1 d 1 h",
        "2 d",
    ]
    quiet = Alert(QUIET, "https://a.example", "A", NOW)
    assert subject([quiet, quiet], "News") == "News: 2 feeds quiet"
    first = batch_id(OPS, ["b", "a"], "example.org")
    assert first == batch_id(OPS, ["a", "b"], "example.org") != batch_id(OPS, ["a"], "example.org")
    assert first.startswith("<alerts.") and first.endswith("@example.org>")
