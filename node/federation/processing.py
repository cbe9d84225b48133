"""The inbox worker: applies stored activities exactly once, in the order they arrived.

Each activity's side effects and the ``done`` mark commit in one transaction, so a crash
(``kill -9``) at any point leaves the row pending and the lease makes it claimable again;
every handler is idempotent, so a replay changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, Update, bindparam, select, update

from activitypub.errors import ActivityPubError, FetchError, HostNotAllowedError
from activitypub.vocabulary import Activity, parse_activity
from node.db.engine import AsyncSession
from node.db.models import InboxItem
from node.federation.batch import apply_creates, can_batch
from node.federation.handlers import HANDLERS, Handler, prefetch
from node.services.context import NodeContext
from node.services.tags import TagIds

__all__ = ["InboxProcessor"]

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 8
#: Activities parsed on the request path kept for this process's worker (by row id).
_PARSED_KEPT = 2048


_TABLE = cast(Table, InboxItem.__table__)
#: Statements of every batch, built once (``_claim_statement`` too).
_DONE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(
        state="done",
        applied_at=bindparam("b_at", type_=_TABLE.c.applied_at.type),
        locked_until=None,
        error=bindparam("b_note"),
    )
)
_OURS = select(InboxItem.id, InboxItem.state).where(
    InboxItem.id.in_(bindparam("ids", expanding=True))
)
_OURS_FOR_UPDATE = _OURS.with_for_update()


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2**attempts, 6 * 3600))


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed ``inbox_items`` row: what the worker reads of it."""

    id: int
    activity_id: str
    body: str
    recipient_id: int | None
    attempts: int


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
        budget_seconds: float = 0.05,
        gather_seconds: float = 0.05,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self._ctx = ctx
        #: Side effects per activity type; a role may replace some (the directory's profiles).
        self._handlers: Mapping[str, Handler] = HANDLERS if handlers is None else handlers
        self._batch = batch
        self._lease = lease
        self._clock = clock
        self._poll = poll_seconds
        self._budget = budget_seconds
        self._gather = gather_seconds
        self._claims: dict[bool, Update] = {}
        self._tags = TagIds()
        self._event = asyncio.Event()
        #: Activities this process's inbox parsed and stored, by row id: the worker need not
        #: parse their stored JSON again. Only a cache: after a restart the row is parsed.
        self._parsed: dict[int, Activity] = {}

    def wake(self) -> None:
        """Called after an activity was stored: work is waiting."""
        self._event.set()

    def received(self, item_id: int, activity: Activity) -> None:
        """The inbox of this process stored row *item_id*, parsed as *activity*: work is waiting."""
        if len(self._parsed) >= _PARSED_KEPT:
            # Rows another process applied never come back here: forget the oldest.
            del self._parsed[next(iter(self._parsed))]
        self._parsed[item_id] = activity
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
            elif done < self._batch:
                # A part batch: the worker keeps up. Let the next one fill for a moment, as a
                # batch costs ~15 statements however few rows it holds (at 1,500 activities/s
                # a batch of 30 spent more on them than on its posts).
                await asyncio.sleep(self._gather)

    def _claim_statement(self, postgres: bool) -> Update:
        """Lease the next rows due: built once per dialect (``now`` and ``until`` bound)."""
        statement = self._claims.get(postgres)
        if statement is None:
            now = bindparam("now", type_=InboxItem.next_attempt_at.type)
            # Due order, which for new rows is arrival order (next_attempt_at is when the row
            # was stored): SQLite walks the (state, next_attempt_at) index and stops after a
            # batch. Ordered by id it read every pending row, each with its body, per claim
            # (18 ms with 3,000 rows waiting).
            due = (
                select(InboxItem.id)
                .where(
                    InboxItem.state == "pending",
                    InboxItem.next_attempt_at <= now,
                    (InboxItem.locked_until.is_(None)) | (InboxItem.locked_until < now),
                )
                .order_by(InboxItem.next_attempt_at, InboxItem.id)
                .limit(self._batch)
            )
            if postgres:
                due = due.with_for_update(skip_locked=True)
            # Core, not ORM objects: a batch is read once and never changed through them.
            statement = self._claims[postgres] = (
                update(_TABLE)
                .where(_TABLE.c.id.in_(due.scalar_subquery()))
                .values(locked_until=bindparam("until", type_=_TABLE.c.locked_until.type))
                .returning(
                    _TABLE.c.id,
                    _TABLE.c.activity_id,
                    _TABLE.c.body,
                    _TABLE.c.recipient_id,
                    _TABLE.c.attempts,
                )
            )
        return statement

    async def _claim(self) -> list[Claimed]:
        now = self._clock()
        async with self._ctx.sessions() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            rows = await session.execute(
                self._claim_statement(postgres), {"now": now, "until": now + self._lease}
            )
            # Applied in id order within the batch.
            return sorted((Claimed(*row) for row in rows), key=lambda item: item.id)

    async def run_once(self) -> int:
        """Claim one batch and apply it; returns how many rows were claimed."""
        items = await self._claim()
        ready = [(item, activity) for item in items if (activity := await self._prepare(item))]
        while ready:
            try:
                # A few transactions per batch, each bounded in time: one commit for many
                # activities, yet the SQLite write lock is never held for long.
                ready = ready[await self._apply(ready) :]
            except Exception:  # one bad activity must not hold up the others: go one by one
                self._tags.discard()
                log.warning(
                    "inbox batch of %d failed; applying one at a time", len(ready), exc_info=True
                )
                for item, activity in ready:
                    try:
                        await self._apply([(item, activity)])
                    except Exception as exc:
                        self._tags.discard()
                        log.exception("inbox %s could not be applied", item.activity_id)
                        await self._retry(item, f"{type(exc).__name__}: {exc}")
                break
        return len(items)

    async def _prepare(self, item: Claimed) -> Activity | None:
        """Parse a stored activity and do its network work; None when it is settled already."""
        try:
            activity = self._parsed.pop(item.id, None) or parse_activity(json.loads(item.body))
            await prefetch(self._ctx, activity)
        except HostNotAllowedError as exc:
            await self._finish(item, "failed", f"refused: {exc.reason}")
            return None
        except FetchError as exc:
            await self._retry(item, exc.reason)
            return None
        except (ActivityPubError, ValueError) as exc:
            await self._finish(item, "failed", str(exc))
            return None
        return activity

    async def _apply(self, batch: list[tuple[Claimed, Activity]]) -> int:
        """Apply a prefix of *batch* in one transaction; returns the length of the prefix.

        The transaction ends once it has worked for the time budget, and before a run of
        top-level Creates that does not come first: such a run reads and sanitises before
        it writes, which then happens without holding SQLite's write lock.
        """
        began = time.monotonic()
        outcomes: list[tuple[Claimed, Activity, str]] = []
        taken = 0
        async with self._ctx.sessions() as session, session.begin():
            ours = await self._still_ours(session, [item.id for item, _ in batch])
            while taken < len(batch):
                run = list(itertools.takewhile(lambda pair: can_batch(pair[1]), batch[taken:]))
                if taken and (run or time.monotonic() - began > self._budget):
                    break
                if run:
                    outcomes.extend(await self._creates(session, run, ours))
                    taken += len(run)
                    continue
                item, activity = batch[taken]
                taken += 1
                if item.id not in ours:
                    continue
                handler = self._handlers.get(activity.type)
                outcome = "ignored: unsupported type"
                if handler is not None:
                    outcome = await handler(self._ctx, session, activity, item.recipient_id)
                outcomes.append((item, activity, outcome))
            await self._mark_done(session, [(item, outcome) for item, _, outcome in outcomes])
        self._tags.commit()
        for item, activity, outcome in outcomes:
            log.debug("inbox applied %s %s: %s", activity.type, item.activity_id, outcome)
        if outcomes:
            counts = Counter(outcome for _, _, outcome in outcomes)
            log.info(
                "inbox applied %d activities: %s",
                len(outcomes),
                ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common()),
            )
        return taken

    async def _creates(
        self, session: AsyncSession, run: list[tuple[Claimed, Activity]], ours: set[int]
    ) -> list[tuple[Claimed, Activity, str]]:
        run = [(item, activity) for item, activity in run if item.id in ours]
        outcomes = await apply_creates(
            self._ctx, session, [(a, item.recipient_id) for item, a in run], self._tags
        )
        return [(item, a, outcome) for (item, a), outcome in zip(run, outcomes, strict=True)]

    async def _mark_done(self, session: AsyncSession, settled: list[tuple[Claimed, str]]) -> None:
        """Mark every applied row done with its outcome: one executemany, one round trip."""
        if not settled:
            return
        now = self._clock()
        await session.execute(
            _DONE, [{"b_id": item.id, "b_note": o[:2000], "b_at": now} for item, o in settled]
        )

    async def _still_ours(self, session: AsyncSession, ids: list[int]) -> set[int]:
        # Another worker may have taken rows over after our lease ran out. The rows are
        # found by id and their state checked here: with ``state`` in the WHERE clause,
        # SQLite's planner scanned every pending row through the state index instead.
        query = _OURS_FOR_UPDATE if session.get_bind().dialect.name == "postgresql" else _OURS
        rows = await session.execute(query, {"ids": ids})
        return {row_id for row_id, state in rows if state == "pending"}

    async def _mark(self, session: AsyncSession, item: Claimed, state: str, note: str) -> None:
        await session.execute(
            update(InboxItem)
            .where(InboxItem.id == item.id)
            .values(state=state, applied_at=self._clock(), locked_until=None, error=note[:2000])
        )

    async def _finish(self, item: Claimed, state: str, note: str) -> None:
        async with self._ctx.sessions() as session, session.begin():
            await self._mark(session, item, state, note)
        log.info("inbox %s %s: %s", state, item.activity_id, note)

    async def _retry(self, item: Claimed, reason: str) -> None:
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
