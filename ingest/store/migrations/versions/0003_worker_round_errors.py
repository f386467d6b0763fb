"""workers record their failed poll rounds

Revision ID: 0003_worker_errors
Revises: 0002_seals
"""

import sqlalchemy as sa
from alembic import op

from ingest.store.schema import UTCDateTime

revision = "0003_worker_errors"
down_revision = "0002_seals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_failed_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("last_failed_at")
        batch_op.drop_column("last_error")
