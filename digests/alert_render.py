"""Alerts as a short e-mail to the admin: a subject, a plain-text part and a simple HTML part.

The templates (``templates/alerts.txt`` and ``alerts.html``, overridable like the digest's from
``[digests] templates``) receive ``subject``, ``title``, ``moment`` and ``sections``: each a
heading and its ``lines``, one per alert, already in words (``Line``), so both parts say the same.
Times are in UTC: the admin reads them beside the logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import jinja2

from digests.alerts import ACTIVE, FAILING, KINDS, QUIET, RECOVERED, Alert
from digests.render import RenderError, environment, plural, when
from digests.settings import DigestSettings
from ingest.redact import mask_text, mask_url

HEADINGS = {
    FAILING: "Failing",
    RECOVERED: "Recovered",
    QUIET: "Quiet",
    ACTIVE: "Active again",
}
NEXT_STEPS = (
    "`broadsheet feeds --failing` lists the feeds in trouble now; `broadsheet feeds reset URL` "
    "tries one again at once after a fix."
)


@dataclass(frozen=True)
class Line:
    """One alert in words: what happened to which feed, and since when."""

    title: str
    url: str
    text: str  # after the title: ": failing since ...: <error>; ..." or " recovered after ..."


@dataclass(frozen=True)
class Section:
    """The alerts of one kind."""

    heading: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Rendered:
    """The message's subject and its two parts."""

    subject: str
    text: str
    html: str


def render(alerts: Sequence[Alert], now: datetime, settings: DigestSettings) -> Rendered:
    """The message that announces ``alerts`` (at least one)."""
    sections = [
        Section(HEADINGS[kind], tuple(line(alert, now) for alert in alerts if alert.kind == kind))
        for kind in KINDS
    ]
    sections = [section for section in sections if section.lines]
    context: dict[str, object] = {
        "subject": subject(alerts, settings.title),
        "title": settings.title,
        "moment": when(now, "UTC", now),
        "sections": sections,
        "next_steps": NEXT_STEPS,
    }
    text = _render("alerts.txt", context, settings)
    html = _render("alerts.html", context, settings)
    return Rendered(str(context["subject"]), text, html)


def subject(alerts: Sequence[Alert], title: str) -> str:
    """ "The Broadsheet: 2 feeds failing, 1 recovered"."""
    parts: list[str] = []
    for kind in KINDS:
        count = sum(1 for alert in alerts if alert.kind == kind)
        if count:
            noun = plural(count, "feed") + " " if not parts else f"{count} "
            parts.append(f"{noun}{HEADINGS[kind].lower()}")
    return f"{title}: {', '.join(parts)}"


def line(alert: Alert, now: datetime) -> Line:
    """One alert in words."""
    since = when(alert.since, "UTC", now)
    ended = alert.until or now
    if alert.kind == FAILING:
        success = when(alert.last_success, "UTC", now) if alert.last_success else "never"
        error = f": {alert.detail}" if alert.detail else ""
        text = f": failing since {since} ({span(now, alert.since)}){error}; last success {success}"
    elif alert.kind == RECOVERED:
        text = f" recovered after {span(ended, alert.since)} (failing since {since})"
    elif alert.kind == QUIET:
        text = f": nothing new since {since} ({span(now, alert.since)})"
    else:
        text = f" has new stories again after {span(ended, alert.since)} without any"
    url = mask_url(alert.feed_url)
    return Line(mask_text(alert.feed_title) or url, url, mask_text(text))


def span(end: datetime, start: datetime) -> str:
    """A duration as a person says it: "45 min", "7 h", "3 d 4 h"."""
    minutes = max(int((end - start).total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes and hours < 3 else f"{hours} h"
    return f"{minutes} min"


def _render(name: str, context: dict[str, object], settings: DigestSettings) -> str:
    try:
        return environment(settings.templates).get_template(name).render(context)
    except jinja2.TemplateError as exc:
        where = f"{name} with the templates in {settings.templates or 'the built-in folder'}"
        raise RenderError(
            f"cannot render {where}: {exc}; fix the template, or remove it from the "
            "templates folder to use the built-in one"
        ) from exc
