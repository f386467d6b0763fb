"""Deliver every digest that is due, in one pass: plan, seal, claim, compose, send, record.

The run reads every subscriber's standing in the ledger once and plans the due windows; if any
is due it seals the entries stored so far (``digests/ledger.py``); then, subscriber by
subscriber, it claims the window, composes the digest, renews the claim, sends it and records
the outcome. The clock is read at each step, so a run that lasts hours behind a slow mail
server never holds a claim it believes live but another process sees expired.

Each subscriber's failure is recorded in the ledger and the run goes on with the next
subscriber: SMTP down, a rejected recipient, a full disk, and also anything else that goes
wrong with one digest (a template that fails on a value, a bug, a row the store refuses). The
failed window is retried with backoff by a later run (at once with ``--now``), or given up after
a few refusals (see ``ledger.after_failure``). Only the store failing as a whole stops a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from digests import edition, ledger, outbox
from digests.compose import (
    Delivery,
    DigestFailed,
    attempt,
    compose,
    due_windows,
    entry_of,
    message_id,
    own,
    preview,
)
from digests.digest import Digest
from digests.due import Due, plan_all
from digests.models import Window
from digests.render import render_html, render_markdown, render_text
from digests.report import DigestReport
from digests.settings import Subscriber
from ingest.errors import DeliveryError
from ingest.store import deliveries
from ingest.store.database import failures as store_failures

# Making a digest lives in digests/compose.py; these names are also delivery's.
__all__ = [
    "Delivery",
    "DigestFailed",
    "DigestReport",
    "Log",
    "attempt",
    "compose",
    "deliver_due",
    "due_windows",
    "entry_of",
    "message_id",
    "preview",
]

Clock = Callable[[], datetime]


class Log(Protocol):
    """Where a run reports each digest: a level (as in ``logging``) and a line."""

    def __call__(self, level: int, line: str, /) -> None: ...


@dataclass(frozen=True)
class _Run:
    engine: Engine
    delivery: Delivery
    owner: str
    clock: Clock
    lease: float
    report: DigestReport
    log: Log
    force: bool


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
    """Deliver each subscriber's digest that is due (all of them, failed ones too, with ``force``).

    ``lease`` (seconds) is how long a claim holds; by default the longest a send may take.
    """
    kept = (
        "digests recorded as sent stay sent, and the rest are delivered by a later run (one "
        "mailed just as the store failed may go out again, with the same Message-ID)"
    )
    with store_failures("delivering digests", kept):
        report = DigestReport(dry_run=dry_run)
        chosen = ledger.lease(delivery.smtp) if lease is None else lease
        run = _Run(engine, delivery, owner, clock, chosen, report, log or _quiet, force)
        due = _planned(run, subscribers)
        if dry_run:
            for item in due:
                _dry_run(run, item)
            return report
        sealed = deliveries.seal(engine) if due else 0
        for item in due:
            window = item.window
            _deliver(run, replace(item, window=replace(window, upto=window.upto or sealed)))
        return report


def _planned(run: _Run, subscribers: Sequence[Subscriber]) -> list[Due]:
    """The windows due now; retries backing off and planning failures go into the report."""
    now = run.clock()
    found = deliveries.standings(run.engine, [s.key for s in subscribers])
    planned = plan_all(found, subscribers, now, force=run.force)
    for subscriber, exc in planned.failures:
        _unrecorded(run, subscriber, own(exc))
    for retry in planned.retries:
        if not retry.subscriber.hold:  # a held subscriber's window is skipped, not retried
            run.report.waiting(retry.subscriber, retry.at, retry.error, retry.attempts)
    # A waiting first window is looked at again only when entries arrived since its last look
    # (a held subscriber's is closed at once).
    due = [
        item
        for item in planned.due
        if item.subscriber.hold
        or item.examined is None
        or deliveries.anything_after(run.engine, item.examined)
    ]
    run.report.due = len(due)
    return due


def _deliver(run: _Run, item: Due) -> None:
    subscriber, window = item.subscriber, item.window
    try:
        held = _claim(run, subscriber, window)
    except Exception as exc:
        mine = own(exc)
        if mine is None:
            raise
        _unrecorded(run, subscriber, mine)
        return
    if held is None:
        run.report.due -= 1  # another process is delivering it, or already did
        return
    window = replace(window, end=held.window_end, upto=held.seal_end)
    try:
        if subscriber.hold:
            _held(run, subscriber, held)
            return
        _compose_and_send(run, replace(item, window=window), held)
    except Exception as exc:
        mine = own(exc)
        if mine is None:
            raise
        _failed(run, subscriber, held, mine)


def _claim(run: _Run, subscriber: Subscriber, window: Window) -> deliveries.Held | None:
    now = run.clock()
    return deliveries.claim(
        run.engine,
        subscriber.key,
        (window.start, window.end, window.upto),
        owner=run.owner,
        now=now,
        until=ledger.until(now, run.lease),
        message_id=message_id(subscriber.key, window.start, run.delivery.domain),
        force=run.force,
    )


def _compose_and_send(run: _Run, item: Due, held: deliveries.Held) -> None:
    subscriber = item.subscriber
    digest = _digest(run, item)
    if digest is None:  # a waiting first window, and nothing for it since the last look
        deliveries.wait(run.engine, held.id)
        run.report.due -= 1
        return
    if not digest.story_count and not run.delivery.digests.send_empty:
        _empty(run, item, held.id)
        return
    packed = outbox.pack(
        digest,
        held.message_id,
        run.delivery.digests,
        list_unsubscribe=run.delivery.unsubscribe,
        now=run.clock(),
        links=run.delivery.links(subscriber),
        delivery_id=held.id,
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
    _finished(run, subscriber, held, outbox.shown(packed, run.delivery.digests), sent)


def _digest(run: _Run, item: Due) -> Digest | None:
    """The window's digest; None for a waiting first window when what arrived since adds nothing."""
    subscriber, window = item.subscriber, item.window
    if item.examined is not None and not run.delivery.digests.send_empty:
        news = compose(run.engine, run.delivery, subscriber, replace(window, after=item.examined))
        if not news.story_count:
            return None
    return compose(run.engine, run.delivery, subscriber, window)


