"""lists, conversations, filters, scheduled posts, muted threads (PROTOCOL.md C19–C21)

Revision ID: 0007_lists_filters
Revises: 0006_media
Create Date: 2026-11-26 03:20:00
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lists_filters"
down_revision: str | None = "0006_media"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False)


def _account() -> sa.Column[int]:
    return sa.Column("account_id", sa.BigInteger(), nullable=False)


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lists",
        _id(),
        _account(),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("replies_policy", sa.String(length=16), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lists_account_id", "lists", ["account_id"])
    op.create_table(
        "list_accounts",
        sa.Column("list_id", sa.BigInteger(), nullable=False),
        _account(),
        _when("created_at"),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("list_id", "account_id"),
    )
    op.create_index("ix_list_accounts_account_id", "list_accounts", ["account_id"])
    op.create_table(
        "conversations",
        _id(),
        _account(),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("participants", sa.Text(), nullable=False),
        sa.Column("last_status_id", sa.BigInteger(), nullable=True),
        sa.Column("unread", sa.Boolean(), nullable=False),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["last_status_id"], ["statuses.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "key", name="uq_conversations_account_key"),
    )
    op.create_index(
        "ix_conversations_account_last", "conversations", ["account_id", "last_status_id"]
    )
    op.create_table(
        "filters",
        _id(),
        _account(),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("contexts", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        _when("expires_at", nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_filters_account_id", "filters", ["account_id"])
    op.create_table(
        "filter_keywords",
        _id(),
        sa.Column("filter_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword", sa.String(length=255), nullable=False),
        sa.Column("whole_word", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["filter_id"], ["filters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_filter_keywords_filter_id", "filter_keywords", ["filter_id"])
    op.create_table(
        "filter_statuses",
        _id(),
        sa.Column("filter_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["filter_id"], ["filters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["status_id"], ["statuses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("filter_id", "status_id", name="uq_filter_statuses_pair"),
    )
    op.create_index("ix_filter_statuses_status_id", "filter_statuses", ["status_id"])
    op.create_table(
        "scheduled_statuses",
        _id(),
        _account(),
        _when("scheduled_at"),
        sa.Column("params_json", sa.Text(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scheduled_statuses_account_id", "scheduled_statuses", ["account_id"])
    op.create_index("ix_scheduled_statuses_scheduled_at", "scheduled_statuses", ["scheduled_at"])
    op.create_table(
        "thread_mutes",
        _id(),
        _account(),
        sa.Column("context", sa.String(length=2048), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "context", name="uq_thread_mutes_pair"),
    )
    with op.batch_alter_table("mutes") as batch:
        batch.add_column(
            sa.Column("hide_notifications", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("mutes") as batch:
        batch.drop_column("hide_notifications")
    op.drop_table("thread_mutes")
    op.drop_index("ix_scheduled_statuses_scheduled_at", table_name="scheduled_statuses")
    op.drop_index("ix_scheduled_statuses_account_id", table_name="scheduled_statuses")
    op.drop_table("scheduled_statuses")
    op.drop_index("ix_filter_statuses_status_id", table_name="filter_statuses")
    op.drop_table("filter_statuses")
    op.drop_index("ix_filter_keywords_filter_id", table_name="filter_keywords")
    op.drop_table("filter_keywords")
    op.drop_index("ix_filters_account_id", table_name="filters")
    op.drop_table("filters")
    op.drop_index("ix_conversations_account_last", table_name="conversations")
    op.drop_table("conversations")
    op.drop_index("ix_list_accounts_account_id", table_name="list_accounts")
    op.drop_table("list_accounts")
    op.drop_index("ix_lists_account_id", table_name="lists")
    op.drop_table("lists")
