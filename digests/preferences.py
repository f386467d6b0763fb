"""Pure: a subscriber's own choices over the config's, and the preferences form checked.

The config invites people; each person may then choose for themselves (on the preferences
page): a pause, another schedule or time zone, fewer tags, keyword rules, or no e-mail at all
(the digest is still made and kept in the web archive). A choice left as None is the config's
value, so an admin's later change to the config reaches everyone who did not choose otherwise.

``effective`` is the one place these rules apply: the config's subscriber with the stored
choices on top, and ``hold`` saying why nothing is sent now (unsubscribed, paused). Delivery
never sends to a subscriber whose ``hold`` is set; it records the window as skipped, with the
hold as its note, so a pause does not pile up a backlog of the days it covered.

A pause ends at the start of its date in the subscriber's time zone ("paused until 8 December"
means the digests come again on 8 December).
"""

from __future__ import annotations

import calendar
import contextlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digests.schedule import ScheduleError, to_cron
from digests.select import compile_regex, is_regex
from digests.settings import Subscriber
from ingest.errors import BroadsheetError
from ingest.models import Preferences, Standing

__all__ = [
    "PAUSES",
    "PreferenceError",
    "Preferences",
    "Standing",
    "effective",
    "from_form",
    "hold",
    "resume_date",
]

PAUSES = ("", "week", "month", "until", "resume")  # the form's ``pause`` values
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LONGEST_PAUSE = timedelta(days=366)
MAX_RULES = 50  # keyword rules per list: a digest runs every rule over every entry
MAX_RULE = 200  # characters of one rule
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PreferenceError(BroadsheetError):
    """The preferences form holds values we cannot keep; ``problems`` maps each field to why."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        listed = "; ".join(f"{field}: {message}" for field, message in self.problems.items())
        super().__init__(f"the preferences were not saved ({listed}); correct them and save again")


def effective(subscriber: Subscriber, standing: Standing | None, now: datetime) -> Subscriber:
    """The config's ``subscriber`` with their stored choices applied, public id and hold set."""
    if standing is None:
        return subscriber
    chosen = standing.preferences
    found = replace(subscriber, public_id=standing.public_id)
    if chosen.schedule is not None:
        # Stored values were checked; one that no longer parses leaves the config's.
        with contextlib.suppress(ScheduleError):
            found = replace(found, schedule=chosen.schedule, cron=to_cron(chosen.schedule))
    if chosen.timezone is not None and _zone(chosen.timezone) is not None:
        found = replace(found, timezone=chosen.timezone)
    if chosen.tags is not None:
        found = replace(found, tags=chosen.tags)
    if chosen.include is not None:
        found = replace(found, include=chosen.include)
    if chosen.exclude is not None:
        found = replace(found, exclude=chosen.exclude)
    if chosen.email is False:
        found = replace(found, deliver=tuple(c for c in found.deliver if c != "email"))
    return replace(found, hold=hold(standing, found.timezone, now))


def hold(standing: Standing, zone: str, now: datetime) -> str:
    """Why nothing is sent to this subscriber now ('' when digests go out)."""
    if standing.state != "active":
        when = standing.unsubscribed_at
        on = f" on {when.astimezone(ZoneInfo(zone)):%Y-%m-%d}" if when else ""
        via = f" ({standing.unsubscribed_via})" if standing.unsubscribed_via else ""
        return f"unsubscribed{on}{via}"
    until = standing.preferences.paused_until
    if until is not None and now < until:
        return f"paused until {long_date(resume_date(until, zone))}"
    return ""


def resume_date(paused_until: datetime, zone: str) -> date:
    """The local date a pause ends on (it ends at that date's start)."""
    return paused_until.astimezone(ZoneInfo(zone)).date()


