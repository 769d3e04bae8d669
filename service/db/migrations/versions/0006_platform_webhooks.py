"""The platforms' webhooks: the events seen (so a replay decides nothing twice) and the payloads kept unread.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("claim", sa.String(36), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("platform", "event_key", name="uq_inbound_events_key"),
    )
    op.create_table(
        "webhook_unknown",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.UniqueConstraint("body_sha256", name="uq_webhook_unknown_body"),
    )
    op.create_index("ix_webhook_unknown_received_at", "webhook_unknown", ["received_at"])


def downgrade() -> None:
    op.drop_table("webhook_unknown")
    op.drop_table("inbound_events")
