"""Join the two lines of revisions (OAuth, and everything since 0004) into one head.

Revision ID: 0012_one_head
Revises: 0003_oauth, 0011_profile_fields
"""

from __future__ import annotations

revision: str = "0012_one_head"
down_revision: tuple[str, ...] = ("0003_oauth", "0011_profile_fields")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: a merge point only."""


def downgrade() -> None:
    """Nothing to change: a merge point only."""
