"""feeds.item_keys: the keys of the items of the body last parsed

Revision ID: 0010_item_hashes
Revises: 0009_full_text
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_item_hashes"
down_revision = "0009_full_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, never batch mode (see 0009): NULL parses each feed's next body whole.
    op.add_column("feeds", sa.Column("item_keys", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("feeds", "item_keys")
