"""Group commit for the inbox: concurrent requests share one INSERT and one commit.

A peer gets its 202 only after the row that holds its activity is committed (SECURITY.md
§4), but requests that arrive while a commit is in flight wait for the next one together,
so a busy inbox pays one commit per group instead of one per activity. Nothing waits
on purpose: an idle inbox commits each activity at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from node.db.engine import Sessions
from node.db.models import InboxItem
from node.ids import new_id

__all__ = ["InboxWriter"]

log = logging.getLogger(__name__)

_ID_ATTEMPTS = 3
_TABLE: Table = InboxItem.__table__  # type: ignore[assignment]  # Core insert: no ORM work


class InboxWriter:
    """Writes inbox rows in groups; one writer task per process, started on first use."""

    def __init__(self, sessions: Sessions, *, max_group: int = 256) -> None:
        self._sessions = sessions
        self._max_group = max_group
        self._waiting: list[tuple[Mapping[str, Any], asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, row: Mapping[str, Any]) -> bool:
        """Store *row*; True once committed, False if its ``activity_id`` was already there."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="inbox-writer")
        return await future

    async def close(self) -> None:
        """Finish what is waiting (the app is stopping)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = (
                self._waiting[: self._max_group],
                self._waiting[self._max_group :],
            )
            try:
                inserted = await self._insert([row for row, _ in group])
            except Exception as exc:  # every waiter learns it; none is told "stored"
                log.warning("inbox write of %d activities failed: %s", len(group), exc)
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            claimed: set[str] = set()
            for row, future in group:
                key = str(row["activity_id"])
                # The same activity twice in one group: the first is new, the second a duplicate.
                fresh = key in inserted and key not in claimed
                claimed.add(key)
                if not future.done():
                    future.set_result(fresh)

    async def _insert(self, rows: list[Mapping[str, Any]]) -> set[str]:
        for attempt in range(_ID_ATTEMPTS):
            try:
                return await self._insert_once(rows)
            except IntegrityError:
                # Not a duplicate activity (that conflict is ignored) but a row id another
                # process made in the same millisecond: try again with fresh ids.
                if attempt == _ID_ATTEMPTS - 1:
                    raise
                rows = [{**row, "id": new_id()} for row in rows]
        raise AssertionError("unreachable")

    async def _insert_once(self, rows: list[Mapping[str, Any]]) -> set[str]:
        async with self._sessions() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            statement = (pg_insert if postgres else sqlite_insert)(_TABLE).values(list(rows))
            result = await session.execute(
                statement.on_conflict_do_nothing(index_elements=["activity_id"]).returning(
                    _TABLE.c.activity_id
                )
            )
            return {str(value) for value in result.scalars()}
