"""Deliver every digest that is due, in one pass: plan, seal, claim, compose, send, record.

The run reads every subscriber's standing in the ledger once and plans the due windows; if any
is due it seals the entries stored so far (``digests/ledger.py``); then, subscriber by
subscriber, it claims the window, composes the digest, renews the claim, sends it and records
the outcome. The clock is read at each step, so a run that lasts hours behind a slow mail
server never holds a claim it believes live but another process sees expired.

Each subscriber's failure (SMTP down, a rejected recipient, a full disk) is recorded in the
ledger and the run goes on with the next subscriber; the failed window is retried with backoff
by a later run, or given up after a few refusals (see ``ledger.after_failure``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Protocol

from sqlalchemy import Engine

from digests import ledger, outbox
from digests.digest import Digest, build_digest
from digests.models import DigestEntry, Window
from digests.render import render_html, render_markdown, render_text
from digests.settings import DigestSettings, SmtpSettings, Subscriber
from digests.windows import OpenWindow, Standing, plan
from ingest.errors import DeliveryError
from ingest.store import deliveries
from ingest.store.database import failures as store_failures

Clock = Callable[[], datetime]


class Log(Protocol):
    """Where a run reports each digest: a level (as in ``logging``) and a line."""

    def __call__(self, level: int, line: str, /) -> None: ...


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
    abandoned: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts, errors and written files as plain data."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people."""
        line = (
            f"{self.due} {'digest' if self.due == 1 else 'digests'} due: {self.sent} emailed, {self.written} written, "
            f"{self.skipped_empty} empty (skipped), {self.failed} failed"
        )
        return line + (f", {self.abandoned} given up" if self.abandoned else "")


@dataclass(frozen=True)
class _Run:
    engine: Engine
    delivery: Delivery
    owner: str
    clock: Clock
    lease: float
    report: DigestReport
    log: Log


def deliver_due(
    engine: Engine,
    delivery: Delivery,
    subscribers: Sequence[Subscriber],
    clock: Clock,
    *,
    owner: str,
    force: bool = False,
    dry_run: bool = False,
    log: Log | None = None,
    lease: float | None = None,
) -> DigestReport:
    """Deliver each subscriber's digest that is due (all of them with ``force``).

    ``lease`` (seconds) is how long a claim holds; by default the longest a send may take.
    """
    kept = (
        "digests recorded as sent stay sent, and the rest are delivered by a later run (one "
        "mailed just as the store failed may go out again, with the same Message-ID)"
    )
    with store_failures("delivering digests", kept):
        report = DigestReport()
        run = _Run(
            engine,
            delivery,
            owner,
            clock,
            ledger.lease(delivery.smtp) if lease is None else lease,
            report,
            log or _quiet,
        )
        due = due_windows(engine, subscribers, clock(), force=force)
        report.due = len(due)
        if dry_run:
            for subscriber, window in due:
                _dry_run(run, subscriber, window)
            return report
        sealed = deliveries.seal(engine) if due else 0
        for subscriber, window in due:
            _deliver(
                run, subscriber, window if window.upto is not None else replace(window, upto=sealed)
            )
        return report


def due_windows(
    engine: Engine, subscribers: Sequence[Subscriber], now: datetime, *, force: bool = False
) -> list[tuple[Subscriber, Window]]:
    """Each subscriber's window that is due now, from one read of the ledger."""
    found = deliveries.standings(engine, [s.key for s in subscribers])
    due = []
    for subscriber in subscribers:
        done, pending = found.get(subscriber.key, (None, None))
        standing = Standing(
            done.window_end if done else None,
            done.seal_end if done else None,
            OpenWindow(p.window_start, p.window_end, p.next_attempt_at, p.seal_end)
            if (p := pending)
            else None,
        )
        window = plan(subscriber.cron, subscriber.timezone, now, standing, force=force)
        if window is not None:
            due.append((subscriber, window))
    return due


def preview(engine: Engine, delivery: Delivery, subscriber: Subscriber, now: datetime) -> Digest:
    """The subscriber's next digest up to now, unsealed entries included; records nothing."""
    ((_, window),) = due_windows(engine, [subscriber], now, force=True)
    return compose(engine, delivery, subscriber, window)


def compose(engine: Engine, delivery: Delivery, subscriber: Subscriber, window: Window) -> Digest:
    """The digest of ``window`` for ``subscriber``, read from the store (records nothing)."""
    rows = deliveries.window_entries(engine, window.after, window.upto, window.start)
    return build_digest(
        [_entry(row) for row in rows],
        subscriber,
        window,
        delivery.digests,
        unsubscribe=delivery.unsubscribe_address,
    )


def message_id(subscriber: str, start: datetime, domain: str) -> str:
    """The Message-ID for a subscriber's window: the same on every attempt."""
    digest = hashlib.sha256(f"{subscriber}|{start.isoformat()}".encode()).hexdigest()[:24]
    return f"<digest.{digest}@{domain}>"


