"""Two-factor sign-in with TOTP (RFC 6238) and single-use recovery codes.

A person turns it on in two steps: :func:`begin_setup` makes a secret (shown as an
``otpauth://`` URI, as text and as a QR code), and :func:`confirm_setup` switches it on once
a code from their app matches, returning ten recovery codes that are shown once and stored
only as SHA-256 digests (each has 80 random bits, so a fast hash is enough). From then on
every password sign-in, on the web pages and on the OAuth authorization page, also asks for
a code (:func:`check_code`); the OAuth ``password`` grant is refused, as Mastodon does, since
it has no way to ask. Nothing here sees an HTTP request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import CursorResult, delete, func, or_, select, update

from node.auth.totp import matching_step, new_secret, otpauth_uri
from node.db.engine import AsyncSession
from node.db.models import RecoveryCode, TwoFactor
from node.ids import new_id

__all__ = [
    "RECOVERY_CODES",
    "TwoFactorError",
    "TwoFactorState",
    "begin_setup",
    "check_code",
    "confirm_setup",
    "disable",
    "is_enabled",
    "provisioning_uri",
    "regenerate_recovery_codes",
    "remove",
    "state_of",
]

RECOVERY_CODES = 10


class TwoFactorError(ValueError):
    """A two-factor step cannot be done as asked (the message says why, for the person)."""


@dataclass(frozen=True)
class TwoFactorState:
    """What the settings page shows."""

    enabled: bool
    #: The secret waiting for its first code (None once enabled, or before setup).
    pending_secret: str | None
    recovery_codes_left: int


def _digest(code: str) -> str:
    return hashlib.sha256(_normalise_recovery(code).encode()).hexdigest()


def _normalise_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits, 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def _row(session: AsyncSession, account_id: int) -> TwoFactor | None:
    return await session.get(TwoFactor, account_id)


async def is_enabled(session: AsyncSession, account_id: int) -> bool:
    """Whether signing in as *account_id* needs a second factor."""
    enabled = await session.scalar(
        select(TwoFactor.enabled_at).where(TwoFactor.account_id == account_id)
    )
    return enabled is not None


async def state_of(session: AsyncSession, account_id: int) -> TwoFactorState:
    """Enabled or not, the secret being set up, and how many recovery codes are left."""
    row = await _row(session, account_id)
    left = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))
    )
    if row is None:
        return TwoFactorState(False, None, 0)
    enabled = row.enabled_at is not None
    return TwoFactorState(
        enabled, None if enabled else row.secret, int(left or 0) if enabled else 0
    )


def provisioning_uri(secret: str, *, username: str, domain: str, issuer: str) -> str:
    """The ``otpauth://totp/Issuer:name@domain?secret=…`` URI for an authenticator app."""
    return otpauth_uri(secret, account=f"{username}@{domain}", issuer=issuer)


async def begin_setup(session: AsyncSession, account_id: int) -> str:
    """A new secret waiting for confirmation (replaces an unconfirmed one)."""
    row = await _row(session, account_id)
    if row is not None and row.enabled_at is not None:
        raise TwoFactorError("Two-factor sign-in is already on.")
    secret = new_secret()
    if row is None:
        session.add(TwoFactor(account_id=account_id, secret=secret, created_at=datetime.now(UTC)))
    else:
        row.secret = secret
        row.last_step = None
        row.created_at = datetime.now(UTC)
    await session.flush()
    return secret


async def _store_recovery_codes(session: AsyncSession, account_id: int) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(id=new_id(), account_id=account_id, digest=_digest(code)) for code in codes
    )
    await session.flush()
    return codes


async def confirm_setup(
    session: AsyncSession, account_id: int, code: str, *, at: float | None = None
) -> list[str]:
    """Switch two-factor on if *code* matches the pending secret; the new recovery codes."""
    row = await _row(session, account_id)
    if row is None or row.enabled_at is not None:
        raise TwoFactorError("Start the set-up again: there is no code to confirm.")
    step = matching_step(row.secret, code, at=at)
    if step is None:
        raise TwoFactorError("That code is not right. Check your phone's clock and try again.")
    row.enabled_at = datetime.now(UTC)
    row.last_step = step
    return await _store_recovery_codes(session, account_id)


async def _use_totp(session: AsyncSession, row: TwoFactor, code: str, at: float | None) -> bool:
    step = matching_step(row.secret, code, at=at, after=row.last_step)
    if step is None:
        return False
    # Claim the step atomically: of two sign-ins racing with one code, one wins (RFC 6238 §5.2).
    claimed = cast(
        "CursorResult[tuple[()]]",
        await session.execute(
            update(TwoFactor)
            .where(
                TwoFactor.account_id == row.account_id,
                or_(TwoFactor.last_step.is_(None), TwoFactor.last_step < step),
            )
            .values(last_step=step)
            .execution_options(synchronize_session=False)
        ),
    )
    return claimed.rowcount == 1


async def _use_recovery_code(session: AsyncSession, account_id: int, code: str) -> bool:
    if len(_normalise_recovery(code)) != 16:
        return False
    claimed = cast(
        "CursorResult[tuple[()]]",
        await session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.account_id == account_id,
                RecoveryCode.digest == _digest(code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        ),
    )
    return claimed.rowcount >= 1


async def check_code(
    session: AsyncSession, account_id: int, code: str, *, at: float | None = None
) -> bool:
    """Whether *code* (a TOTP code or an unused recovery code) is good; uses it up if so."""
    row = await _row(session, account_id)
    if row is None or row.enabled_at is None or not code or len(code) > 64:
        return False
    if await _use_totp(session, row, code, at):
        return True
    return await _use_recovery_code(session, account_id, code)


async def disable(
    session: AsyncSession, account_id: int, code: str, *, at: float | None = None
) -> None:
    """Switch two-factor off; needs a current code (or a recovery code)."""
    if not await check_code(session, account_id, code, at=at):
        raise TwoFactorError("That code is not right.")
    await remove(session, account_id)


async def regenerate_recovery_codes(
    session: AsyncSession, account_id: int, code: str, *, at: float | None = None
) -> list[str]:
    """Replace the recovery codes (the old ones stop working); needs a current code."""
    if not await check_code(session, account_id, code, at=at):
        raise TwoFactorError("That code is not right.")
    return await _store_recovery_codes(session, account_id)


async def remove(session: AsyncSession, account_id: int) -> bool:
    """Switch two-factor off without a code (an admin, for someone who lost phone and codes)."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    result = cast(
        "CursorResult[tuple[()]]",
        await session.execute(delete(TwoFactor).where(TwoFactor.account_id == account_id)),
    )
    return result.rowcount == 1
