"""A subscriber's past editions read back from the store, as they were sent."""

from __future__ import annotations

from sqlalchemy import Engine

from digests import edition as recorded
from digests.compose import entry_of
from digests.digest import Digest
from digests.models import Window
from digests.settings import DigestSettings, Subscriber
from ingest.store import editions


def restored(
    engine: Engine, settings: DigestSettings, subscriber: Subscriber, delivery_id: int
) -> Digest | None:
    """The digest ``delivery_id`` carried to ``subscriber``; None when it is not theirs."""
    row = editions.edition(engine, subscriber.key, delivery_id)
    if row is None or row.record is None:
        return None
    stored = editions.entry_rows(engine, recorded.entry_ids(row.record))
    found = {entry.id: entry_of(entry) for entry in stored}
    window = Window(row.window_start, row.window_end)
    return recorded.restore(row.record, found, subscriber, window, settings.title)
