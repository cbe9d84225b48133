"""bookmarks, pins, mutes and read markers (PROTOCOL.md C19–C21, C28)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 01:57:19.313307
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _pair_table(name: str, other: str, other_table: str) -> None:
    """A (account, other) table with a snowflake id, as bookmarks, pins and mutes are."""
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column(other, sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint([other], [f"{other_table}.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", other, name=f"uq_{name}_pair"),
    )
    op.create_index(f"ix_{name}_{other}", name, [other], unique=False)


def upgrade() -> None:
    op.create_table(
        "markers",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("timeline", sa.String(length=32), nullable=False),
        sa.Column("last_read_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "timeline"),
    )
    _pair_table("mutes", "target_account_id", "accounts")
    _pair_table("bookmarks", "status_id", "statuses")
    _pair_table("pins", "status_id", "statuses")


def downgrade() -> None:
    for name, other in (
        ("pins", "status_id"),
        ("bookmarks", "status_id"),
        ("mutes", "target_account_id"),
    ):
        op.drop_index(f"ix_{name}_{other}", table_name=name)
        op.drop_table(name)
    op.drop_table("markers")
