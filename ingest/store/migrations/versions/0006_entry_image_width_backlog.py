"""entries: the lead image's width, and the backlog flag of a new feed's old items

Revision ID: 0006_image_width_backlog
Revises: 0005_entry_identity
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_image_width_backlog"
down_revision = "0005_entry_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries stored before are no backlog: they were offered to digests already.
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_width", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("backlog", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("backlog")
        batch_op.drop_column("image_width")
