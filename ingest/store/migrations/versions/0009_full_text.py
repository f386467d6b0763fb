"""feeds read in full: feeds.full_text, and the article's text and status on entries

Revision ID: 0009_full_text
Revises: 0008_alerts
"""

import sqlalchemy as sa
from alembic import op

from ingest.store.schema import UTCDateTime

revision = "0009_full_text"
down_revision = "0008_alerts"
branch_labels = None
depends_on = None

_PENDING = sa.text("full_text_status = 'pending'")


def upgrade() -> None:
    # Plain ALTER TABLE, never batch mode: on SQLite that copies and drops the table, and
    # dropping feeds or entries cascades to entries and to the digests' records of them.
    op.add_column(
        "feeds",
        sa.Column("full_text", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("entries", sa.Column("full_text_html", sa.Text(), nullable=True))
    op.add_column("entries", sa.Column("full_text", sa.Text(), nullable=True))
    op.add_column("entries", sa.Column("full_text_status", sa.Text(), nullable=True))
    op.add_column("entries", sa.Column("full_text_at", UTCDateTime(), nullable=True))
    op.add_column(
        "entries", sa.Column("full_text_tries", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_index(
        "ix_entries_full_text_pending",
        "entries",
        ["feed_id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_entries_full_text_pending", table_name="entries")
    # SQLite drops a plain column in place since 3.35.
    columns = ("full_text_tries", "full_text_at", "full_text_status", "full_text", "full_text_html")
    for column in columns:
        op.drop_column("entries", column)
    op.drop_column("feeds", "full_text")
