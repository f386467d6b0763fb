"""The application's wiring: settings loaded once, the store opened once, passed down."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from broadsheet import config, memory
from broadsheet.config import Settings

if TYPE_CHECKING:  # imported where used: `broadsheet check` loads the config only
    from sqlalchemy import Engine

    from digests.deliver import Delivery

# Stores that commands of this process opened; closed when the command ends (``close_opened``),
# so that their connections (a PostgreSQL server's, SQLite's file locks) do not outlive it even
# when the command runs inside a longer process.
_OPENED: list[App] = []


def close_opened() -> None:
    """Close every store a command opened with ``App.open``."""
    while _OPENED:
        _OPENED.pop().close()


class App:
    """Settings, and the store (opened, upgraded and synced with the config on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> App:
        """Read and validate the config only (no store, no network)."""
        return cls(config.load(path))

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> App:
        """Read the config and open the store now, so that store errors surface here."""
        application = cls.load(path)
        _ = application.engine
        _OPENED.append(application)
        return application

    @property
    def engine(self) -> Engine:
        """The store, upgraded to the current schema, with the config's feeds and people synced in."""
        if self._engine is None:
            from ingest.store import feeds as stored_feeds
            from ingest.store import subscribers as stored_subscribers
            from ingest.store.database import failures, open_store

            engine = open_store(self.settings.storage_url)
            with failures("adding the config's feeds to the store", "nothing was changed"):
                stored_feeds.sync(engine, self.settings.feeds, datetime.now(UTC))
            with failures("adding the config's subscribers to the store", "nothing was changed"):
                stored_subscribers.sync(engine, self.settings.subscribers, datetime.now(UTC))
            self._engine = engine
            memory.settle("store")  # SQLAlchemy, the schema, the engine: as long as the process
        return self._engine

    @property
    def delivery(self) -> Delivery:
        """Where digests go, from [smtp], [digests], [web] and the feeds' weights."""
        from digests.deliver import Delivery

        weights = {feed.url: feed.weight for feed in self.settings.feeds}
        return Delivery(self.settings.smtp, self.settings.digests, self.settings.web, weights)

    def close(self) -> None:
        """Release the store's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
