"""Removals per author (keyed hash), for the repeat-offender policy; policy decisions on classifications.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "author_offences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("author_hash", sa.String(64), nullable=False),
        sa.Column("classification_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_author_offences_author", "author_offences", ["author_hash", "created_at"])
    op.create_index("ix_author_offences_classification_id", "author_offences", ["classification_id"])
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("policy", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("priority", sa.String(10), nullable=True))
        batch.add_column(sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("respond_by")
        batch.drop_column("priority")
        batch.drop_column("policy")
    op.drop_table("author_offences")
