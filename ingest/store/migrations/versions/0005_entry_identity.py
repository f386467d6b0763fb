"""entry identity: entries.identity_rule, feeds.replaced

Revision ID: 0005_entry_identity
Revises: 0004_declared_interval
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_entry_identity"
down_revision = "0004_declared_interval"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite 3.35+ drops columns): a batch copy of feeds on
# SQLite would drop the old table, and with foreign keys on that deletes every entry.


def upgrade() -> None:
    # Every entry stored so far got its identity under rule 1 (a guid-less entry by its link
    # alone). The first poll that meets such an entry again finds it by that old identity and
    # moves it to the new one, so nothing is stored twice and nothing is lost.
    op.add_column(
        "entries", sa.Column("identity_rule", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column("feeds", sa.Column("replaced", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("feeds", "replaced")
    op.drop_column("entries", "identity_rule")
