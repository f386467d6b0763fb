"""Deliver every digest that is due: plan the window, claim it in the ledger, render, send.

Each subscriber's failure (SMTP down, a rejected recipient, a full disk) is recorded in the
ledger and the run goes on with the next subscriber; the failed window is retried with backoff
by a later run and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from digests import files, ledger, mail
from digests.digest import Digest, build_digest
from digests.models import Window
from digests.render import render_html, render_markdown, render_text, subject
from digests.settings import DigestSettings, SmtpSettings, Subscriber
from digests.windows import plan
from ingest.errors import DeliveryError
from ingest.store.database import failures as store_failures

CLAIM_LEASE = 600.0  # seconds a process may hold a window before another may take it over

Log = Callable[[str], None]


@dataclass(frozen=True)
class Delivery:
    """Where digests go: the SMTP server and the digest settings."""

    smtp: SmtpSettings
    digests: DigestSettings

    @property
    def unsubscribe_address(self) -> str:
        """Where readers write to unsubscribe: [digests].unsubscribe, else the From address."""
        return parseaddr(self.digests.unsubscribe or self.smtp.sender)[1]

    @property
    def unsubscribe(self) -> str:
        """The mailto: URL for the List-Unsubscribe header."""
        return f"mailto:{self.unsubscribe_address}?subject=unsubscribe"

    @property
    def domain(self) -> str:
        """The domain of the From address, for Message-IDs."""
        return parseaddr(self.smtp.sender)[1].rpartition("@")[2] or "broadsheet.invalid"


@dataclass
class DigestReport:
    """What one digest run did; ``as_dict`` is what `broadsheet digest --json` prints."""

    due: int = 0
    sent: int = 0
    written: int = 0
    failed: int = 0
    skipped_empty: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts, errors and written files as plain data."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.due} {'digest' if self.due == 1 else 'digests'} due: {self.sent} emailed, {self.written} written, "
            f"{self.skipped_empty} empty (skipped), {self.failed} failed"
        )


def deliver_due(
    engine: Engine,
    delivery: Delivery,
    subscribers: Sequence[Subscriber],
    now: datetime,
    *,
    owner: str,
    force: bool = False,
    dry_run: bool = False,
    log: Log | None = None,
) -> DigestReport:
    """Deliver each subscriber's digest that is due (all of them with ``force``)."""
    kept = (
        "digests recorded as sent stay sent, and the rest are delivered by a later run (one "
        "mailed just as the store failed may go out again, with the same Message-ID)"
    )
    with store_failures("delivering digests", kept):
        report = DigestReport()
        for subscriber in subscribers:
            window = due_window(engine, subscriber, now, force=force)
            if window is None:
                continue
            report.due += 1
            if dry_run:
                _dry_run(engine, delivery, subscriber, window, report, log)
                continue
            claim = ledger.claim(
                engine, subscriber.key, window, owner, now, CLAIM_LEASE, delivery.domain
            )
            if claim is None:
                report.due -= 1  # another process is delivering it, or already did
                continue
            _deliver(engine, delivery, subscriber, claim, now, report, log)
        return report


def due_window(
    engine: Engine, subscriber: Subscriber, now: datetime, *, force: bool = False
) -> Window | None:
    """The window the subscriber's next digest covers, or None when none is due."""
    return plan(
        subscriber.cron,
        subscriber.timezone,
        now - settle(engine),
        ledger.last_end(engine, subscriber.key),
        ledger.open_window(engine, subscriber.key),
        force=force,
    )


def settle(engine: Engine) -> timedelta:
    """How long before now a window must end, so that no entry still being written falls out.

    SQLite runs every transaction one after another, so a digest sees every entry first seen
    before it reads: nothing to wait for. PostgreSQL lets a poll commit while a digest reads, and
    several machines' clocks may differ a little: windows there end a minute back, and what
    arrived in that minute opens the next window instead of being lost.
    """
    return timedelta(0) if engine.dialect.name == "sqlite" else timedelta(minutes=1)


