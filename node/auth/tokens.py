"""Bearer tokens for scripts, bots and apps: random secrets, stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from node.db.engine import AsyncSession
from node.db.models import Account, Token
from node.ids import new_id

__all__ = ["KNOWN_SCOPES", "Grant", "ScopeError", "authenticate", "issue_token", "revoke_token"]

#: Mastodon's top-level scopes; granular forms (``read:statuses``) are implied by them.
KNOWN_SCOPES = frozenset({"read", "write", "follow", "push", "admin:read", "admin:write"})


class ScopeError(ValueError):
    """An unknown scope was asked for."""


@dataclass(frozen=True)
class Grant:
    """Who a valid token speaks for, and what it may do."""

    account: Account
    scopes: frozenset[str]
    token_id: int

    def allows(self, scope: str) -> bool:
        """``write:statuses`` is allowed by ``write`` or by itself."""
        return scope in self.scopes or scope.split(":", 1)[0] in self.scopes


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse_scopes(scopes: str) -> frozenset[str]:
    wanted = frozenset(s for s in scopes.replace(",", " ").split() if s)
    for scope in wanted:
        if scope not in KNOWN_SCOPES and scope.split(":", 1)[0] not in {"read", "write"}:
            raise ScopeError(f"unknown scope {scope!r}")
    if not wanted:
        raise ScopeError("at least one scope is needed")
    return wanted


async def issue_token(
    session: AsyncSession, account: Account, scopes: str, *, name: str = ""
) -> str:
    """Create a token for *account* and return the secret (shown once, never stored)."""
    parsed = _parse_scopes(scopes)
    secret = secrets.token_urlsafe(32)
    session.add(
        Token(
            id=new_id(),
            account_id=account.id,
            digest=_digest(secret),
            scopes=" ".join(sorted(parsed)),
            name=name,
        )
    )
    return secret


async def authenticate(session: AsyncSession, secret: str) -> Grant | None:
    """The grant for a bearer *secret*, or None if unknown, revoked or the account is suspended."""
    row = (
        await session.execute(
            select(Token, Account)
            .join(Account, Account.id == Token.account_id)
            .where(Token.digest == _digest(secret), Token.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    token, account = row
    if account.suspended_at is not None:
        return None
    return Grant(account=account, scopes=frozenset(token.scopes.split()), token_id=token.id)


async def revoke_token(session: AsyncSession, token_id: int) -> None:
    """Revoke a token; it stops working at once."""
    await session.execute(
        update(Token).where(Token.id == token_id).values(revoked_at=datetime.now(UTC))
    )
