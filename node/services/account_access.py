"""What a person can see and end of their own ways in: app tokens and browser sessions (ASVS 3.3.4, 3.5.1).

Every change checks that the row is the person's own: someone else's id is treated as unknown
(SECURITY.md row 11, IDOR), and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import CursorResult, select, update

from node.db.engine import AsyncSession
from node.db.models import OAuthApp, Token, WebSession
from node.services.web_sessions import IDLE_TIMEOUT

__all__ = [
    "AuthorisedApp",
    "BrowserSession",
    "list_authorised_apps",
    "list_browser_sessions",
    "revoke_own_session",
    "revoke_own_token",
]


@dataclass(frozen=True)
class AuthorisedApp:
    """A live token of the person: an OAuth app's, or a script token (``app_name`` None)."""

    token_id: int
    app_name: str | None
    app_website: str | None
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class BrowserSession:
    """A live web session of the person."""

    session_id: int
    user_agent: str
    ip: str
    method: str
    created_at: datetime
    last_seen_at: datetime


async def list_authorised_apps(session: AsyncSession, account_id: int) -> list[AuthorisedApp]:
    """The person's unrevoked tokens, newest first."""
    rows = await session.execute(
        select(Token, OAuthApp.name, OAuthApp.website)
        .outerjoin(OAuthApp, OAuthApp.id == Token.app_id)
        .where(Token.account_id == account_id, Token.revoked_at.is_(None))
        .order_by(Token.id.desc())
    )
    return [
        AuthorisedApp(
            token.id,
            app_name,
            website,
            token.name,
            tuple(token.scopes.split()),
            token.created_at,
            token.last_used_at,
        )
        for token, app_name, website in rows
    ]


async def revoke_own_token(session: AsyncSession, account_id: int, token_id: int) -> bool:
    """Revoke one of the person's tokens; False (and nothing changes) if it is not theirs."""
    result = cast(
        "CursorResult[tuple[()]]",
        await session.execute(
            update(Token)
            .where(Token.id == token_id, Token.account_id == account_id, Token.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


async def list_browser_sessions(
    session: AsyncSession, account_id: int, *, now: datetime | None = None
) -> list[BrowserSession]:
    """The person's live web sessions, most recently used first."""
    now = now or datetime.now(UTC)
    rows = await session.scalars(
        select(WebSession)
        .where(
            WebSession.account_id == account_id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
            WebSession.last_seen_at > now - IDLE_TIMEOUT,
        )
        .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
    )
    return [
        BrowserSession(s.id, s.user_agent, s.ip, s.method, s.created_at, s.last_seen_at)
        for s in rows
    ]


async def revoke_own_session(session: AsyncSession, account_id: int, session_id: int) -> bool:
    """End one of the person's web sessions; False (nothing changes) if it is not theirs."""
    result = cast(
        "CursorResult[tuple[()]]",
        await session.execute(
            update(WebSession)
            .where(
                WebSession.id == session_id,
                WebSession.account_id == account_id,
                WebSession.revoked_at.is_(None),
            )
            .values(revoked_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1
