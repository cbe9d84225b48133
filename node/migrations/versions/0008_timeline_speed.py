"""indexes for the home timeline: following counts and the viewer's boosts

Revision ID: 0008_timeline_speed
Revises: 0007_lists_filters
Create Date: 2026-11-26 03:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "0008_timeline_speed"
down_revision: str | None = "0007_lists_filters"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # An account's following count walks (account_id, state) without reading the rows.
    op.create_index("ix_follows_account_state", "follows", ["account_id", "state"])
    # "Did the viewer boost any of these 40 statuses?": one probe per status.
    op.create_index("ix_statuses_account_reblog", "statuses", ["account_id", "reblog_of_id"])


def downgrade() -> None:
    op.drop_index("ix_statuses_account_reblog", table_name="statuses")
    op.drop_index("ix_follows_account_state", table_name="follows")