def _empty(run: _Run, item: Due, row_id: int | None) -> None:
    """An empty digest: skipped, or, before the first one with stories, kept waiting for them."""
    run.report.skipped_empty += 1
    email = item.subscriber.email
    if item.first:
        if row_id is not None:
            deliveries.wait(run.engine, row_id)
        run.log(
            logging.INFO,
            f"digest {email}: nothing yet; the first digest goes out with the first stories",
        )
        return
    if row_id is not None:
        deliveries.finish(run.engine, row_id, "skipped", run.clock(), 0, [])
    run.log(logging.INFO, f"digest {email}: nothing new, skipped")


def _finished(
    run: _Run,
    subscriber: Subscriber,
    held: deliveries.Held,
    digest: Digest,
    sent: outbox.Sent,
) -> None:
    channels = sent.channels or ("archive",)  # no channel: kept for the web archive alone
    deliveries.finish(
        run.engine,
        held.id,
        "sent",
        run.clock(),
        digest.story_count,
        channels,
        edition=edition.record(digest),
        carried=edition.entry_ids(digest),
    )
    run.report.archived += channels == ("archive",)
    if sent.path is not None:
        run.report.written += 1
        run.report.files.append(str(sent.path))
    run.report.sent += "email" in channels
    run.log(
        logging.INFO,
        f"digest {subscriber.email}: {digest.story_count} stories via {' + '.join(channels)}",
    )


def _held(run: _Run, subscriber: Subscriber, held: deliveries.Held) -> None:
    """A subscriber who wants nothing now: the window is closed unsent, and the note says why."""
    deliveries.finish(run.engine, held.id, "skipped", run.clock(), 0, [], note=subscriber.hold)
    run.report.held += 1
    run.log(logging.INFO, f"digest {subscriber.email}: nothing sent: {subscriber.hold}")


def _failed(run: _Run, subscriber: Subscriber, held: deliveries.Held, error: DeliveryError) -> None:
    verdict = ledger.after_failure(error, held.attempts, run.clock(), run.delivery.digests)
    if verdict.retry_at is None:
        deliveries.abandon(run.engine, held.id, verdict.reason)
        run.report.abandoned += 1
        run.report.error(subscriber, verdict.reason, "abandoned")
        run.log(logging.ERROR, f"digest {subscriber.email}: {verdict.reason}")
        return
    deliveries.fail(run.engine, held.id, verdict.reason, verdict.retry_at)
    run.report.failed += 1
    run.report.error(subscriber, verdict.reason, "failed")
    run.log(
        logging.WARNING,
        f"digest {subscriber.email}: failed ({error}); "
        f"retrying after {verdict.retry_at:%Y-%m-%d %H:%M} UTC",
    )


def _unrecorded(run: _Run, subscriber: Subscriber, error: DeliveryError | None) -> None:
    """A failure before the window had a row in the ledger: reported and logged, retried next run."""
    message = str(error) if error is not None else "the store failed"
    run.report.failed += 1
    run.report.error(subscriber, message, "failed")
    run.log(logging.WARNING, f"digest {subscriber.email}: failed ({message}); retried next run")


def _dry_run(run: _Run, item: Due) -> None:
    subscriber, window = item.subscriber, item.window
    if item.held_until is not None and item.held_until >= run.clock():
        run.report.due -= 1  # another process holds it: the real run would leave it too
        return
    if subscriber.hold:
        run.report.held += 1
        run.log(logging.INFO, f"digest {subscriber.email}: would send nothing: {subscriber.hold}")
        return
    try:
        digest = _digest(run, item)
        if digest is not None:
            render_html(digest, run.delivery.digests)
            render_text(digest, run.delivery.digests)
            render_markdown(digest, run.delivery.digests)
    except Exception as exc:
        mine = own(exc)
        if mine is None:
            raise
        run.report.failed += 1
        run.report.error(subscriber, str(mine), "failed")
        run.log(logging.WARNING, f"digest {subscriber.email}: would fail ({mine})")
        return
    if digest is None:
        run.report.due -= 1
        return
    if not digest.story_count and not run.delivery.digests.send_empty:
        _empty(run, item, None)
        return
    run.report.sent += "email" in subscriber.deliver
    run.report.written += "markdown" in subscriber.deliver
    run.report.archived += not subscriber.deliver
    again = f", attempt {item.attempts + 1}" if item.attempts else ""
    run.log(
        logging.INFO,
        f"digest {subscriber.email}: would deliver {digest.story_count} stories "
        f"via {' + '.join(subscriber.deliver or ('archive',))} ({window.start:%Y-%m-%d %H:%M} – "
        f"{window.end:%Y-%m-%d %H:%M} UTC{again})",
    )


def _quiet(level: int, line: str, /) -> None:
    pass
