"""Run a batch of Core statements in one thread hop (PERFORMANCE.md: "fewer, bigger hops").

aiosqlite runs every call of a connection in that connection's own thread: each statement
costs several round trips between the event loop and that thread (cursor, execute, fetch,
close), and each round trip wakes a thread and fights for the GIL. A post's dozen
statements cost more in those hops than in SQLite itself. :func:`in_one_hop` sends a whole
function of synchronous Core statements there at once instead: on aiosqlite the function
runs in the connection's thread, on the session's connection and inside its transaction,
through a synchronous SQLAlchemy ``Connection`` that borrows the driver's ``sqlite3``
connection (the same one, so the writes are part of the caller's transaction and its
commit or rollback). On any other driver (asyncpg) the same function runs under
``AsyncConnection.run_sync``: the same statements, each awaited as usual.

The borrowed connection can neither commit, roll back nor close: the transaction belongs
to the caller's session. Handing a function to aiosqlite's thread uses its request queue,
as SQLAlchemy's own aiosqlite dialect does for the isolation level.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import StaticPool

__all__ = ["in_one_hop"]

T = TypeVar("T")

_BORROWED = "kantine.borrowed_connection"


class _Borrowed:
    """The driver's ``sqlite3`` connection, lent to a synchronous engine: everything but
    ending the transaction or the connection is passed through."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def commit(self) -> None:
        """The caller's session commits."""

    def rollback(self) -> None:
        """The caller's session rolls back."""

    def close(self) -> None:
        """The pool of the async engine owns the connection."""


def _borrow(connection: sqlite3.Connection) -> Connection:
    """A synchronous SQLAlchemy connection over *connection*, made in the thread that owns it."""
    lent = _Borrowed(connection)
    engine = create_engine(
        "sqlite://", creator=lambda: lent, poolclass=StaticPool, pool_reset_on_return=None
    )
    return engine.connect()


async def in_one_hop(session: AsyncSession, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """``fn(connection, *args, **kw)`` with a synchronous ``Connection`` in *session*'s
    transaction, in one thread hop on aiosqlite (the module docstring)."""
    await session.flush()  # whatever the session holds is written before the batch
    connection = await session.connection()
    pooled = (
        await connection.get_raw_connection() if connection.dialect.driver == "aiosqlite" else None
    )
    driver: Any = pooled.driver_connection if pooled is not None else None  # aiosqlite.Connection
    if pooled is None or not all(hasattr(type(driver), a) for a in ("_execute", "_conn")):
        # asyncpg, or an aiosqlite without the request queue: the same function, awaited
        # statement by statement.
        return await connection.run_sync(fn, *args, **kw)
    info = pooled.info

    def work() -> T:
        borrowed: Connection | None = info.get(_BORROWED)
        if borrowed is None:
            borrowed = info[_BORROWED] = _borrow(driver._conn)
        return fn(borrowed, *args, **kw)

    result: T = await driver._execute(work)
    return result
