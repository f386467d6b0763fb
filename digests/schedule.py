"""Subscriber schedules: "daily 07:00", "weekly mon 07:00" or a five-field cron expression.

Pure functions over aware datetimes; wall-clock times are read in the subscriber's time zone, so
"daily 07:00" stays at 07:00 local across daylight-saving changes. A wall time that does not
exist (the hour skipped in spring) fires at the same instant shifted forward; a wall time that
happens twice (autumn) fires once, the first time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ingest.errors import BroadsheetError

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_SIMPLE = re.compile(r"^\s*(daily|weekly\s+([a-z]{3})[a-z]*)\s+(\d{1,2}):(\d{2})\s*$", re.I)
_SEARCH_DAYS = 366 * 8  # far enough for any valid expression (Feb 29 on a given weekday)


class ScheduleError(BroadsheetError):
    """A schedule string that is neither "daily HH:MM", "weekly DAY HH:MM" nor cron."""


def to_cron(schedule: str) -> str:
    """The schedule as a five-field cron expression; ScheduleError says what was expected."""
    match = _SIMPLE.match(schedule)
    if match:
        hour, minute = int(match[3]), int(match[4])
        if hour > 23 or minute > 59:
            raise ScheduleError(f"{schedule!r}: the time must be HH:MM between 00:00 and 23:59")
        if match[2] is None:
            return f"{minute} {hour} * * *"
        day = match[2].lower()
        if day not in _DAYS:
            raise ScheduleError(f"{schedule!r}: the weekday must be one of {', '.join(_DAYS)}")
        return f"{minute} {hour} * * {day}"
    Cron.parse(schedule)
    return " ".join(schedule.split())


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the sets of minutes, hours, days, months and weekdays (0=Sun)."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Parse five fields; ScheduleError names the field that is wrong."""
        fields = expression.split()
        if len(fields) != 5:
            raise ScheduleError(
                f'{expression!r}: expected "daily HH:MM", "weekly mon HH:MM" '
                "or a cron expression of five fields (minute hour day month weekday)"
            )
        minute, hour, day, month, weekday = fields
        weekdays = {d % 7 for d in _field(weekday, 0, 7, _DAYS, "weekday")}
        return cls(
            minutes=tuple(sorted(_field(minute, 0, 59, None, "minute"))),
            hours=tuple(sorted(_field(hour, 0, 23, None, "hour"))),
            days=frozenset(_field(day, 1, 31, None, "day of month")),
            months=frozenset(_field(month, 1, 12, _MONTHS, "month", offset=1)),
            weekdays=frozenset(weekdays),
            any_day=day == "*",
            any_weekday=weekday == "*",
        )

    def matches_day(self, day: date) -> bool:
        """Whether the expression fires on ``day`` (cron's rule: day OR weekday when both set)."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays


def _field(
    text: str, low: int, high: int, names: list[str] | None, what: str, offset: int = 0
) -> set[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        match = re.fullmatch(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?", part)
        if not match:
            raise ScheduleError(f"{text!r} is not a valid {what} field")
        span, step = match[1], int(match[2] or 1)
        if span == "*":
            first, last = low, high
        else:
            bounds = [_value(v, names, offset, what) for v in span.split("-")]
            first, last = bounds[0], bounds[-1]
            if match[2] and len(bounds) == 1:
                last = high
        if not (low <= first <= high and low <= last <= high and first <= last and step > 0):
            raise ScheduleError(f"{text!r}: {what} values must lie between {low} and {high}")
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, names: list[str] | None, offset: int, what: str) -> int:
    if text.isdigit():
        return int(text)
    if names and text[:3] in names:
        return names.index(text[:3]) + offset
    raise ScheduleError(f"{text!r} is not a valid {what}")


def previous_run(cron: str, zone: str, at: datetime) -> datetime:
    """The latest time at or before ``at`` (aware) when ``cron`` fires in ``zone``, in UTC."""
    return _search(Cron.parse(cron), ZoneInfo(zone), at, backwards=True)


def next_run(cron: str, zone: str, after: datetime) -> datetime:
    """The earliest time strictly after ``after`` (aware) when ``cron`` fires in ``zone``, in UTC."""
    return _search(Cron.parse(cron), ZoneInfo(zone), after, backwards=False)


def period(cron: str, zone: str, at: datetime) -> timedelta:
    """The length of the schedule's period ending at its last run before ``at`` (a day for daily)."""
    last = previous_run(cron, zone, at)
    return last - previous_run(cron, zone, last - timedelta(seconds=1))


def _search(cron: Cron, zone: ZoneInfo, at: datetime, *, backwards: bool) -> datetime:
    at = at.astimezone(UTC)
    start = at.astimezone(zone).date()
    step = -1 if backwards else 1
    times = [time(h, m) for h in cron.hours for m in cron.minutes]
    if backwards:
        times.reverse()
    for offset in range(-1 * step, _SEARCH_DAYS * step, step):
        day = start + timedelta(days=offset)
        if not cron.matches_day(day):
            continue
        for wall in times:
            when = datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
            if (when <= at) if backwards else (when > at):
                return when
    raise ScheduleError(f"the schedule {cron} never fires")
