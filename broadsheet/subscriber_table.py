"""The ``[[subscribers]]`` tables of the config, checked: addresses, schedules, zones, rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from broadsheet.checks import Checker, budget, header_text, http_url, mailbox
from digests.schedule import ScheduleError, next_run, to_cron
from digests.settings import ORDERS, RANKED, Subscriber

_SUBSCRIBER_KEYS = {
    "email",
    "name",
    "tags",
    "feeds",
    "schedule",
    "timezone",
    "deliver",
    "max_per_feed",
    "max_items",
    "include",
    "exclude",
    "budget",
    "boost",
    "order",
    "full_text",
}


def subscribers(check: Checker, raw: Any) -> list[Subscriber]:
    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    for where, item in check.array(raw, "subscribers"):
        check.keys(item, where, _SUBSCRIBER_KEYS)
        email: str | None = None
        try:
            email = mailbox(item.get("email"))
        except ValueError as exc:  # the rest of the entry is still checked: every problem at once
            check.fail(f"{where}.email", str(exc))
        if email is not None and email.lower() in seen:
            check.fail(f"{where}.email", f"{email} is listed twice")
        elif email is not None:
            seen.add(email.lower())
        subscriber = _subscriber(check, item, where, email or "")
        if email is not None:
            subscribers.append(subscriber)
    return subscribers


def _subscriber(check: Checker, item: dict[str, Any], where: str, email: str) -> Subscriber:
    schedule = check.typed(item, "schedule", where, str, "daily 07:00")
    try:
        cron = _firing(to_cron(schedule), schedule)
    except ScheduleError as exc:
        check.fail(f"{where}.schedule", str(exc))
        cron = "0 7 * * *"
    timezone = check.typed(item, "timezone", where, str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        check.fail(
            f"{where}.timezone",
            f'expected an IANA time zone like "Europe/Berlin", got {timezone!r}',
        )
        timezone = "UTC"
    deliver = check.strings(item, "deliver", where) or ("email",)
    for channel in deliver:
        if channel not in ("email", "markdown"):
            check.fail(f"{where}.deliver", f'expected "email" and/or "markdown", got {channel!r}')
    feeds = check.strings(item, "feeds", where)
    for index, url in enumerate(feeds):
        try:
            http_url(url)
        except ValueError as exc:
            check.fail(f"{where}.feeds[{index}]", str(exc))
    return Subscriber(
        email=email,
        schedule=schedule,
        cron=cron,
        timezone=timezone,
        name=check.converted(item, "name", where, header_text, ""),
        tags=check.strings(item, "tags", where),
        feeds=feeds,
        deliver=tuple(dict.fromkeys(deliver)),
        max_per_feed=check.positive(item, "max_per_feed", where, 10, 10_000),
        max_items=check.positive(item, "max_items", where, 100, 10_000),
        include=_rules(check, item, where, "include"),
        exclude=_rules(check, item, where, "exclude"),
        budget=check.converted(item, "budget", where, budget, 0.0),
        boost=_rules(check, item, where, "boost"),
        order=_order(check, item, where),
        full_text=check.typed(item, "full_text", where, bool, False),
    )


def _order(check: Checker, item: dict[str, Any], where: str) -> str:
    """How the digest is laid out: best first, or grouped by tag (ranked inside)."""
    order = check.typed(item, "order", where, str, RANKED)
    if order not in ORDERS:
        check.fail(
            f"{where}.order",
            f'expected "ranked" (best story first) or "by_tag" (grouped by tag), got {order!r}',
        )
        return RANKED
    return str(order)


# Any schedule that fires at all fires within 8 years of any date (a 29 February at most
# 8 years apart, across 2100): a search from a fixed date tells those that never fire.
_NEVER_AFTER = datetime(2001, 1, 1, tzinfo=UTC)


def _firing(cron: str, schedule: str) -> str:
    """``cron``, or ScheduleError when it names no date that exists (``0 7 31 2 *``)."""
    try:
        next_run(cron, "UTC", _NEVER_AFTER)
    except ScheduleError:
        raise ScheduleError(
            f"{schedule!r} never fires: no month it names has the day it names "
            "(30 and 31 February, 31 April...); pick a day that exists"
        ) from None
    return cron


def _rules(check: Checker, item: dict[str, Any], where: str, key: str) -> tuple[str, ...]:
    """Keyword rules: words, or /regular expressions/ that RE2 (linear time) can run."""
    rules = check.strings(item, key, where)
    if not rules:
        return rules
    from digests.select import compile_regex, is_regex  # RE2: only for configs with keywords

    for index, rule in enumerate(rules):
        if is_regex(rule):
            try:
                compile_regex(rule)
            except ValueError as exc:
                check.fail(f"{where}.{key}[{index}]", f"{rule!r} {exc}")
    return rules
