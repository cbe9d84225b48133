"""What an admin does to this node's people: create, suspend, change roles, issue reset links.

A suspended person cannot sign in anywhere: the web session lookup, the password check of the
OAuth pages and the bearer-token lookup all refuse a suspended account, and their open streams
close; their web sessions are ended too. Suspension is undone by :func:`set_suspended` with
``False`` (tokens they had work again; sessions do not come back). An admin cannot suspend
or demote themselves, so a node never loses its last way in by a slip of the mouse.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from node.auth.passwords import hash_password
from node.db.engine import AsyncSession
from node.db.models import Account, TwoFactor, WebSession
from node.federation.documents import Urls
from node.services.accounts import (
    ROLES,
    AccountError,
    create_local_account,
    list_local_accounts,
)

__all__ = ["UserAdminError", "UserRow", "create_user", "list_users", "set_role", "set_suspended"]


class UserAdminError(ValueError):
    """The admin's request cannot be carried out; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class UserRow:
    """One line of the users page."""

    id: int
    username: str
    display_name: str
    role: str
    bot: bool
    suspended: bool
    two_factor: bool
    created_at: datetime


async def list_users(session: AsyncSession, domain: str) -> list[UserRow]:
    """This node's people and bots, by user name."""
    accounts = await list_local_accounts(session, domain)
    with_2fa = set(
        await session.scalars(select(TwoFactor.account_id).where(TwoFactor.enabled_at.is_not(None)))
    )
    return [
        UserRow(
            a.id,
            a.username,
            a.display_name,
            a.role,
            a.actor_type == "Service",
            a.suspended_at is not None,
            a.id in with_2fa,
            a.created_at,
        )
        for a in accounts
    ]


async def create_user(
    session: AsyncSession,
    domain: str,
    urls: Urls,
    username: str,
    *,
    password: str,
    role: str,
    display_name: str = "",
) -> Account:
    """A new person; an empty password leaves them to sign in through a reset link."""
    if len(display_name) > 100:
        raise UserAdminError("display_name", "The display name is longer than 100 characters.")
    if role not in ROLES:
        raise UserAdminError("role", f"The role must be one of {', '.join(ROLES)}.")
    if password:
        try:  # checked and hashed off the event loop, then handed over ready
            password_hash = await asyncio.to_thread(hash_password, password)
        except ValueError as exc:
            raise UserAdminError("password", str(exc).capitalize() + ".") from None
    try:
        account = await create_local_account(
            session, domain, urls, username, role=role, display_name=display_name.strip()
        )
    except AccountError as exc:
        raise UserAdminError("username", str(exc).capitalize() + ".") from None
    if password:
        account.password_hash = password_hash
    await session.flush()
    return account


async def _target(session: AsyncSession, domain: str, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None or not account.local or account.domain != domain:
        raise UserAdminError("account", "There is no such person on this node.")
    if account.actor_type == "Application":
        raise UserAdminError("account", "The node's own actor cannot be changed.")
    return account


async def set_suspended(
    session: AsyncSession, domain: str, admin_id: int, account_id: int, *, suspended: bool
) -> Account:
    """Suspend (every sign-in ends at once) or unsuspend a person."""
    account = await _target(session, domain, account_id)
    if account.id == admin_id and suspended:
        raise UserAdminError("account", "You cannot suspend yourself.")
    now = datetime.now(UTC)
    if suspended and account.suspended_at is None:
        account.suspended_at = now
        await session.execute(
            update(WebSession)
            .where(WebSession.account_id == account.id, WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    elif not suspended:
        account.suspended_at = None
    await session.flush()
    return account


async def set_role(
    session: AsyncSession, domain: str, admin_id: int, account_id: int, role: str
) -> Account:
    """Give a person another role (admin, moderator, communications, member)."""
    if role not in ROLES:
        raise UserAdminError("role", f"The role must be one of {', '.join(ROLES)}.")
    account = await _target(session, domain, account_id)
    if account.id == admin_id and role != "admin":
        raise UserAdminError("role", "You cannot take away your own admin role.")
    account.role = role
    await session.flush()
    return account
