"""Making a digest from the store, without sending it: a window's digest, a preview.

``Delivery`` says where digests go (the SMTP server, the digest settings, the web pages'
address); ``compose`` reads a window's entries and builds the digest; ``preview`` does so for
the next window up to now. Whatever goes wrong making one subscriber's digest becomes that
subscriber's ``DigestFailed`` (``own``); the store failing for everyone stays a StoreError.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any, TypeVar

from sqlalchemy import Engine

from digests.digest import Digest, build_digest
from digests.due import plan_all
from digests.links import Links, links
from digests.models import DigestEntry, Window
from digests.settings import DigestSettings, SmtpSettings, Subscriber, WebSettings
from ingest.errors import BroadsheetError, DeliveryError, StoreError
from ingest.full_text import lead_excerpt, without_headline
from ingest.normalize import EXCERPT_LENGTH
from ingest.store import deliveries
from ingest.store.database import failures as store_failures
from ingest.store.database import is_outage

T = TypeVar("T")


class DigestFailed(DeliveryError):
    """One digest could not be planned or made: a bug, a template value, a row the store refused."""


@dataclass(frozen=True)
class Delivery:
    """Where digests go: the SMTP server, the digest settings and the web pages' address.

    ``weights`` maps a feed's config URL to its ``[[feeds]] weight``, for ranking.
    """

    smtp: SmtpSettings
    digests: DigestSettings
    web: WebSettings = field(default_factory=WebSettings)
    weights: Mapping[str, float] = field(default_factory=dict)

    @property
    def unsubscribe_address(self) -> str:
        """Where readers write to unsubscribe: [digests].unsubscribe, else the From address."""
        return parseaddr(self.digests.unsubscribe or self.smtp.sender)[1]

    @property
    def unsubscribe(self) -> str:
        """The mailto: URL for the List-Unsubscribe header."""
        return f"mailto:{self.unsubscribe_address}?subject=unsubscribe"

    def links(self, subscriber: Subscriber) -> Links | None:
        """The subscriber's signed web links, when [web] base_url is set and they have an id."""
        if not self.web.enabled or not subscriber.public_id:
            return None
        return links(self.web.base_url, self.web.secret, subscriber.public_id)

    @property
    def domain(self) -> str:
        """The domain of the From address, for Message-IDs."""
        return parseaddr(self.smtp.sender)[1].rpartition("@")[2] or "broadsheet.invalid"


def due_windows(
    engine: Engine, subscribers: Sequence[Subscriber], now: datetime, *, force: bool = False
) -> list[tuple[Subscriber, Window]]:
    """Each subscriber's window that is due now, from one read of the ledger."""
    found = deliveries.standings(engine, [s.key for s in subscribers])
    planned = plan_all(found, subscribers, now, force=force)
    if planned.failures:
        raise planned.failures[0][1]
    return [(due.subscriber, due.window) for due in planned.due]


def preview(engine: Engine, delivery: Delivery, subscriber: Subscriber, now: datetime) -> Digest:
    """The subscriber's next digest up to now, unsealed entries included; records nothing.

    Whatever goes wrong making it is a DeliveryError (a StoreError when the store fails).
    """
    with store_failures("previewing a digest", "nothing was recorded"):
        return attempt(lambda: _preview(engine, delivery, subscriber, now))


def _preview(engine: Engine, delivery: Delivery, subscriber: Subscriber, now: datetime) -> Digest:
    ((_, window),) = due_windows(engine, [subscriber], now, force=True)
    return compose(engine, delivery, subscriber, window)


def attempt(action: Callable[[], T]) -> T:
    """Run ``action``; an unexpected error becomes a DigestFailed that says what failed."""
    try:
        return action()
    except Exception as exc:
        found = own(exc)
        if found is None or found is exc:
            raise
        raise found from exc


def compose(engine: Engine, delivery: Delivery, subscriber: Subscriber, window: Window) -> Digest:
    """The digest of ``window`` for ``subscriber``, read from the store (records nothing)."""
    rows = deliveries.window_entries(engine, window.after, window.upto, window.start)
    return build_digest(
        [entry_of(row) for row in rows],
        subscriber,
        window,
        delivery.digests,
        unsubscribe=delivery.unsubscribe_address,
        weights=delivery.weights,
    )


def message_id(subscriber: str, start: datetime, domain: str) -> str:
    """The Message-ID for a subscriber's window: the same on every attempt."""
    digest = hashlib.sha256(f"{subscriber}|{start.isoformat()}".encode()).hexdigest()[:24]
    return f"<digest.{digest}@{domain}>"


def own(exc: Exception) -> DeliveryError | None:
    """``exc`` as one subscriber's failure; None when it is the store failing for everyone."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, StoreError) or is_outage(exc):
        return None
    if isinstance(exc, BroadsheetError):
        return DigestFailed(str(exc))
    first = (str(exc).strip().splitlines() or [""])[0]
    return DigestFailed(
        f"the digest could not be made: {type(exc).__name__}: {first}; it is retried with "
        "backoff (check this subscriber's settings and the templates)"
    )


def entry_of(row: Any) -> DigestEntry:
    """A stored entry row (as ``deliveries.entry_query`` reads it) as a DigestEntry.

    An entry whose article was read in full carries its text, and its excerpt is the article's
    opening when the feed's own summary says less.
    """
    full_text = without_headline(row.full_text or "", row.title)
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
        excerpt=lead_excerpt(row.excerpt, full_text, EXCERPT_LENGTH),
        image=row.image,
        image_width=row.image_width,
        tags=tuple(row.tags or ()),
        full_text=full_text,
    )
