"""media attachments, avatars and headers; media kept in the edit history (PROTOCOL.md C24)

Revision ID: 0006_media
Revises: 0005
Create Date: 2026-11-26 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_media"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "media_attachments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=64), nullable=True),
        sa.Column("preview_name", sa.String(length=64), nullable=True),
        sa.Column("remote_url", sa.String(length=2048), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("preview_width", sa.Integer(), nullable=True),
        sa.Column("preview_height", sa.Integer(), nullable=True),
        sa.Column("blurhash", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("focus_x", sa.Float(), nullable=False),
        sa.Column("focus_y", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["status_id"], ["statuses.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_name"),
    )
    op.create_index("ix_media_attachments_account_id_id", "media_attachments", ["account_id", "id"])
    op.create_index("ix_media_attachments_status_id", "media_attachments", ["status_id"])
    with op.batch_alter_table("status_edits") as batch:
        batch.add_column(
            sa.Column("attachments_json", sa.Text(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("status_edits") as batch:
        batch.drop_column("attachments_json")
    op.drop_index("ix_media_attachments_status_id", table_name="media_attachments")
    op.drop_index("ix_media_attachments_account_id_id", table_name="media_attachments")
    op.drop_table("media_attachments")
