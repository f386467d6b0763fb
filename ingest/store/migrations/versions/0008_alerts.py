"""alerts: when a feed's failures began, and the ledger of alerts mailed to the admin

Revision ID: 0008_alerts
Revises: 0007_subscribers
"""

import sqlalchemy as sa
from alembic import op

from ingest.store.schema import UTCDateTime

revision = "0008_alerts"
down_revision = "0007_subscribers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: on SQLite a batch (copy and move) of feeds would cascade to entries.
    op.add_column("feeds", sa.Column("failing_since", UTCDateTime(), nullable=True))
    # A feed failing now began to fail after its last success (or, never having worked, when it
    # was added): the nearest the store knows.
    op.execute(
        "UPDATE feeds SET failing_since = COALESCE(last_success_at, created_at) "
        "WHERE consecutive_failures > 0"
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("feed_url", sa.Text(), nullable=False),
        sa.Column("feed_title", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("last_success", UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(120), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("recipient", "key", name="uq_alerts_recipient_key"),
    )
    op.create_index("ix_alerts_feed", "alerts", ["feed_url"])


def downgrade() -> None:
    op.drop_index("ix_alerts_feed", table_name="alerts")
    op.drop_table("alerts")
    # DROP COLUMN in place (SQLite 3.35+): never a batch copy of feeds, which cascades entries.
    op.drop_column("feeds", "failing_since")
