"""Local accounts: people, bots and the instance actor, each with its own RSA key."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from activitypub.keys import (
    generate_private_key,
    load_private_key,
    private_key_to_pem,
    public_key_to_pem,
)
from node.auth.passwords import hash_password
from node.db.engine import AsyncSession
from node.db.models import Account
from node.federation.documents import Urls
from node.ids import new_id

__all__ = [
    "INSTANCE_USERNAME",
    "ROLES",
    "AccountError",
    "create_local_account",
    "ensure_instance_actor",
    "list_local_accounts",
    "local_account",
]

ROLES = ("admin", "moderator", "communications", "member")
#: The instance actor's row; the name cannot clash with a person's ([a-z0-9_] only, D6).
INSTANCE_USERNAME = "instance.actor"
_USERNAME = re.compile(r"[a-z0-9_]{1,30}")


class AccountError(ValueError):
    """An account cannot be created as asked."""


def _new_account(
    username: str,
    domain: str,
    urls: Urls,
    *,
    actor_type: str,
    uri: str,
    private_key_pem: str | None = None,
) -> Account:
    key = load_private_key(private_key_pem) if private_key_pem else generate_private_key()
    now = datetime.now(UTC)
    base = urls.actor(username)
    return Account(
        id=new_id(now),
        uri=uri,
        username=username,
        domain=domain,
        local=True,
        actor_type=actor_type,
        display_name=username,
        summary="",
        url=urls.profile(username) if actor_type != "Application" else urls.base,
        inbox_url=f"{uri}/inbox",
        shared_inbox_url=urls.shared_inbox,
        outbox_url=f"{uri}/outbox",
        followers_url=f"{base}/followers",
        following_url=f"{base}/following",
        featured_url=f"{base}/collections/featured",
        public_key_id=f"{uri}#main-key",
        public_key_pem=public_key_to_pem(key),
        private_key_pem=private_key_to_pem(key),
        created_at=now,
        updated_at=now,
    )


async def local_account(session: AsyncSession, domain: str, username: str) -> Account | None:
    """The local account *username* (case-insensitive), if any."""
    return (
        await session.execute(
            select(Account).where(
                Account.username == username.lower(),
                Account.domain == domain,
                Account.local.is_(True),
            )
        )
    ).scalar_one_or_none()


async def list_local_accounts(session: AsyncSession, domain: str) -> list[Account]:
    """This node's people and bots, by user name (the instance actor is not one of them)."""
    rows = await session.execute(
        select(Account)
        .where(
            Account.domain == domain,
            Account.local.is_(True),
            Account.username != INSTANCE_USERNAME,
        )
        .order_by(Account.username)
    )
    return list(rows.scalars())


async def create_local_account(
    session: AsyncSession,
    domain: str,
    urls: Urls,
    username: str,
    *,
    password: str | None = None,
    role: str = "member",
    bot: bool = False,
    display_name: str = "",
    private_key_pem: str | None = None,
) -> Account:
    """Create a person (or a bot, ``type: Service``) on this node.

    *private_key_pem* is a key made beforehand (a bulk import makes them in parallel).
    """
    username = username.lower()
    if not _USERNAME.fullmatch(username):
        raise AccountError("user names are 1–30 characters of a–z, 0–9 and _")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if await local_account(session, domain, username) is not None:
        raise AccountError(f"{username} already exists")
    account = _new_account(
        username,
        domain,
        urls,
        actor_type="Service" if bot else "Person",
        uri=urls.actor(username),
        private_key_pem=private_key_pem,
    )
    account.role = role
    account.display_name = display_name or username
    account.password_hash = hash_password(password) if password else None
    session.add(account)
    await session.flush()
    return account


async def ensure_instance_actor(session: AsyncSession, domain: str, urls: Urls) -> Account:
    """The instance actor (PROTOCOL.md D20), created on first use; signs our fetches."""
    account = await local_account(session, domain, INSTANCE_USERNAME)
    if account is None:
        account = _new_account(
            INSTANCE_USERNAME, domain, urls, actor_type="Application", uri=urls.instance_actor
        )
        account.display_name = domain
        session.add(account)
        await session.flush()
    return account
