"""index deliveries per inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:36:12.243450
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_inbox_state_activity",
            ["inbox_url", "state", "activity_id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_inbox_state_activity")
