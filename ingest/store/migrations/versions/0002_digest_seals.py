"""digest seals: entries.seal, the seals counter, deliveries.seal_end

Revision ID: 0002_seals
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_seals"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal", sa.Integer(), nullable=True))
    # Every entry stored so far is sealed as 0: the windows already sent (by first-seen time)
    # hold what they held, and the next window's time bound picks up the rest exactly once.
    op.execute("UPDATE entries SET seal = 0")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_seal", ["seal"], unique=False)
        batch_op.create_index(
            "ix_entries_unsealed",
            ["id"],
            unique=False,
            postgresql_where=sa.text("seal IS NULL"),
            sqlite_where=sa.text("seal IS NULL"),
        )
    op.create_table(
        "seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO seals (id, n) VALUES (1, 0)")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal_end", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("seal_end")
    op.drop_table("seals")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_unsealed")
        batch_op.drop_index("ix_entries_seal")
        batch_op.drop_column("seal")
