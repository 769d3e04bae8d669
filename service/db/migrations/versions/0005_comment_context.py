"""Where a comment lives: its address on the platform, and the post it answers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("url", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("parent_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("parent_text")
        batch.drop_column("parent_id")
        batch.drop_column("url")
