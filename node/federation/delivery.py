"""The durable delivery queue: one row per (activity, inbox), claimed under a lease (A26-A28).

Every delivery is a ``deliveries`` row written in the same transaction as its activity, so
nothing is lost to a crash (SECURITY.md §4). Workers claim rows with one atomic
``UPDATE … RETURNING`` that sets a lease (``locked_until``); a worker killed mid-flight
leaves its rows to be claimed again once the lease ends, so delivery is at least once and
receivers de-duplicate by activity id.

Per inbox the queue is first-in first-out: only the oldest pending row of an inbox (by
activity id, which sorts by creation time) can be claimed. A peer that was down for the
weekend therefore receives its backlog in order, and is probed with one request per retry
instead of one per queued activity. Nothing is dropped silently: a delivery given up on
(A28 unsalvageable answer, horizon passed, host no longer allowed) stays as a ``failed``
row that the admin sees and can retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Select, Table, and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from activitypub.client import FederationClient, Signer
from activitypub.errors import ActivityPubError, FetchError, HostNotAllowedError
from activitypub.hosts import host_of
from activitypub.keys import load_private_key
from node.db.hop import in_one_hop
from node.db.models import Account, Delivery, OutboxActivity
from node.federation import retry
from node.ids import new_id

__all__ = [
    "ClaimedDelivery",
    "DeliveryWorker",
    "claim",
    "enqueue",
    "enqueue_now",
    "now_utc",
]

log = logging.getLogger(__name__)

_PENDING, _DELIVERED, _FAILED = "pending", "delivered", "failed"
_CHUNK = 500  # rows per INSERT: well under SQLite's bound-parameter limit
_ERROR_BODY_CHARS = 200


def now_utc() -> datetime:
    """The current time, timezone-aware (the worker's default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery row a worker holds until ``lease_end``, with what it needs to send it."""

    id: int
    activity_uri: str
    inbox_url: str
    host: str
    attempts: int
    created_at: datetime
    body: str = field(repr=False)
    account_id: int
    key_id: str
    private_key_pem: str | None = field(repr=False)
    lease_end: datetime


async def enqueue(
    session: AsyncSession,
    activity: OutboxActivity,
    inboxes: Iterable[str],
    *,
    now: datetime | None = None,
) -> int:
    """Queue *activity* for each distinct inbox in the caller's transaction; return rows added.

    Idempotent: an (activity, inbox) pair already queued is left alone (``ON CONFLICT DO
    NOTHING``). Raises ``ValueError`` for an inbox that is not an absolute URL.
    """
    urls = list(dict.fromkeys(inboxes))
    if not urls:
        return 0
    return await in_one_hop(session, enqueue_now, activity.id, urls, now=now)


def enqueue_now(
    session: Connection, activity_id: int, inboxes: Iterable[str], *, now: datetime | None = None
) -> int:
    """:func:`enqueue` in the caller's thread hop (``node.db.hop``), for the activity row
    *activity_id* already written."""
    now = now or now_utc()
    urls = list(dict.fromkeys(inboxes))
    if not urls:
        return 0
    rows = [
        {
            "id": new_id(now),
            "activity_id": activity_id,
            "inbox_url": url,
            "host": host_of(url),
            "state": _PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for url in urls
    ]
    dialect = session.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, Delivery.__table__)
    added = 0
    for start in range(0, len(rows), _CHUNK):
        stmt = (
            insert(table)
            .values(rows[start : start + _CHUNK])
            .on_conflict_do_nothing(index_elements=["activity_id", "inbox_url"])
            .returning(table.c.id)
        )
        added += len(session.execute(stmt).all())
    return added


def _due(now: datetime, limit: int, *, skip_locked: bool) -> Select[tuple[int]]:
    """Ids of rows a worker may take now: due, not leased, and first in their inbox's line."""
    table = Delivery.__table__
    cand, older = table.alias("cand"), table.alias("older")
    # ``older.host = cand.host`` adds nothing logically but lets the (host, state) index serve.
    ahead = exists().where(
        older.c.host == cand.c.host,
        older.c.inbox_url == cand.c.inbox_url,
        older.c.state == _PENDING,
        older.c.activity_id < cand.c.activity_id,
    )
    stmt = (
        select(cand.c.id)
        .where(
            cand.c.state == _PENDING,
            cand.c.next_attempt_at <= now,
            or_(cand.c.locked_until.is_(None), cand.c.locked_until < now),
            ~ahead,
        )
        .order_by(cand.c.next_attempt_at, cand.c.id)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True, of=cand)
    return stmt


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    limit: int,
    lease: timedelta,
    now: datetime,
) -> list[ClaimedDelivery]:
    """Lease up to *limit* due deliveries with one atomic ``UPDATE … RETURNING``.

    On PostgreSQL the candidates are locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers
    never wait on or take each other's rows; SQLite serialises writers, and the UPDATE is
    the transaction's first statement so it waits for the write lock instead of failing.
    """
    if limit <= 0:
        return []
    lease_end = now + lease
    async with sessions() as session, session.begin():
        postgres = session.get_bind().dialect.name == "postgresql"
        leased = (
            update(Delivery)
            .where(Delivery.id.in_(_due(now, limit, skip_locked=postgres)))
            .values(locked_until=lease_end)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        ids = list((await session.execute(leased)).scalars())
        if not ids:
            return []
        details = (
            select(
                *(Delivery.id, OutboxActivity.uri, Delivery.inbox_url, Delivery.host),
                *(Delivery.attempts, Delivery.created_at, OutboxActivity.body, Account.id),
                Account.uri + "#main-key",  # PROTOCOL.md S6
                Account.private_key_pem,
            )
            .join(OutboxActivity, OutboxActivity.id == Delivery.activity_id)
            .join(Account, Account.id == OutboxActivity.account_id)
            .where(Delivery.id.in_(ids))
            .order_by(Delivery.next_attempt_at, Delivery.id)
        )
        return [
            ClaimedDelivery(
                id_, uri, inbox, host, tries, created, body, sender, key_id, pem, lease_end
            )
            for id_, uri, inbox, host, tries, created, body, sender, key_id, pem in (
                await session.execute(details)
            ).all()
        ]


def _summary(status: int | None, error: str | None) -> str:
    """What the admin reads in ``last_error``: the status, then the peer's or network's words."""
    if status is None:
        return error or "no response"
    return f"HTTP {status}: {error}" if error else f"HTTP {status}"


async def _settle(
    sessions: async_sessionmaker[AsyncSession], row: ClaimedDelivery, **values: object
) -> bool:
    """Write the outcome of *row* if this worker still holds its lease; return whether it did."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == row.id,
                Delivery.state == _PENDING,
                Delivery.locked_until == row.lease_end,
            )
            .values(locked_until=None, attempts=Delivery.attempts + 1, **values)
            .execution_options(synchronize_session=False)
        )
    settled = bool(getattr(result, "rowcount", 0))
    if not settled:
        log.warning("lease lost for %s to %s; another worker owns it", row.activity_uri, row.host)
    return settled


async def _fail_waiting(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    reason: str,
    where: ColumnElement[bool],
) -> int:
    """Fail the pending, unleased rows matching *where* with *reason* (kept for the admin)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.state == _PENDING,
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
                where,
            )
            .values(state=_FAILED, last_error=reason, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0))


