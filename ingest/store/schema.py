"""The store's tables (SQLAlchemy Core). Changes here need a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("config_url", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("title", Text),
    Column("site_url", Text),
    Column("tags", JSON, nullable=False, default=list),
    Column("interval", Float),
    Column("declared_interval", Float),  # seconds the feed itself asks between polls
    Column("enabled", Boolean, nullable=False, default=True),
    Column("in_config", Boolean, nullable=False, default=True),
    Column("disabled_reason", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("last_fetch_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    # When the failures in a row began (NULL while the feed works): what alerts measure.
    Column("failing_since", UTCDateTime),
    Column("next_poll_at", UTCDateTime),
    Column("warning", Text),
    Column("duplicates", Integer, nullable=False, default=0),
    # Stored entries overwritten by an entry with their id but another title and link, in all.
    Column("replaced", Integer, nullable=False, default=0, server_default="0"),
    # [[feeds]] full_text: new entries get their article page's text (ingest/articles.py).
    Column("full_text", Boolean, nullable=False, default=False, server_default=false()),
    # The items of the body last parsed, as [key, identity] pairs (ingest/splice.py): the next
    # body's items with a known key are not parsed again. NULL: parse the next body whole.
    Column("item_keys", JSON),
    Column("lease_owner", String(120)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_feeds_due", feeds.c.enabled, feeds.c.next_poll_at)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("identity", Text, nullable=False),
    Column("guid", Text),
    Column("title", Text, nullable=False),
    Column("link", Text),
    Column("authors", JSON, nullable=False, default=list),
    Column("published_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("summary_html", Text, nullable=False, default=""),
    Column("content_html", Text, nullable=False, default=""),
    Column("excerpt", Text, nullable=False, default=""),
    Column("image", Text),
    Column("image_width", Integer),  # pixels, when known: a digest never shows it wider
    Column("tags", JSON, nullable=False, default=list),
    Column("enclosures", JSON, nullable=False, default=list),
    Column("content_hash", String(64), nullable=False),
    # Published long before its feed's first poll: stored, but left out of digests.
    Column("backlog", Boolean, nullable=False, default=False, server_default=false()),
    # The batch a digest run sealed this entry into (NULL until then); windows span seals.
    Column("seal", Integer),
    # Which rule gave ``identity``: 1 before schema 0005 (a guid-less entry by its link alone,
    # the rows a migrated store holds), 2 since (link, title and date; see ingest.normalize).
    Column("identity_rule", Integer, nullable=False, default=2, server_default="1"),
    # The article page's text, for feeds read in full; never part of content_hash. Status:
    # NULL (not asked for), "pending" (a round fetches it; ``full_text_tries`` failed so far),
    # "ok", or why the feed's summary stands instead ("404", "too large", "no article found"...).
    Column("full_text_html", Text),  # sanitized
    Column("full_text", Text),  # plain, paragraphs apart by a blank line
    Column("full_text_status", Text),
    Column("full_text_at", UTCDateTime),  # when it was last tried
    Column("full_text_tries", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("feed_id", "identity", name="uq_entries_feed_identity"),
)
Index("ix_entries_first_seen", entries.c.first_seen_at)
Index("ix_entries_seal", entries.c.seal)


# Partial indexes: (name, column of ``entries``, condition), the condition in SQL that SQLite and
# PostgreSQL read alike. Created by migrations 0002 and 0009, and by ``partial_index_ddl`` for a
# new store.
PARTIAL_INDEXES = (
    ("ix_entries_full_text_pending", "feed_id", "full_text_status = 'pending'"),
    ("ix_entries_unsealed", "id", "seal IS NULL"),
)


def declare_partial_indexes() -> None:
    """Add the partial indexes (``PARTIAL_INDEXES``) to ``metadata``.

    They are declared on demand, for the migrations' environment: a dialect-specific ``where``
    makes SQLAlchemy import that dialect, PostgreSQL's included (about 50 ms), and every command
    importing this module would pay it.
    """
    if "ix_entries_unsealed" in {index.name for index in entries.indexes}:
        return
    for name, column, condition in PARTIAL_INDEXES:
        where = text(condition)
        Index(name, entries.c[column], postgresql_where=where, sqlite_where=where)


def partial_index_ddl() -> list[str]:
    """``CREATE INDEX`` statements for a store created at the head from ``metadata``: those of
    ``PARTIAL_INDEXES`` that ``metadata`` does not declare (it does once migrations have run)."""
    declared = {index.name for index in entries.indexes}
    return [
        f"CREATE INDEX {name} ON entries ({column}) WHERE {condition}"
        for name, column, condition in PARTIAL_INDEXES
        if name not in declared
    ]


# One row: the last seal number handed out. Taking the next one locks the row, so sealers run
# one after another and each sees every earlier sealer's work.
seals = Table(
    "seals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)
# The rows a new store starts with (migration 0002 writes them into an older one).
INITIAL_ROWS = ((seals, {"id": 1, "n": 0}),)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber", Text, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column(
        "state", String(16), nullable=False
    ),  # pending | sent | skipped | failed | abandoned | waiting
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_attempt_at", UTCDateTime),
    Column("next_attempt_at", UTCDateTime),
    Column("message_id", Text),
    Column("entries", Integer, nullable=False, default=0),
    Column("channels", JSON, nullable=False, default=list),
    Column("claimed_by", String(120)),
    Column("claimed_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # The last seal the window holds (NULL on rows older than seals); fixed at the first attempt.
    Column("seal_end", Integer),
    # Why a window was skipped without a digest ("unsubscribed ...", "paused until ...").
    Column("note", Text),
    # The digest as sent: its groups, sections and items by entry id (see digests/edition.py).
    Column("edition", JSON),
    UniqueConstraint("subscriber", "window_start", name="uq_deliveries_window"),
)

# Which entries each delivered digest carried, in reading order.
delivery_entries = Table(
    "delivery_entries",
    metadata,
    Column(
        "delivery_id",
        Integer,
        ForeignKey("deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
)
Index("ix_delivery_entries_entry", delivery_entries.c.entry_id)

# Everyone the config invites, and what each chose on the web (NULL: the config's value).
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", Text, nullable=False, unique=True),  # lower-cased: the ledger's name
    Column("address", Text, nullable=False),  # as the config writes it
    Column("public_id", String(32), nullable=False, unique=True),  # random; what links carry
    Column("in_config", Boolean, nullable=False, default=True),
    Column("state", String(16), nullable=False, default="active"),  # active | unsubscribed
    Column("unsubscribed_at", UTCDateTime),
    Column("unsubscribed_via", Text),  # one-click | web | command
    Column("paused_until", UTCDateTime),
    Column("schedule", Text),
    Column("timezone", Text),
    Column("tags", JSON),
    Column("include", JSON),
    Column("exclude", JSON),
    Column("email_enabled", Boolean),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

workers = Table(
    "workers",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_round_at", UTCDateTime),
    Column("last_round", JSON),
    Column("last_error", Text),  # why the last failed round failed
    Column("last_failed_at", UTCDateTime),
)

# The alerts ledger: one row per (recipient, alert), inserted (claimed) before the message that
# carries it is sent, so that two processes or a retry never announce the same thing twice.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", Text, nullable=False),  # lower-cased address
    Column("key", Text, nullable=False),  # what is announced: kind, feed, spell (digests/alerts.py)
    Column("kind", String(16), nullable=False),  # failing | recovered | quiet | active
    Column("feed_url", Text, nullable=False),  # the feed's config URL
    Column("feed_title", Text, nullable=False),
    Column("detail", Text, nullable=False, default=""),  # the error as it was first seen
    Column("since", UTCDateTime, nullable=False),  # when the spell began
    Column("until", UTCDateTime),  # when it ended (recovered, active again)
    Column("last_success", UTCDateTime),  # the feed's, when the alert was decided
    Column("state", String(16), nullable=False),  # pending | sent | failed | abandoned
    Column("attempts", Integer, nullable=False, default=0),
    Column("message_id", Text),
    Column("last_error", Text),
    Column("next_attempt_at", UTCDateTime),
    Column("claimed_by", String(120)),
    Column("claimed_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("recipient", "key", name="uq_alerts_recipient_key"),
)
Index("ix_alerts_feed", alerts.c.feed_url)
