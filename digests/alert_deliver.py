"""Mail the admin the alerts that are due, in one pass: decide, claim, render, send, record.

Per recipient: the alerts decided now are inserted into the ledger (the claim: a row another
process inserted first is left to it), then every alert of theirs this process holds (the new
ones, and earlier ones whose send failed) goes out in one message. Its Message-ID is derived
from the recipient and the alerts' keys, so a retry of the same batch carries the same one. A
send that fails leaves the alerts ``failed``: the next run sends them again, with anything new;
a refusal or an unknown outcome three times over gives them up (``digests/ledger.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Engine

from digests import ledger, mail
from digests.alert_render import render
from digests.alerts import Alert, Announced, FeedCondition, due, ordered
from digests.settings import AlertSettings, DigestSettings, SmtpSettings
from ingest.errors import DeliveryError
from ingest.redact import mask_text, mask_url
from ingest.store import alerts as stored
from ingest.store import feeds as stored_feeds
from ingest.store.alerts import AlertRow
from ingest.store.database import failures


@dataclass
class AlertReport:
    """What one alerts run did (or, dry, would do); ``as_dict`` is `broadsheet alerts --json`."""

    dry_run: bool = False
    sent: int = 0  # messages
    failed: int = 0  # messages
    alerts: list[dict[str, str]] = field(default_factory=list)  # each alert sent (or due)
    errors: list[dict[str, str]] = field(default_factory=list)  # recipient, error, state

    def as_dict(self) -> dict[str, Any]:
        """Counts, alerts and errors as plain data."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people."""
        count = len(self.alerts)
        alerts = f"{count} {'alert' if count == 1 else 'alerts'}"
        if self.dry_run:
            return f"dry run, nothing sent or recorded: {alerts} due"
        messages = f"{self.sent} {'message' if self.sent == 1 else 'messages'}"
        return f"{alerts} due: {messages} sent, {self.failed} failed"


@dataclass(frozen=True)
class Outbox:
    """Where alerts go and how: the settings a run needs."""

    alerts: AlertSettings
    smtp: SmtpSettings
    digests: DigestSettings


def conditions(engine: Engine) -> list[FeedCondition]:
    """Every configured feed's state, as deciding reads it."""
    with failures("reading the feeds' health", "nothing was changed"):
        rows = stored_feeds.health(engine)
    return [
        FeedCondition(
            url=row["config_url"],
            title=row["title"] or row["config_url"],
            enabled=bool(row["enabled"]) or row["disabled_reason"] is not None,
            failing_since=row["failing_since"],
            error=row["disabled_reason"] or row["last_error"],
            last_success=row["last_success"],
            newest_entry=row["newest_entry"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


def run(
    engine: Engine, outbox: Outbox, *, owner: str, now: datetime, dry_run: bool = False
) -> AlertReport:
    """Send every recipient the alerts due to them (``dry_run``: only say which)."""
    report = AlertReport(dry_run=dry_run)
    if not outbox.alerts.enabled:
        return report
    feeds = conditions(engine)
    with failures("reading the alerts ledger", "nothing was sent"):
        given = stored.announced(engine)
    fresh = due(feeds, [_announced(row) for row in given], outbox.alerts, now)
    for recipient, alerts in fresh.items():
        if dry_run:
            with failures("reading the alerts ledger", "nothing was sent"):
                again = [_alert(row) for row in stored.retrying(engine, recipient, now)]
            _note(report, recipient, ordered(again + alerts))
            continue
        _send(engine, outbox, recipient, alerts, owner, now, report)
    return report


def _send(
    engine: Engine,
    outbox: Outbox,
    recipient: str,
    alerts: Sequence[Alert],
    owner: str,
    now: datetime,
    report: AlertReport,
) -> None:
    """Claim the recipient's alerts, send them in one message, record what happened."""
    until = ledger.until(now, ledger.lease(outbox.smtp))
    with failures("claiming alerts", "nothing was sent"):
        stored.claim(
            engine, recipient, [_values(a) for a in alerts], owner=owner, now=now, until=until
        )
        held = stored.take(engine, recipient, owner=owner, now=now, until=until)
    if not held:
        return
    batch = ordered(_alert(row) for row in held)
    ids = [row.id for row in held]
    message_id = batch_id(recipient, [row.key for row in held], _domain(outbox.smtp))
    _note(report, recipient, batch)
    try:
        message = _message(outbox, recipient, batch, message_id, now)
        mail.send(message, outbox.smtp)
    except DeliveryError as error:
        attempts = max(row.attempts for row in held)
        verdict = ledger.after_failure(error, attempts, now, outbox.digests)
        text = mask_text(verdict.reason)
        report.failed += 1
        state = "abandoned" if verdict.retry_at is None else "failed"
        report.errors.append({"recipient": recipient, "error": text, "state": state})
        with failures("recording a failed alert", "the alerts are sent again by the next run"):
            if verdict.retry_at is None:
                stored.abandoned(engine, ids, owner, text)
            else:  # not after the backoff: the next run tries again, alerts are news
                stored.failed(engine, ids, owner, text, now, message_id)
        return
    report.sent += 1
    with failures("recording sent alerts", "the message went out"):
        stored.sent(engine, ids, owner, now, message_id)


def _message(
    outbox: Outbox, recipient: str, batch: Sequence[Alert], message_id: str, now: datetime
) -> EmailMessage:
    rendered = render(batch, now, outbox.digests)
    letter = mail.Letter(
        to_email=recipient,
        to_name="",
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        list_id="",  # the admin's own mail: no list headers
        unsubscribe=(),
    )
    return mail.build(letter, outbox.smtp)


def batch_id(recipient: str, keys: Sequence[str], domain: str) -> str:
    """The Message-ID of a batch of alerts: the same for the same recipient and alerts."""
    digest = hashlib.sha256("|".join([recipient, *sorted(keys)]).encode()).hexdigest()[:24]
    return f"<alerts.{digest}@{domain}>"


def _domain(smtp: SmtpSettings) -> str:
    sender = smtp.sender.rsplit("@", 1)[-1].strip(" >")
    return sender or "broadsheet.invalid"


def _note(report: AlertReport, recipient: str, alerts: Sequence[Alert]) -> None:
    for alert in alerts:
        report.alerts.append(
            {
                "recipient": recipient,
                "kind": alert.kind,
                "feed": mask_url(alert.feed_url),
                "title": alert.feed_title,
                "since": alert.since.isoformat(),
                "until": alert.until.isoformat() if alert.until else "",
                "detail": mask_text(alert.detail),
            }
        )


def _values(alert: Alert) -> dict[str, Any]:
    """An alert as the ledger stores it."""
    return {
        "key": alert.key,
        "kind": alert.kind,
        "feed_url": alert.feed_url,
        "feed_title": alert.feed_title,
        "detail": alert.detail,
        "since": alert.since,
        "until": alert.until,
        "last_success": alert.last_success,
    }


def _alert(row: AlertRow) -> Alert:
    fields = (row.feed_url, row.feed_title, row.since, row.detail, row.until, row.last_success)
    return Alert(row.kind, *fields)


def _announced(row: AlertRow) -> Announced:
    return Announced(row.recipient, row.key, row.kind, row.feed_url, row.since)