def long_date(day: date) -> str:
    """ "8 December 2026"."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def from_form(
    fields: Sequence[tuple[str, str]],
    subscriber: Subscriber,
    admin_tags: Sequence[str],
    now: datetime,
    *,
    current: Preferences | None = None,
) -> Preferences:
    """The choices a submitted preferences form makes; PreferenceError names each bad field.

    ``subscriber`` is the config's (a value equal to the config's is stored as None, so that it
    follows the config); ``current`` holds the choices stored so far (the pause, when the form
    leaves it unchanged).
    """
    form = _Form(fields)
    problems: dict[str, str] = {}
    zone = _timezone(form, subscriber, problems)
    local = zone if zone is not None else subscriber.timezone
    if _zone(local) is None:
        local = "UTC"
    chosen = Preferences(
        paused_until=_pause(form, current, local, now, problems),
        schedule=_schedule(form, subscriber, problems),
        timezone=zone,
        tags=_tags(form, subscriber, admin_tags, problems),
        include=_rules(form, "include", subscriber.include, problems),
        exclude=_rules(form, "exclude", subscriber.exclude, problems),
        email=_email(form, subscriber),
    )
    if problems:
        raise PreferenceError(problems)
    return chosen


class _Form:
    """A submitted form: repeated fields kept, values stripped."""

    def __init__(self, fields: Sequence[tuple[str, str]]) -> None:
        self.fields = [(name, value) for name, value in fields]

    def one(self, name: str) -> str:
        values = self.all(name)
        return values[-1].strip() if values else ""

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _timezone(form: _Form, subscriber: Subscriber, problems: dict[str, str]) -> str | None:
    name = form.one("timezone")
    if not name or name == subscriber.timezone:
        return None
    if len(name) > 64 or _zone(name) is None:
        problems["timezone"] = f'choose a time zone such as "Europe/Berlin", not {name!r}'
        return None
    return name


def _schedule(form: _Form, subscriber: Subscriber, problems: dict[str, str]) -> str | None:
    frequency = form.one("frequency")
    if not frequency:
        return None
    if frequency not in ("daily", "weekly"):
        problems["frequency"] = f'choose "daily" or "weekly", not {frequency!r}'
        return None
    match = _TIME.match(form.one("time"))
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        problems["time"] = "give the time as HH:MM, from 00:00 to 23:59"
        return None
    at = f"{int(match[1]):02d}:{match[2]}"
    if frequency == "daily":
        schedule = f"daily {at}"
    else:
        weekday = form.one("weekday").lower()
        if weekday not in WEEKDAYS:
            problems["weekday"] = f"choose a day of the week ({', '.join(WEEKDAYS)})"
            return None
        schedule = f"weekly {weekday} {at}"
    try:
        same = to_cron(schedule) == subscriber.cron
    except ScheduleError as exc:  # not expected: the parts were checked above
        problems["frequency"] = str(exc)
        return None
    return None if same else schedule


def _tags(
    form: _Form, subscriber: Subscriber, admin_tags: Sequence[str], problems: dict[str, str]
) -> tuple[str, ...] | None:
    known = {tag.casefold(): tag for tag in admin_tags}
    wanted: list[str] = []
    for value in form.all("tags"):
        tag = known.get(value.strip().casefold())
        if tag is None:
            offered = ", ".join(admin_tags) or "none"
            problems["tags"] = f"{value.strip()!r} is not one of the tags offered ({offered})"
            return None
        if tag not in wanted:
            wanted.append(tag)
    if not wanted:
        return None  # none checked: all of the config's
    ordered = tuple(tag for tag in admin_tags if tag in wanted)
    if {t.casefold() for t in ordered} == {t.casefold() for t in subscriber.tags}:
        return None
    return ordered


def _rules(
    form: _Form, name: str, configured: tuple[str, ...], problems: dict[str, str]
) -> tuple[str, ...] | None:
    rules = tuple(
        dict.fromkeys(line.strip() for line in form.one(name).splitlines() if line.strip())
    )
    if len(rules) > MAX_RULES:
        problems[name] = f"at most {MAX_RULES} rules, one per line; this list has {len(rules)}"
        return None
    for rule in rules:
        if len(rule) > MAX_RULE:
            problems[name] = f"a rule may be at most {MAX_RULE} characters: {rule[:40]!r}..."
            return None
        if is_regex(rule):
            try:
                compile_regex(rule)
            except ValueError as exc:
                problems[name] = f"{rule!r} {exc}"
                return None
    return None if rules == configured else rules


def _email(form: _Form, subscriber: Subscriber) -> bool | None:
    checked = form.one("email") == "on"
    if checked or "email" not in subscriber.deliver:
        return None  # as the config says; the form cannot add a channel the admin did not give
    return False


def _pause(
    form: _Form,
    current: Preferences | None,
    zone: str,
    now: datetime,
    problems: dict[str, str],
) -> datetime | None:
    choice = form.one("pause")
    today = now.astimezone(ZoneInfo(zone)).date()
    if choice not in PAUSES:
        problems["pause"] = 'choose "week", "month", "until" a date, or "resume"'
        return None
    if choice == "":
        kept = current.paused_until if current is not None else None
        return kept if kept is not None and kept > now else None
    if choice == "resume":
        return None
    if choice == "week":
        return _start_of(today + timedelta(days=7), zone)
    if choice == "month":
        return _start_of(_next_month(today), zone)
    text = form.one("pause_until")
    if not _DATE.match(text):
        problems["pause_until"] = "give the date the digests start again, as YYYY-MM-DD"
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems["pause_until"] = f"{text} is not a date that exists"
        return None
    if day <= today:
        problems["pause_until"] = f"choose a date after today ({today:%Y-%m-%d})"
        return None
    if day > today + LONGEST_PAUSE:
        problems["pause_until"] = "a pause can last a year at most; choose an earlier date"
        return None
    return _start_of(day, zone)


def _start_of(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _next_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
