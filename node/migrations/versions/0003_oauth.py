"""oauth apps, authorization codes and app tokens

Revision ID: 0003_oauth
Revises: 0002
Create Date: 2026-11-26 01:27:08.698917
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_oauth"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:

    op.create_table(
        "oauth_apps",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("website", sa.String(length=2048), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=1024), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("scopes", sa.String(length=1024), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["oauth_apps.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_codes_app_id"), ["app_id"], unique=False)

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("refresh_digest", sa.String(length=64), nullable=True))
        batch_op.alter_column("account_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column(
            "scopes",
            existing_type=sa.String(length=255),
            type_=sa.String(length=1024),
            existing_nullable=False,
        )
        batch_op.create_index(batch_op.f("ix_tokens_app_id"), ["app_id"], unique=False)
        batch_op.create_unique_constraint("uq_tokens_refresh_digest", ["refresh_digest"])
        batch_op.create_foreign_key(
            "fk_tokens_app_id_oauth_apps", "oauth_apps", ["app_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:

    op.execute("DELETE FROM tokens WHERE account_id IS NULL")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tokens_app_id_oauth_apps", type_="foreignkey")
        batch_op.drop_constraint("uq_tokens_refresh_digest", type_="unique")
        batch_op.drop_index(batch_op.f("ix_tokens_app_id"))
        batch_op.alter_column(
            "scopes",
            existing_type=sa.String(length=1024),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
        batch_op.alter_column("account_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("refresh_digest")
        batch_op.drop_column("app_id")

    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_codes_app_id"))

    op.drop_table("oauth_codes")
    op.drop_table("oauth_apps")
