"""Browser sessions of the web pages, kept in the database (ASVS 3.2, 3.3).

The browser holds a random secret (256 bits); the table keeps only its SHA-256, so a copy of
the database opens no session. A session ends when it expires, when the person logs out, or
when it is revoked (suspension, a password change, the sessions settings page).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, bindparam, select, update

from node.db.engine import AsyncSession
from node.db.models import Account, WebSession
from node.ids import new_id

__all__ = [
    "IDLE_TIMEOUT",
    "LIFETIME",
    "TOUCH_AFTER",
    "SignedIn",
    "judge_session",
    "open_session",
    "resolve_session",
    "revoke_all",
    "revoke_session",
    "session_digest",
    "session_select",
]

#: A session lives at most this long, and ends after this much idleness (ASVS 3.3.2).
LIFETIME = timedelta(days=30)
IDLE_TIMEOUT = timedelta(days=7)
#: ``last_seen_at`` is written at most this often per session.
TOUCH_AFTER = timedelta(minutes=5)


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


def session_digest(secret: str) -> str | None:
    """What the table keeps of a cookie's *secret*; None for a secret no session can have."""
    if not secret or len(secret) > 128:
        return None
    return _hash(secret)


def session_select() -> Select[Any]:
    """The session and its person for the bound parameter ``secret_hash`` (one definition:
    :func:`resolve_session` runs it through the async session, the web pages on SQLite also
    through ``FastReads.rows``)."""
    columns: list[Any] = [
        WebSession.id.label("session_id"),
        WebSession.account_id,
        WebSession.csrf_secret,
        WebSession.revoked_at,
        WebSession.expires_at,
        WebSession.last_seen_at,
        Account.username,
        Account.display_name,
        Account.role,
        Account.suspended_at,
        Account.local,
    ]
    return (
        select(*columns)
        .join(Account, Account.id == WebSession.account_id)
        .where(WebSession.secret_hash == bindparam("secret_hash", type_=String))
    )


def judge_session(row: Mapping[str, Any] | None, now: datetime) -> tuple[SignedIn | None, bool]:
    """Who the row of :func:`session_select` speaks for (None: unknown, ended, suspended),
    and whether its ``last_seen_at`` is due to be written (once per few minutes, not per
    page: a plain page view does not write)."""
    if (
        row is None
        or row["revoked_at"] is not None
        or row["expires_at"] <= now
        or row["last_seen_at"] + IDLE_TIMEOUT <= now
        or row["suspended_at"] is not None
        or not row["local"]
    ):
        return None, False
    who = SignedIn(
        int(row["session_id"]),
        int(row["account_id"]),
        row["username"],
        row["display_name"],
        row["role"],
        row["csrf_secret"],
    )
    return who, now - row["last_seen_at"] > TOUCH_AFTER


async def resolve_session(
    session: AsyncSession, secret: str, *, now: datetime | None = None
) -> SignedIn | None:
    """The live session whose cookie holds *secret*, or None (unknown, ended, suspended)."""
    digest = session_digest(secret)
    if digest is None:
        return None
    now = now or datetime.now(UTC)
    row = (await session.execute(session_select(), {"secret_hash": digest})).mappings().first()
    who, touch = judge_session(row, now)
    if who is not None and touch:
        await session.execute(
            update(WebSession).where(WebSession.id == who.session_id).values(last_seen_at=now)
        )
        await session.commit()
    return who


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
