"""Subscriber schedules and digest windows: local wall-clock times, DST days, east and west."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digests.models import Window
from digests.schedule import ScheduleError, next_run, period, previous_run, to_cron
from digests.windows import OpenWindow, Standing, plan


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ("daily 07:00", "0 7 * * *"),
        ("daily 7:05", "5 7 * * *"),
        ("weekly Mon 18:30", "30 18 * * mon"),
        ("weekly friday 06:00", "0 6 * * fri"),
        ("*/30  6-8 * * mon-fri", "*/30 6-8 * * mon-fri"),
    ],
)
def test_schedules_become_cron(schedule: str, cron: str) -> None:
    assert to_cron(schedule) == cron


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("daily 24:00", "between 00:00 and 23:59"),
        ("weekly someday 07:00", "weekday must be one of"),
        ("hourly", "five fields"),
        ("60 * * * *", "minute values must lie between 0 and 59"),
        ("0 7 * * funday", "not a valid weekday"),
    ],
)
def test_bad_schedules_say_what_was_expected(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        to_cron(schedule)


def test_daily_stays_at_local_time_across_the_spring_change() -> None:
    # Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026 at 02:00.
    assert previous_run("0 7 * * *", "Europe/Berlin", utc(2026, 3, 28, 12)) == utc(2026, 3, 28, 6)
    assert previous_run("0 7 * * *", "Europe/Berlin", utc(2026, 3, 29, 12)) == utc(2026, 3, 29, 5)
    assert period("0 7 * * *", "Europe/Berlin", utc(2026, 3, 29, 12)) == timedelta(hours=23)
    assert period("0 7 * * *", "Europe/Berlin", utc(2026, 10, 25, 12)) == timedelta(hours=25)


def test_a_skipped_wall_time_fires_once_shifted_and_a_doubled_one_fires_once() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026, and happens twice on 25 October.
    spring = next_run("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12))
    assert spring == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    autumn = next_run("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12))
    assert autumn == utc(2026, 10, 25, 0, 30)  # the first 02:30 (CEST)
    assert next_run("30 2 * * *", "Europe/Berlin", autumn) == utc(2026, 10, 26, 1, 30)


def test_east_and_west_of_utc_see_their_own_dates() -> None:
    at = utc(2026, 11, 25, 1)
    assert previous_run("0 7 * * *", "Asia/Tokyo", at) == utc(2026, 11, 24, 22)
    assert previous_run("0 7 * * *", "America/Los_Angeles", at) == utc(2026, 11, 24, 15)
    assert next_run("0 9 * * mon", "Pacific/Auckland", at) == utc(2026, 11, 29, 20)


def test_cron_day_of_month_or_weekday() -> None:
    # Both restricted: fires on the 1st OR on Mondays.
    after = utc(2026, 11, 25)
    assert next_run("0 8 1 * mon", "UTC", after) == utc(2026, 11, 30, 8)
    assert next_run("0 8 1 * *", "UTC", after) == utc(2026, 12, 1, 8)


def test_the_first_window_then_consecutive_ones() -> None:
    cron, zone = "0 7 * * *", "Europe/Berlin"
    now = utc(2026, 11, 25, 10)
    first = plan(cron, zone, now, Standing())
    assert first == Window(utc(2026, 11, 24, 6), now)
    assert plan(cron, zone, now + timedelta(hours=1), Standing(now)) is None  # not due again today
    nxt = plan(cron, zone, utc(2026, 11, 26, 6, 1), Standing(now))
    assert nxt == Window(now, utc(2026, 11, 26, 6))


def test_a_sliver_before_the_next_run_waits_for_the_run_after() -> None:
    cron, zone = "0 7 * * *", "UTC"
    first_end = utc(2026, 11, 25, 6, 59, 30)  # a first (or forced) digest just before 07:00
    assert plan(cron, zone, utc(2026, 11, 25, 7, 0, 30), Standing(first_end)) is None
    assert plan(cron, zone, utc(2026, 11, 25, 9), Standing(first_end)) is None
    later = plan(cron, zone, utc(2026, 11, 26, 7, 0, 30), Standing(first_end))
    assert later == Window(first_end, utc(2026, 11, 26, 7))  # nothing skipped: it starts there
    two_hours = utc(2026, 11, 25, 4, 30)  # 2.5 h before the run is more than a tenth of a day
    assert plan(cron, zone, utc(2026, 11, 25, 7, 1), Standing(two_hours)) == Window(
        two_hours, utc(2026, 11, 25, 7)
    )
    forced = plan(cron, zone, utc(2026, 11, 25, 7, 1), Standing(first_end), force=True)
    assert forced == Window(first_end, utc(2026, 11, 25, 7, 1))  # --now still delivers


def test_downtime_gives_one_window_over_the_gap_and_a_retry_covers_the_same_window() -> None:
    cron, zone = "0 7 * * *", "UTC"
    last = utc(2026, 11, 20, 7)
    assert plan(cron, zone, utc(2026, 11, 25, 9), Standing(last, 4)) == Window(
        last, utc(2026, 11, 25, 7), after=4
    )
    failed = OpenWindow(last, utc(2026, 11, 21, 7), utc(2026, 11, 25, 12), seal_end=9)
    assert plan(cron, zone, utc(2026, 11, 25, 9), Standing(last, 4, failed)) is None  # backing off
    fixed = Window(last, utc(2026, 11, 21, 7), after=4, upto=9)  # neither stretched nor moved
    assert plan(cron, zone, utc(2026, 11, 25, 13), Standing(last, 4, failed)) == fixed
    assert plan(cron, zone, utc(2026, 11, 25, 9), Standing(last, 4, failed), force=True) == fixed


def test_a_window_from_before_seals_is_stretched_on_its_retry_once() -> None:
    cron, zone = "0 7 * * *", "UTC"
    last = utc(2026, 11, 20, 7)
    legacy = OpenWindow(last, utc(2026, 11, 21, 7), next_attempt=utc(2026, 11, 25, 12))
    retry = plan(cron, zone, utc(2026, 11, 25, 13), Standing(last, None, legacy))
    assert retry == Window(last, utc(2026, 11, 25, 7))  # to be sealed now, then fixed
