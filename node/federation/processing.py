"""The inbox worker: applies stored activities exactly once, in the order they arrived.

Each activity's side effects and the ``done`` mark commit in one transaction, so a crash
(``kill -9``) at any point leaves the row pending and the lease makes it claimable again;
every handler is idempotent, so a replay changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from activitypub.errors import ActivityPubError, FetchError, HostNotAllowedError
from activitypub.vocabulary import check_document, parse_activity
from node.db.engine import AsyncSession
from node.db.models import InboxItem
from node.federation.handlers import HANDLERS, prefetch
from node.services.context import NodeContext

__all__ = ["InboxProcessor"]

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 8


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2**attempts, 6 * 3600))


class InboxProcessor:
    """Claims pending ``inbox_items`` rows and applies them (one per application process)."""

    def __init__(
        self,
        ctx: NodeContext,
        *,
        batch: int = 64,
        lease: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float = 1.0,
    ) -> None:
        self._ctx = ctx
        self._batch = batch
        self._lease = lease
        self._clock = clock
        self._poll = poll_seconds
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Called after an activity was stored: work is waiting."""
        self._event.set()

    async def run(self) -> None:
        """Apply activities until cancelled."""
        while True:
            try:
                done = await self.run_once()
            except Exception:  # keep the worker alive; the row stays pending and is retried
                log.exception("inbox worker: batch failed")
                done = 0
            if done == 0:
                self._event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), self._poll)

    async def _claim(self) -> list[InboxItem]:
        now = self._clock()
        async with self._ctx.sessions() as session, session.begin():
            due = (
                select(InboxItem.id)
                .where(
                    InboxItem.state == "pending",
                    InboxItem.next_attempt_at <= now,
                    (InboxItem.locked_until.is_(None)) | (InboxItem.locked_until < now),
                )
                .order_by(InboxItem.id)
                .limit(self._batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = await session.execute(
                update(InboxItem)
                .where(InboxItem.id.in_(due.scalar_subquery()))
                .values(locked_until=now + self._lease)
                .returning(InboxItem)
            )
            return sorted(rows.scalars(), key=lambda item: item.id)

    async def run_once(self) -> int:
        """Claim one batch and apply it; returns how many rows were claimed."""
        items = await self._claim()
        for item in items:
            await self._apply(item)
        return len(items)

    async def _apply(self, item: InboxItem) -> None:
        try:
            activity = parse_activity(check_document(json.loads(item.body)))
            await prefetch(self._ctx, activity)
        except HostNotAllowedError as exc:
            await self._finish(item, "failed", f"refused: {exc.reason}")
            return
        except FetchError as exc:
            await self._retry(item, exc.reason)
            return
        except (ActivityPubError, ValueError) as exc:
            await self._finish(item, "failed", str(exc))
            return
        handler = HANDLERS.get(activity.type)
        async with self._ctx.sessions() as session, session.begin():
            if not await self._still_ours(session, item):
                return
            outcome = "ignored: unsupported type"
            if handler is not None:
                outcome = await handler(self._ctx, session, activity, item.recipient_id)
            await self._mark(session, item, "done", outcome)
        log.info("inbox applied %s %s: %s", activity.type, item.activity_id, outcome)

    async def _still_ours(self, session: AsyncSession, item: InboxItem) -> bool:
        # Another worker may have taken the row over after our lease ran out.
        state = await session.scalar(
            select(InboxItem.state).where(InboxItem.id == item.id).with_for_update()
            if session.get_bind().dialect.name == "postgresql"
            else select(InboxItem.state).where(InboxItem.id == item.id)
        )
        return state == "pending"

    async def _mark(self, session: AsyncSession, item: InboxItem, state: str, note: str) -> None:
        await session.execute(
            update(InboxItem)
            .where(InboxItem.id == item.id)
            .values(state=state, applied_at=self._clock(), locked_until=None, error=note[:2000])
        )

    async def _finish(self, item: InboxItem, state: str, note: str) -> None:
        async with self._ctx.sessions() as session, session.begin():
            await self._mark(session, item, state, note)
        log.info("inbox %s %s: %s", state, item.activity_id, note)

    async def _retry(self, item: InboxItem, reason: str) -> None:
        attempts = item.attempts + 1
        if attempts >= _MAX_ATTEMPTS:
            await self._finish(item, "failed", f"gave up after {attempts} attempts: {reason}")
            return
        async with self._ctx.sessions() as session, session.begin():
            await session.execute(
                update(InboxItem)
                .where(InboxItem.id == item.id)
                .values(
                    attempts=attempts,
                    next_attempt_at=self._clock() + _backoff(attempts),
                    locked_until=None,
                    error=reason[:2000],
                )
            )
        log.info("inbox retry %s later: %s", item.activity_id, reason)
