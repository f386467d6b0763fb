"""The delivery ledger's policy: states, leases, and what a failed attempt leads to.

The ledger (``ingest/store/deliveries.py``) holds one row per (subscriber, window). States:
``pending`` (claimed, being delivered), ``sent``, ``skipped`` (empty and not sent by choice,
or held: the subscriber unsubscribed or paused, which its ``note`` says),
``failed`` (retried later with backoff) and ``abandoned`` (given up, with the reason). Sent,
skipped and abandoned windows are finished: the next window starts where the last one ended,
so no entry is skipped or repeated.

Windows are spans of seals, not of clock times: a digest run with a window due seals every entry
not sealed yet with the next number, and a window holds the entries sealed after the previous
window's last seal up to its own. An entry a slow poll commits late is sealed by the next run
and goes into the next window. A window's last seal is fixed when it is first attempted, so a
retry carries exactly the same stories under the same Message-ID.

A claim is a lease that outlasts the longest single send (``lease``); the holder takes it
against the clock as it is, and renews it right before sending, so no other process takes over
work in hand. The one double-send window left: a crash (or a lost final reply) after the SMTP
server accepted a message and before the ledger says ``sent``; the resend then carries the same
Message-ID and the same stories, so providers that deduplicate by Message-ID show it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from digests.mail import SmtpOutcomeUnknown, SmtpRejected
from digests.settings import DigestSettings, SmtpSettings
from ingest.errors import DeliveryError

LEASE_MARGIN = 60.0  # seconds of a lease beyond the longest send: the rest of one attempt
MAX_ATTEMPTS = 3  # for refusals and unknown outcomes, which waiting rarely mends


@dataclass(frozen=True)
class Verdict:
    """What to do after a failed attempt: retry at ``retry_at``, or give up (None) and why."""

    retry_at: datetime | None
    reason: str


def lease(smtp: SmtpSettings) -> float:
    """Seconds a claim holds: the longest a send may take, and a margin for the rest."""
    return smtp.timeout + smtp.data_timeout + LEASE_MARGIN


def after_failure(
    error: DeliveryError, attempts: int, now: datetime, settings: DigestSettings
) -> Verdict:
    """Retry with backoff, or give up on a window the server refused or left in doubt 3 times.

    A refusal for good (5xx) is tried again in case the cause was mended meanwhile (a full
    mailbox, a mistyped address fixed in the config), but not forever. An unknown outcome may
    have been delivered: each retry carries the same Message-ID, and after the third attempt the
    window is given up rather than risk more copies. Everything else backs off and is retried.
    """
    if attempts >= MAX_ATTEMPTS and isinstance(error, SmtpRejected):
        return Verdict(
            None,
            f"gave up after {attempts} attempts refused by the mail server ({error}); "
            "check the subscriber's address",
        )
    if attempts >= MAX_ATTEMPTS and isinstance(error, SmtpOutcomeUnknown):
        return Verdict(
            None,
            f"gave up after {attempts} attempts with no final reply from the mail server "
            f"({error}); the digest may have arrived, check with the subscriber",
        )
    return Verdict(now + retry_delay(attempts, settings), str(error))


def retry_delay(attempts: int, settings: DigestSettings) -> timedelta:
    """Backoff before retrying a failed delivery: doubling from retry_base, capped at retry_max."""
    return timedelta(
        # The exponent is capped: a window failing for years would overflow a float.
        seconds=min(settings.retry_base * 2.0 ** min(max(attempts - 1, 0), 32), settings.retry_max)
    )


def until(now: datetime, lease_seconds: float) -> datetime:
    """When a claim taken or renewed at ``now`` runs out."""
    return now + timedelta(seconds=lease_seconds)
