"""What the admin sees of the delivery queue, and the "retry" buttons (A28, SECURITY.md §4).

``kantine federation deliveries`` and the admin pages read per-peer lag and the deliveries
given up on from here; nothing is ever dropped silently, so a failed row can be requeued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from node.db.models import Delivery, OutboxActivity
from node.federation.delivery import now_utc

__all__ = [
    "FailedDelivery",
    "PeerDeliveryState",
    "delivery_report",
    "list_failed",
    "retry_failed",
    "retry_now",
]

_PENDING, _DELIVERED, _FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class PeerDeliveryState:
    """The delivery lag of one peer host, for ``kantine federation deliveries`` and the admin."""

    host: str
    pending: int
    failed: int
    oldest_pending: datetime | None
    last_error: str | None
    last_success: datetime | None


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery given up on, kept for the admin to read and retry."""

    id: int
    activity_uri: str
    inbox_url: str
    host: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime


async def delivery_report(session: AsyncSession) -> list[PeerDeliveryState]:
    """Per peer host: pending and failed counts, oldest pending, last error, last success."""
    pending = Delivery.state == _PENDING
    totals = (
        select(
            Delivery.host,
            func.sum(case((pending, 1), else_=0)),
            func.sum(case((Delivery.state == _FAILED, 1), else_=0)),
            func.min(case((pending, Delivery.created_at))),
            func.max(Delivery.delivered_at),
        )
        .group_by(Delivery.host)
        .order_by(Delivery.host)
    )
    # The latest error of a host: its most-tried pending row (the head of a stuck inbox), else
    # its newest failed row.
    rank = (
        func.row_number()
        .over(
            partition_by=Delivery.host,
            order_by=(
                case((pending, 0), else_=1),
                Delivery.attempts.desc(),
                Delivery.id.desc(),
            ),
        )
        .label("rank")
    )
    ranked = (
        select(Delivery.host, Delivery.last_error, rank)
        .where(Delivery.state != _DELIVERED, Delivery.last_error.is_not(None))
        .subquery()
    )
    latest = select(ranked.c.host, ranked.c.last_error).where(ranked.c.rank == 1)
    errors = {host: error for host, error in (await session.execute(latest)).all()}
    return [
        PeerDeliveryState(
            host=host,
            pending=int(n_pending or 0),
            failed=int(n_failed or 0),
            oldest_pending=_aware(oldest),
            last_error=errors.get(host),
            last_success=_aware(success),
        )
        for host, n_pending, n_failed, oldest, success in (await session.execute(totals)).all()
    ]


def _aware(value: datetime | str | None) -> datetime | None:
    """Aggregates bypass the column type on SQLite (a string, naive); make them UTC datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def list_failed(
    session: AsyncSession, *, host: str | None = None, limit: int = 100
) -> list[FailedDelivery]:
    """Failed deliveries, oldest activity first, optionally of one host."""
    stmt = (
        select(
            Delivery.id,
            OutboxActivity.uri,
            Delivery.inbox_url,
            Delivery.host,
            Delivery.attempts,
            Delivery.last_status,
            Delivery.last_error,
            Delivery.created_at,
        )
        .join(OutboxActivity, OutboxActivity.id == Delivery.activity_id)
        .where(Delivery.state == _FAILED)
        .order_by(Delivery.activity_id, Delivery.id)
        .limit(limit)
    )
    if host is not None:
        stmt = stmt.where(Delivery.host == host.lower())
    return [FailedDelivery(*row) for row in (await session.execute(stmt)).all()]


async def retry_failed(
    session: AsyncSession, *, host: str | None = None, now: datetime | None = None
) -> int:
    """Put failed deliveries back in the queue, due now; return how many.

    Attempts restart at zero and ``created_at`` at *now*: the delivery horizon counts from
    the admin's decision, not from the original post. Runs in the caller's transaction.
    """
    now = now or now_utc()
    stmt = (
        update(Delivery)
        .where(Delivery.state == _FAILED)
        .values(state=_PENDING, attempts=0, next_attempt_at=now, created_at=now, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    if host is not None:
        stmt = stmt.where(Delivery.host == host.lower())
    return int(getattr(await session.execute(stmt), "rowcount", 0))


async def retry_now(session: AsyncSession, *, host: str, now: datetime | None = None) -> int:
    """Make a host's pending deliveries due now (the admin's "retry now" after a peer returns)."""
    now = now or now_utc()
    stmt = (
        update(Delivery)
        .where(
            Delivery.state == _PENDING,
            Delivery.host == host.lower(),
            Delivery.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(await session.execute(stmt), "rowcount", 0))