def _deliver(run: _Run, subscriber: Subscriber, window: Window) -> None:
    now = run.clock()
    held = deliveries.claim(
        run.engine,
        subscriber.key,
        (window.start, window.end, window.upto),
        owner=run.owner,
        now=now,
        until=ledger.until(now, run.lease),
        message_id=message_id(subscriber.key, window.start, run.delivery.domain),
    )
    if held is None:
        run.report.due -= 1  # another process is delivering it, or already did
        return
    window = replace(window, end=held.window_end, upto=held.seal_end)
    try:
        digest = compose(run.engine, run.delivery, subscriber, window)
        if not digest.story_count and not run.delivery.digests.send_empty:
            deliveries.finish(run.engine, held.id, "skipped", run.clock(), 0, [])
            run.report.skipped_empty += 1
            run.log(logging.INFO, f"digest {subscriber.email}: nothing new, skipped")
            return
        packed = outbox.pack(
            digest,
            held.message_id,
            run.delivery.digests,
            list_unsubscribe=run.delivery.unsubscribe,
            now=run.clock(),
        )
        now = run.clock()
        if not deliveries.renew(run.engine, held.id, run.owner, ledger.until(now, run.lease)):
            run.report.due -= 1
            run.log(
                logging.WARNING,
                f"digest {subscriber.email}: another process took the window over; not sending",
            )
            return
        sent = outbox.send(packed, run.delivery.smtp, run.delivery.digests.output_dir, run.clock)
        _finished(run, subscriber, held, digest, sent)
    except DeliveryError as error:
        _failed(run, subscriber, held, error)


def _finished(
    run: _Run,
    subscriber: Subscriber,
    held: deliveries.Held,
    digest: Digest,
    sent: outbox.Sent,
) -> None:
    channels = sent.channels
    deliveries.finish(run.engine, held.id, "sent", run.clock(), digest.story_count, channels)
    if sent.path is not None:
        run.report.written += 1
        run.report.files.append(str(sent.path))
    run.report.sent += "email" in channels
    run.log(
        logging.INFO,
        f"digest {subscriber.email}: {digest.story_count} stories via {' + '.join(channels)}",
    )


def _failed(run: _Run, subscriber: Subscriber, held: deliveries.Held, error: DeliveryError) -> None:
    verdict = ledger.after_failure(error, held.attempts, run.clock(), run.delivery.digests)
    if verdict.retry_at is None:
        deliveries.abandon(run.engine, held.id, verdict.reason)
        run.report.abandoned += 1
        run.report.errors.append(
            {"subscriber": subscriber.email, "error": verdict.reason, "state": "abandoned"}
        )
        run.log(logging.ERROR, f"digest {subscriber.email}: {verdict.reason}")
        return
    deliveries.fail(run.engine, held.id, verdict.reason, verdict.retry_at)
    run.report.failed += 1
    run.report.errors.append(
        {"subscriber": subscriber.email, "error": verdict.reason, "state": "failed"}
    )
    run.log(
        logging.WARNING,
        f"digest {subscriber.email}: failed ({error}); "
        f"retrying after {verdict.retry_at:%Y-%m-%d %H:%M} UTC",
    )


def _dry_run(run: _Run, subscriber: Subscriber, window: Window) -> None:
    try:
        digest = compose(run.engine, run.delivery, subscriber, window)
        render_html(digest, run.delivery.digests)
        render_text(digest, run.delivery.digests)
        render_markdown(digest, run.delivery.digests)
    except DeliveryError as error:
        run.report.failed += 1
        run.report.errors.append(
            {"subscriber": subscriber.email, "error": str(error), "state": "failed"}
        )
        return
    if not digest.story_count and not run.delivery.digests.send_empty:
        run.report.skipped_empty += 1
    run.log(
        logging.INFO,
        f"digest {subscriber.email}: would deliver {digest.story_count} stories "
        f"via {' + '.join(subscriber.deliver)} ({window.start:%Y-%m-%d %H:%M} – {window.end:%Y-%m-%d %H:%M} UTC)",
    )


def _entry(row: Any) -> DigestEntry:
    return DigestEntry(
        id=row.id,
        feed_url=row.config_url,
        feed_title=row.feed_title or row.feed_fetch_url,
        feed_tags=tuple(row.feed_tags or ()),
        title=row.title,
        link=row.link,
        authors=tuple(row.authors or ()),
        published=row.published_at,
        first_seen=row.first_seen_at,
        summary_html=row.summary_html,
        content_html=row.content_html,
        excerpt=row.excerpt,
        image=row.image,
        image_width=row.image_width,
        tags=tuple(row.tags or ()),
    )


def _quiet(level: int, line: str, /) -> None:
    pass
