"""A person's own choices: the language of the pages and which notifications they get.

Notification kinds turned off are rows in ``notification_opt_outs``; :func:`node.services.graph.notify`
checks them in the same statement that creates a notification, so a kind turned off is never
created, whichever path (API, web, federation) caused it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, select

from node.db.engine import AsyncSession
from node.db.models import AccountPreference, NotificationOptOut

__all__ = [
    "LANGUAGES",
    "NOTIFICATION_TYPES",
    "PreferenceError",
    "get_language",
    "notifications_off",
    "set_language",
    "set_notifications_off",
]

#: The languages the pages are translated into.
LANGUAGES = ("nl", "en")
#: The kinds of notification a person can turn off (Mastodon's names).
NOTIFICATION_TYPES = ("mention", "follow", "follow_request", "favourite", "reblog")


class PreferenceError(ValueError):
    """A choice that is not one of the offered ones."""


async def get_language(session: AsyncSession, account_id: int) -> str | None:
    """The language the person chose, or None (then the browser's is used)."""
    return await session.scalar(
        select(AccountPreference.language).where(AccountPreference.account_id == account_id)
    )


async def set_language(session: AsyncSession, account_id: int, language: str | None) -> None:
    """Choose the pages' language; None goes back to the browser's."""
    if language is not None and language not in LANGUAGES:
        raise PreferenceError(f"language must be one of {', '.join(LANGUAGES)}")
    row = await session.get(AccountPreference, account_id)
    now = datetime.now(UTC)
    if row is None:
        session.add(AccountPreference(account_id=account_id, language=language, updated_at=now))
    else:
        row.language = language
        row.updated_at = now
    await session.flush()


async def notifications_off(session: AsyncSession, account_id: int) -> frozenset[str]:
    """The notification kinds the person does not want."""
    rows = await session.scalars(
        select(NotificationOptOut.type).where(NotificationOptOut.account_id == account_id)
    )
    return frozenset(rows)


async def set_notifications_off(
    session: AsyncSession, account_id: int, kinds: Iterable[str]
) -> frozenset[str]:
    """Replace the kinds turned off (anything not offered is refused, nothing is saved)."""
    wanted = frozenset(kinds)
    unknown = wanted - set(NOTIFICATION_TYPES)
    if unknown:
        raise PreferenceError(f"unknown notification type: {', '.join(sorted(unknown))}")
    await session.execute(
        delete(NotificationOptOut).where(NotificationOptOut.account_id == account_id)
    )
    session.add_all(NotificationOptOut(account_id=account_id, type=kind) for kind in sorted(wanted))
    await session.flush()
    return wanted
