"""One writer at a time on SQLite, queued in the process instead of inside SQLite.

SQLite has one write lock per database. A transaction that wants it while another holds it
waits in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and retries,
so four people posting at once on one node gave a p99 of seconds (docs/performance.md).
A transaction that calls :func:`hold_writes` before its first write queues on an
``asyncio.Lock`` of its session factory instead: first come, first served, and the next
writer starts the moment the previous one commits. The lock is let go when the
transaction ends (commit, rollback or close).

Writers in other processes (``kantine worker``, the command line) and transactions that do
not call :func:`hold_writes` still meet at SQLite's lock and its busy handler, as before.
A wait here is bounded (:data:`WAIT_SECONDS`): after it, the transaction goes on without the
queue, so a transaction that already holds SQLite's lock while it waits here can never
deadlock with one that holds the queue. PostgreSQL has row locks and needs none of this:
its session factories carry no queue and :func:`hold_writes` does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

__all__ = ["WAIT_SECONDS", "WriterQueue", "hold_writes", "install", "queue_of"]

log = logging.getLogger(__name__)

#: How long a transaction waits for its turn before it goes on without the queue.
WAIT_SECONDS = 5.0

_QUEUE = "kantine.writer_queue"
_HELD = "kantine.writer_held"


class WriterQueue:
    """The lock that writers of one SQLite database in this process take turns on."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()


def install(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Give every session of *sessions* (a SQLite database) the process's writer queue."""
    info: dict[Any, Any] = dict(sessions.kw.get("info") or {})
    info[_QUEUE] = WriterQueue()
    sessions.configure(info=info)


def queue_of(sessions: async_sessionmaker[AsyncSession]) -> WriterQueue | None:
    """The writer queue of *sessions*; None on PostgreSQL."""
    queue: WriterQueue | None = (sessions.kw.get("info") or {}).get(_QUEUE)
    return queue


async def hold_writes(session: AsyncSession) -> None:
    """Wait for this transaction's turn to write (SQLite); held until the transaction ends.

    Call it before the transaction's first write. A second call in the same transaction
    does nothing; so does a call on a session without a queue (PostgreSQL).
    """
    queue: WriterQueue | None = session.info.get(_QUEUE)
    if queue is None or session.info.get(_HELD):
        return
    sync = session.sync_session
    if not event.contains(sync, "after_transaction_end", _ended):
        event.listen(sync, "after_transaction_end", _ended)
    await session.connection()  # begins the transaction whose end gives the turn back
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await queue.lock.acquire()
    except TimeoutError:
        log.warning("writer queue: no turn after %.0f s, writing without it", WAIT_SECONDS)
        return
    # No await between the lock and this mark: whatever ends the transaction gives it back.
    session.info[_HELD] = queue


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint or an inner transaction
        return
    queue: WriterQueue | None = session.info.pop(_HELD, None)
    if queue is not None:
        queue.lock.release()
