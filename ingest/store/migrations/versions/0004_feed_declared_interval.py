"""feeds.declared_interval: the minimum interval a feed declares (<ttl>, sy:updatePeriod)

Revision ID: 0004_declared_interval
Revises: 0003_worker_errors
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_declared_interval"
down_revision = "0003_worker_errors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declared_interval", sa.Float(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies and drops the feeds table, and dropping it would
    # cascade to every entry. SQLite drops a plain column in place since 3.35.
    op.drop_column("feeds", "declared_interval")