class DeliveryWorker:
    """Sends queued deliveries, signed by each activity's account, and records every outcome."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: FederationClient,
        *,
        concurrency: int,
        horizon: timedelta,
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = now_utc,
        rng: random.Random | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._sessions = sessions
        self._client = client
        self._concurrency = concurrency
        self._horizon = horizon
        self._lease = lease
        self._clock = clock
        self._rng = rng or random.Random()
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        # Parsing a PEM costs milliseconds; keep one Signer per account (re-parsed on rotation).
        self._signers: dict[int, tuple[str, Signer]] = {}

    def wake(self) -> None:
        """Tell a running worker that rows were just queued, so it need not wait for its poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch (at most ``concurrency`` rows), send it, record it; return its size."""
        batch = await claim(
            self._sessions, limit=self._concurrency, lease=self._lease, now=self._clock()
        )
        for result in await asyncio.gather(
            *(self._deliver(row) for row in batch), return_exceptions=True
        ):
            if isinstance(result, Exception):
                log.error("delivery failed; its row returns after the lease: %r", result)
        return len(batch)

    async def run(self) -> None:
        """Deliver forever with up to ``concurrency`` requests in flight; stop when cancelled.

        On cancellation in-flight requests are cancelled too; their rows come back when
        their lease ends (at least once, never lost).
        """
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                free = self._concurrency - len(in_flight)
                if free > 0:
                    try:
                        batch = await claim(
                            self._sessions, limit=free, lease=self._lease, now=self._clock()
                        )
                    except (SQLAlchemyError, OSError):
                        log.exception("could not claim deliveries; trying again shortly")
                        batch = []
                    in_flight.update(asyncio.create_task(self._deliver(row)) for row in batch)
                waker = asyncio.create_task(self._wake.wait())
                try:
                    done, _ = await asyncio.wait(
                        {*in_flight, waker},
                        timeout=self._poll_interval,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waker.cancel()
                self._wake.clear()
                for task in done - {waker}:
                    in_flight.discard(task)
                    if not task.cancelled() and (exc := task.exception()) is not None:
                        log.error("delivery task failed; its row returns after the lease: %r", exc)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _signer(self, row: ClaimedDelivery) -> Signer:
        """The cached Signer of the row's account; raises ``ActivityPubError`` without a key."""
        if row.private_key_pem is None:
            raise ActivityPubError("the sending account has no private key")
        cached = self._signers.get(row.account_id)
        if cached is not None and cached[0] == row.private_key_pem:
            return cached[1]
        try:
            key = load_private_key(row.private_key_pem)
        except ActivityPubError as exc:
            # The loader's message says what is wrong with the PEM, never the key itself.
            raise ActivityPubError(f"the sending account's private key is unusable: {exc}") from exc
        signer = Signer(row.key_id, key)
        self._signers[row.account_id] = (row.private_key_pem, signer)
        return signer

    async def _deliver(self, row: ClaimedDelivery) -> None:
        """POST one row's body to its inbox and record the A28 decision."""
        try:
            signer = self._signer(row)
        except ActivityPubError as exc:
            await self._give_up(row, None, exc.reason)
            return
        error: str | None = None
        try:
            response = await self._client.post(row.inbox_url, row.body.encode(), signer=signer)
        except HostNotAllowedError as exc:
            await self._refused(row, exc)
            return
        except FetchError as exc:
            status, error = exc.status, exc.reason
        else:
            status = response.status
            if not 200 <= status < 300:
                error = response.body[:_ERROR_BODY_CHARS].decode("utf-8", "replace").strip()
        decision = retry.outcome(status)
        if decision == "delivered":
            now = self._clock()
            if await _settle(
                self._sessions,
                row,
                state=_DELIVERED,
                delivered_at=now,
                last_status=status,
                last_error=None,
            ):
                log.info("delivered %s to %s (HTTP %s)", row.activity_uri, row.host, status)
        elif decision == "give_up":
            await self._give_up(row, status, f"{_summary(status, error)} (unsalvageable, A28)")
        else:
            await self._retry(row, status, _summary(status, error))

    async def _give_up(self, row: ClaimedDelivery, status: int | None, reason: str) -> None:
        now = self._clock()
        if await _settle(
            self._sessions,
            row,
            state=_FAILED,
            last_status=status,
            last_error=reason,
            next_attempt_at=now,
        ):
            log.warning("gave up %s to %s: %s", row.activity_uri, row.host, reason)

    async def _retry(self, row: ClaimedDelivery, status: int | None, error: str) -> None:
        now = self._clock()
        if retry.expired(row.created_at, now=now, horizon=self._horizon):
            reason = f"{error}; still failing after {self._horizon} (delivery horizon)"
            await self._give_up(row, status, reason)
            # Rows queued behind it to the same inbox are as old: fail them now rather
            # than probing a dead peer once per row. They stay visible and retryable.
            cutoff = now - self._horizon
            more = await _fail_waiting(
                self._sessions,
                now=now,
                reason=reason,
                where=and_(Delivery.inbox_url == row.inbox_url, Delivery.created_at <= cutoff),
            )
            if more:
                log.warning("gave up %d more deliveries to %s: %s", more, row.host, reason)
            return
        when = retry.next_attempt_at(row.attempts + 1, now=now, rng=self._rng)
        if await _settle(
            self._sessions, row, last_status=status, last_error=error, next_attempt_at=when
        ):
            log.warning(
                "retry %s to %s at %s: %s", row.activity_uri, row.host, when.isoformat(), error
            )

    async def _refused(self, row: ClaimedDelivery, exc: HostNotAllowedError) -> None:
        """The peer left the federation policy: fail its queue (no request was sent)."""
        reason = f"host not allowed by the federation policy: {exc.reason}"
        await self._give_up(row, None, reason)
        more = await _fail_waiting(
            self._sessions, now=self._clock(), reason=reason, where=Delivery.host == row.host
        )
        if more:
            log.warning("gave up %d more deliveries to %s: %s", more, row.host, reason)
