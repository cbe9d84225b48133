"""Bearer tokens for scripts, bots and apps: random secrets, stored only as SHA-256 digests.

Tokens from ``kantine tokens create`` belong to no app; OAuth tokens (PROTOCOL.md C11) carry
their app and, for user grants, a refresh token. A revoked token stops working at once (C2,
SECURITY.md row 20): every request looks the digest up again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from node.auth.scopes import ScopeError, implies, parse_scopes
from node.db.engine import AsyncSession
from node.db.models import Account, OAuthApp, Token
from node.ids import new_id

__all__ = [
    "KNOWN_SCOPES",
    "Grant",
    "IssuedToken",
    "ScopeError",
    "TokenHolder",
    "authenticate",
    "digest",
    "find_token",
    "issue_token",
    "mint_token",
    "revoke_token",
]

#: Mastodon's top-level scopes; granular forms (``read:statuses``) are implied by them.
KNOWN_SCOPES = frozenset({"read", "write", "follow", "push", "admin:read", "admin:write"})


@dataclass(frozen=True)
class Grant:
    """Who a valid token speaks for, and what it may do."""

    account: Account
    scopes: frozenset[str]
    token_id: int
    #: The OAuth app the token was issued to; None for ``kantine tokens create`` tokens.
    app_id: int | None = None

    def allows(self, scope: str) -> bool:
        """``write:statuses`` is allowed by ``write`` or by itself; ``follow`` aliases (C14)."""
        return implies(self.scopes, scope)


@dataclass(frozen=True)
class TokenHolder:
    """Any valid token, a user's or an app's own (client credentials)."""

    token: Token
    account: Account | None
    app: OAuthApp | None


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: its secrets are shown once and never stored."""

    token_id: int
    access_token: str
    refresh_token: str | None
    scopes: tuple[str, ...]
    created_at: datetime


def digest(secret: str) -> str:
    """The SHA-256 digest under which a secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def mint_token(
    session: AsyncSession,
    *,
    account_id: int | None,
    app_id: int | None,
    scopes: tuple[str, ...],
    refresh: bool = False,
    name: str = "",
) -> IssuedToken:
    """Create a token row and return its secrets."""
    secret = secrets.token_urlsafe(32)
    refresh_secret = secrets.token_urlsafe(32) if refresh else None
    now = datetime.now(UTC)
    token = Token(
        id=new_id(),
        account_id=account_id,
        app_id=app_id,
        digest=digest(secret),
        refresh_digest=digest(refresh_secret) if refresh_secret else None,
        scopes=" ".join(scopes),
        name=name,
        created_at=now,
    )
    session.add(token)
    await session.flush()
    return IssuedToken(token.id, secret, refresh_secret, scopes, now)


async def issue_token(
    session: AsyncSession, account: Account, scopes: str, *, name: str = ""
) -> str:
    """Create an app-less token for *account* and return the secret (shown once, never stored)."""
    issued = await mint_token(
        session, account_id=account.id, app_id=None, scopes=parse_scopes(scopes), name=name
    )
    return issued.access_token


async def authenticate(session: AsyncSession, secret: str) -> Grant | None:
    """The user grant for a bearer *secret*, or None if unknown, revoked, app-only or suspended."""
    row = (
        await session.execute(
            select(Token, Account)
            .join(Account, Account.id == Token.account_id)
            .where(Token.digest == digest(secret), Token.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    token, account = row
    if account.suspended_at is not None:
        return None
    return Grant(
        account=account,
        scopes=frozenset(token.scopes.split()),
        token_id=token.id,
        app_id=token.app_id,
    )


async def find_token(session: AsyncSession, secret: str) -> TokenHolder | None:
    """Any unrevoked token by its secret, with its account and app (either may be None)."""
    row = (
        await session.execute(
            select(Token, Account, OAuthApp)
            .outerjoin(Account, Account.id == Token.account_id)
            .outerjoin(OAuthApp, OAuthApp.id == Token.app_id)
            .where(Token.digest == digest(secret), Token.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    token, account, app = row
    if account is not None and account.suspended_at is not None:
        return None
    return TokenHolder(token, account, app)


async def revoke_token(session: AsyncSession, token_id: int) -> None:
    """Revoke a token; it stops working at once."""
    await session.execute(
        update(Token)
        .where(Token.id == token_id, Token.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
