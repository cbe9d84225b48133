"""Changing a password: by the person (current password required) or by an admin's reset link.

A reset link carries a random 256-bit token; the table keeps only its SHA-256, so a copy of
the database opens nothing (ASVS 2.5). A link works once and for :data:`RESET_LIFETIME`;
issuing a new one voids the older ones. A new password ends every other way in: the other
web sessions and the OAuth and script tokens (ASVS 3.3.3, SECURITY.md row 20). After a reset
no session is kept at all, since whoever had the old password may hold one.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, select, update

from node.auth.passwords import hash_password, verify_password
from node.auth.tokens import digest
from node.db.engine import AsyncSession
from node.db.models import Account, PasswordReset, Token, WebSession
from node.ids import new_id

__all__ = [
    "RESET_LIFETIME",
    "RESET_PATH",
    "PasswordChangeError",
    "PendingReset",
    "change_password",
    "complete_reset",
    "end_sign_ins",
    "find_reset",
    "issue_reset",
    "reset_url",
]

RESET_LIFETIME = timedelta(hours=24)
#: Where the link's page lives; the token follows as the last path segment.
RESET_PATH = "/password/reset"
_MAX_TOKEN = 128


class PasswordChangeError(ValueError):
    """The password cannot be changed as asked; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PendingReset:
    """A reset link that still works, and whose password it resets."""

    reset_id: int
    account_id: int
    username: str
    expires_at: datetime


def reset_url(base_url: str, token: str) -> str:
    """The link to hand to the person."""
    return f"{base_url}{RESET_PATH}/{token}"


async def issue_reset(
    session: AsyncSession,
    account: Account,
    *,
    issued_by: Account | None = None,
    now: datetime | None = None,
) -> str:
    """A new reset token for *account* (older unused ones stop working); shown once."""
    if not account.local:
        raise PasswordChangeError("account", "Only this node's people have a password here.")
    now = now or datetime.now(UTC)
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.account_id == account.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            id=new_id(),
            account_id=account.id,
            digest=digest(token),
            issued_by_id=issued_by.id if issued_by is not None else None,
            expires_at=now + RESET_LIFETIME,
            created_at=now,
        )
    )
    await session.flush()
    return token


async def find_reset(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> PendingReset | None:
    """The unused, unexpired reset behind *token*, for a live account; else None."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    now = now or datetime.now(UTC)
    row = (
        await session.execute(
            select(PasswordReset, Account)
            .join(Account, Account.id == PasswordReset.account_id)
            .where(PasswordReset.digest == digest(token))
        )
    ).first()
    if row is None:
        return None
    reset, account = row
    if reset.used_at is not None or reset.expires_at <= now or account.suspended_at is not None:
        return None
    return PendingReset(reset.id, account.id, account.username, reset.expires_at)


def _check_new(password: str, confirmation: str) -> None:
    if password != confirmation:
        raise PasswordChangeError("confirmation", "The two passwords differ.")


async def _hash(password: str) -> str:
    try:
        return await asyncio.to_thread(hash_password, password)
    except ValueError as exc:  # PasswordPolicyError: too short
        raise PasswordChangeError("password", str(exc).capitalize() + ".") from None


async def end_sign_ins(
    session: AsyncSession, account_id: int, *, keep_session_id: int | None = None
) -> None:
    """End the account's web sessions (except *keep_session_id*) and revoke its tokens."""
    now = datetime.now(UTC)
    sessions = update(WebSession).where(
        WebSession.account_id == account_id, WebSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        sessions = sessions.where(WebSession.id != keep_session_id)
    await session.execute(
        sessions.values(revoked_at=now).execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Token)
        .where(Token.account_id == account_id, Token.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def complete_reset(
    session: AsyncSession, token: str, password: str, confirmation: str
) -> int:
    """Set the new password through a reset link; the account id. Ends every sign-in."""
    pending = await find_reset(session, token)
    if pending is None:
        raise PasswordChangeError("token", "This reset link has expired or was already used.")
    _check_new(password, confirmation)
    password_hash = await _hash(password)
    # Claim the link atomically: of two submissions racing with one link, one wins.
    claimed = cast(
        "CursorResult[tuple[()]]",
        await session.execute(
            update(PasswordReset)
            .where(PasswordReset.id == pending.reset_id, PasswordReset.used_at.is_(None))
            .values(used_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        raise PasswordChangeError("token", "This reset link has expired or was already used.")
    await session.execute(
        update(Account)
        .where(Account.id == pending.account_id)
        .values(password_hash=password_hash, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    await end_sign_ins(session, pending.account_id)
    return pending.account_id


async def change_password(
    session: AsyncSession,
    account_id: int,
    current: str,
    password: str,
    confirmation: str,
    *,
    keep_session_id: int | None = None,
) -> None:
    """The person changes their own password; other sessions and all tokens end."""
    account = await session.get(Account, account_id)
    if account is None or not account.local:
        raise PasswordChangeError("current", "This account has no password here.")
    if not await asyncio.to_thread(verify_password, account.password_hash, current):
        raise PasswordChangeError("current", "The current password is wrong.")
    _check_new(password, confirmation)
    if password == current:
        raise PasswordChangeError("password", "The new password is the same as the current one.")
    account.password_hash = await _hash(password)
    account.updated_at = datetime.now(UTC)
    await end_sign_ins(session, account_id, keep_session_id=keep_session_id)