def compose(engine: Engine, delivery: Delivery, subscriber: Subscriber, window: Window) -> Digest:
    """The digest of ``window`` for ``subscriber``, read from the store (records nothing)."""
    return build_digest(
        ledger.window_entries(engine, window),
        subscriber,
        window,
        delivery.digests,
        unsubscribe=delivery.unsubscribe_address,
    )


def _deliver(
    engine: Engine,
    delivery: Delivery,
    subscriber: Subscriber,
    claim: ledger.Claim,
    now: datetime,
    report: DigestReport,
    log: Log | None,
) -> None:
    try:
        digest = compose(engine, delivery, subscriber, claim.window)
        if not digest.story_count and not delivery.digests.send_empty:
            ledger.finish(engine, claim, "skipped", now, 0, [])
            report.skipped_empty += 1
            _log(log, f"digest {subscriber.email}: nothing new, skipped")
            return
        channels = []
        if "markdown" in subscriber.deliver:
            path = write_markdown(delivery, digest, claim.window)
            report.written += 1
            report.files.append(str(path))
            channels.append("markdown")
        if "email" in subscriber.deliver:
            send_email(delivery, digest, claim.message_id, now)
            report.sent += 1
            channels.append("email")
        ledger.finish(engine, claim, "sent", now, digest.story_count, channels)
        _log(
            log,
            f"digest {subscriber.email}: {digest.story_count} stories via {' + '.join(channels)}",
        )
    except DeliveryError as error:
        retry_at = now + retry_delay(claim.attempts, delivery.digests)
        ledger.fail(engine, claim, str(error), now, retry_at)
        report.failed += 1
        report.errors.append({"subscriber": subscriber.email, "error": str(error)})
        _log(
            log,
            f"digest {subscriber.email}: failed ({error}); retrying after {retry_at:%Y-%m-%d %H:%M} UTC",
        )


def retry_delay(attempts: int, settings: DigestSettings) -> timedelta:
    """Backoff before retrying a failed delivery: doubling from retry_base, capped at retry_max."""
    return timedelta(
        seconds=min(settings.retry_base * 2 ** max(attempts - 1, 0), settings.retry_max)
    )


def write_markdown(delivery: Delivery, digest: Digest, window: Window) -> Path:
    """Write the Markdown digest atomically; returns its path."""
    local_end = window.end.astimezone(ZoneInfo(digest.subscriber.timezone))
    path = files.digest_path(
        delivery.digests.output_dir, digest.subscriber.email, local_end, window.start
    )
    files.write_atomically(
        path, files.marker(window.start) + render_markdown(digest, delivery.digests)
    )
    return path


def send_email(delivery: Delivery, digest: Digest, message_id: str, now: datetime) -> None:
    """Render the HTML and text parts and send them to the subscriber."""
    letter = mail.Letter(
        to_email=digest.subscriber.email,
        to_name=digest.subscriber.name,
        subject=subject(digest),
        text=render_text(digest, delivery.digests),
        html=render_html(digest, delivery.digests),
        message_id=message_id,
        date=now,
        list_id=delivery.digests.list_id,
        unsubscribe=delivery.unsubscribe,
    )
    mail.send(mail.build(letter, delivery.smtp), delivery.smtp)


def _dry_run(
    engine: Engine,
    delivery: Delivery,
    subscriber: Subscriber,
    window: Window,
    report: DigestReport,
    log: Log | None,
) -> None:
    try:
        digest = compose(engine, delivery, subscriber, window)
        render_html(digest, delivery.digests)
        render_text(digest, delivery.digests)
        render_markdown(digest, delivery.digests)
    except DeliveryError as error:
        report.failed += 1
        report.errors.append({"subscriber": subscriber.email, "error": str(error)})
        return
    if not digest.story_count and not delivery.digests.send_empty:
        report.skipped_empty += 1
    _log(
        log,
        f"digest {subscriber.email}: would deliver {digest.story_count} stories "
        f"via {' + '.join(subscriber.deliver)} ({window.start:%Y-%m-%d %H:%M} – {window.end:%Y-%m-%d %H:%M} UTC)",
    )


def _log(log: Log | None, line: str) -> None:
    if log is not None:
        log(line)
