"""Pure: what the preferences form shows, from a subscriber's standing or from what was posted.

The names are the form's field names, which ``digests.preferences.from_form`` reads. A schedule
the form cannot show as "daily" or "weekly" at a time (an administrator's cron expression) is
shown as written, with neither box ticked: posting the form then leaves it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from digests.preferences import resume_date
from digests.schedule import ScheduleError, to_cron

WEEKDAYS = (
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
)
_CRON_DAYS = dict(
    zip("01234567", ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"), strict=True)
)


@dataclass(frozen=True)
class Form:
    """The preferences form's values, as strings the way the page shows them."""

    pause: str = ""  # '' (no change) | week | month | until | resume
    pause_until: str = ""  # YYYY-MM-DD: the day digests start again
    frequency: str = ""  # daily | weekly | '' (a schedule the form cannot show)
    time: str = ""  # HH:MM
    weekday: str = "mon"
    timezone: str = "UTC"
    tags: tuple[str, ...] = ()
    include: str = ""  # one rule per line
    exclude: str = ""
    email: bool = True


def initial(
    schedule: str,
    timezone: str,
    tags: Sequence[str],
    include: Sequence[str],
    exclude: Sequence[str],
    deliver: Sequence[str],
    paused_until: datetime | None,
) -> Form:
    """The form as a subscriber's current choices fill it."""
    frequency, at, weekday = split_schedule(schedule)
    return Form(
        pause_until=resume_date(paused_until, timezone).isoformat() if paused_until else "",
        frequency=frequency,
        time=at,
        weekday=weekday or "mon",
        timezone=timezone,
        tags=tuple(tags),
        include="\n".join(include),
        exclude="\n".join(exclude),
        email="email" in deliver,
    )


def submitted(fields: Sequence[tuple[str, str]]) -> Form:
    """The form as it was posted (shown again, with its problems, when it cannot be saved)."""
    first: dict[str, str] = {}
    for name, value in fields:
        first.setdefault(name, value)
    return Form(
        pause=first.get("pause", ""),
        pause_until=first.get("pause_until", ""),
        frequency=first.get("frequency", ""),
        time=first.get("time", ""),
        weekday=first.get("weekday", "mon"),
        timezone=first.get("timezone", ""),
        tags=tuple(value for name, value in fields if name == "tags"),
        include=first.get("include", ""),
        exclude=first.get("exclude", ""),
        email=first.get("email") == "on",
    )


def split_schedule(schedule: str) -> tuple[str, str, str]:
    """ "daily 07:00" -> ("daily", "07:00", ""); "weekly mon 07:00" -> ("weekly", "07:00", "mon").

    Anything else (a cron expression with ranges, several times a day) -> ("", "", "").
    """
    try:
        fields = to_cron(schedule).split()
    except ScheduleError:
        return "", "", ""
    minute, hour, days, months, weekday = fields
    if not (minute.isdigit() and hour.isdigit() and days == months == "*"):
        return "", "", ""
    at = f"{int(hour):02d}:{int(minute):02d}"
    if weekday == "*":
        return "daily", at, ""
    day = _CRON_DAYS.get(weekday, weekday.lower()[:3])
    if day in dict(WEEKDAYS) and (weekday.isdigit() or weekday.isalpha()):
        return "weekly", at, day
    return "", "", ""
