"""entry identity: entries.identity_rule, feeds.replaced

Revision ID: 0003_entry_identity
Revises: 0002_seals
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_entry_identity"
down_revision = "0002_seals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every entry stored so far got its identity under rule 1 (a guid-less entry by its link
    # alone). The first poll that meets such an entry again finds it by that old identity and
    # moves it to the new one, so nothing is stored twice and nothing is lost.
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identity_rule", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaced", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("replaced")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("identity_rule")
