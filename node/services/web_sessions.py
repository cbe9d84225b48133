"""Browser sessions of the web pages, kept in the database (ASVS 3.2, 3.3).

The browser holds a random secret (256 bits); the table keeps only its SHA-256, so a copy of
the database opens no session. A session ends when it expires, when the person logs out, or
when it is revoked (suspension, a password change, the sessions settings page).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from node.db.engine import AsyncSession
from node.db.models import Account, WebSession
from node.ids import new_id

__all__ = [
    "IDLE_TIMEOUT",
    "LIFETIME",
    "SignedIn",
    "open_session",
    "resolve_session",
    "revoke_all",
    "revoke_session",
]

#: A session lives at most this long, and ends after this much idleness (ASVS 3.3.2).
LIFETIME = timedelta(days=30)
IDLE_TIMEOUT = timedelta(days=7)
_TOUCH_AFTER = timedelta(minutes=5)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """Who a session speaks for."""

    session_id: int
    account_id: int
    username: str
    display_name: str
    role: str
    csrf_secret: str

    @property
    def is_admin(self) -> bool:
        """Whether the person may open the admin pages."""
        return self.role == "admin"


async def open_session(
    session: AsyncSession,
    account: Account,
    *,
    method: str = "password",
    user_agent: str = "",
    ip: str = "",
    now: datetime | None = None,
) -> str:
    """Open a session for *account* (already authenticated by *method*); the cookie's secret."""
    now = now or datetime.now(UTC)
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=new_id(),
            secret_hash=_hash(secret),
            account_id=account.id,
            method=method,
            csrf_secret=secrets.token_urlsafe(32),
            user_agent=user_agent[:255],
            ip=ip[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
        )
    )
    await session.flush()
    return secret


async def resolve_session(
    session: AsyncSession, secret: str, *, now: datetime | None = None
) -> SignedIn | None:
    """The live session whose cookie holds *secret*, or None (unknown, ended, suspended)."""
    if not secret or len(secret) > 128:
        return None
    now = now or datetime.now(UTC)
    row = (
        await session.execute(
            select(WebSession, Account)
            .join(Account, Account.id == WebSession.account_id)
            .where(WebSession.secret_hash == _hash(secret))
        )
    ).first()
    if row is None:
        return None
    web_session, account = row
    if (
        web_session.revoked_at is not None
        or web_session.expires_at <= now
        or web_session.last_seen_at + IDLE_TIMEOUT <= now
        or account.suspended_at is not None
        or not account.local
    ):
        return None
    if now - web_session.last_seen_at > _TOUCH_AFTER:  # one write per few minutes, not per page
        await session.execute(
            update(WebSession).where(WebSession.id == web_session.id).values(last_seen_at=now)
        )
        await session.commit()
    return SignedIn(
        web_session.id,
        account.id,
        account.username,
        account.display_name,
        account.role,
        web_session.csrf_secret,
    )


async def revoke_session(session: AsyncSession, session_id: int) -> None:
    """End one session (logout, or the sessions settings page)."""
    await session.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_all(session: AsyncSession, account_id: int) -> None:
    """End every session of *account_id* (password change, suspension)."""
    await session.execute(
        update(WebSession)
        .where(WebSession.account_id == account_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
