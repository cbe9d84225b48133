"""Media nobody will see again goes: unposted uploads after a day, a removed person's pictures.

An upload (``POST /api/v2/media``) waits for the post that will carry it. If none ever
does — the app crashed, the person changed their mind — the row and its files are deleted
after ``media.unattached_hours`` (24 by default, as Mastodon's ``media_remove`` job) by
:class:`MediaSweeper`, a background task of the node. Uploads a scheduled post will carry
are kept until it is published. When a person is removed
(``node.services.profile.remove_person``) their uploads go at once with
:func:`forget_media`.

Files are deleted only after the transaction that deleted their rows has committed, so a
rolled-back removal never leaves rows pointing at missing files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, select

from node.db.engine import AsyncSession, Sessions
from node.db.models import MediaAttachment, ScheduledStatus
from node.services.media import MediaStore

__all__ = ["MediaSweeper", "forget_media"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 3600.0
_BATCH = 500


def _remove_after_commit(session: AsyncSession, store: MediaStore, names: list[str]) -> None:
    if not names:
        return

    def remove(_: Any) -> None:
        store.remove(*names)

    event.listen(session.sync_session, "after_commit", remove, once=True)


async def forget_media(session: AsyncSession, store: MediaStore, account_id: int) -> int:
    """Delete every upload of *account_id* (rows now, files once committed); how many."""
    rows = (
        await session.execute(
            select(
                MediaAttachment.id, MediaAttachment.file_name, MediaAttachment.preview_name
            ).where(MediaAttachment.account_id == account_id)
        )
    ).all()
    if not rows:
        return 0
    await session.execute(
        delete(MediaAttachment).where(MediaAttachment.id.in_([row.id for row in rows]))
    )
    _remove_after_commit(
        session, store, [name for row in rows for name in (row.file_name, row.preview_name) if name]
    )
    return len(rows)


def _system_clock() -> datetime:
    return datetime.now(UTC)


class MediaSweeper:
    """Deletes unposted uploads older than *max_age*: ``run`` in the background, ``run_once``
    in tests (with their own clock)."""

    def __init__(
        self,
        sessions: Sessions,
        store: MediaStore,
        *,
        max_age: timedelta,
        clock: Callable[[], datetime] = _system_clock,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.max_age = max_age
        self.clock = clock

    async def run(self) -> None:
        """Sweep every hour until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:  # the database may be briefly busy; next hour then
                log.exception("removing unposted media failed")
            await asyncio.sleep(_POLL_SECONDS)

    async def run_once(self) -> int:
        """Delete what is due now; how many uploads went."""
        cutoff = self.clock() - self.max_age
        removed = 0
        while True:
            async with self.sessions() as session, session.begin():
                rows = (
                    await session.execute(
                        select(
                            MediaAttachment.id,
                            MediaAttachment.account_id,
                            MediaAttachment.file_name,
                            MediaAttachment.preview_name,
                        )
                        .where(
                            MediaAttachment.status_id.is_(None),
                            MediaAttachment.purpose == "attachment",
                            MediaAttachment.remote_url.is_(None),
                            MediaAttachment.created_at < cutoff,
                        )
                        .order_by(MediaAttachment.id)
                        .limit(_BATCH)
                    )
                ).all()
                if not rows:
                    return removed
                waiting = await _scheduled_media(session, {row.account_id for row in rows})
                due = [row.id for row in rows if row.id not in waiting]
                gone = (
                    (
                        await session.execute(
                            delete(MediaAttachment)
                            .where(
                                MediaAttachment.id.in_(due),
                                MediaAttachment.status_id.is_(None),  # not posted meanwhile
                            )
                            .returning(MediaAttachment.file_name, MediaAttachment.preview_name)
                        )
                    ).all()
                    if due
                    else []
                )
            # Committed: now the files.
            for file_name, preview_name in gone:
                self.store.remove(file_name, preview_name)
            removed += len(gone)
            if gone:
                log.info("removed %d unposted uploads", len(gone))
            if len(rows) < _BATCH or not due:
                return removed


async def _scheduled_media(session: AsyncSession, account_ids: set[int]) -> set[int]:
    """The uploads that scheduled posts of *account_ids* will carry."""
    kept: set[int] = set()
    for raw in await session.scalars(
        select(ScheduledStatus.params_json).where(ScheduledStatus.account_id.in_(account_ids))
    ):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            kept.update(int(i) for i in json.loads(raw).get("media_ids", []))
    return kept
