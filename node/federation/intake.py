"""Group commit for the inbox: concurrent requests share one INSERT and one commit.

A peer gets its 202 only after the row that holds its activity is committed (SECURITY.md
§4), but requests that arrive while a commit is in flight wait for the next one together,
so a busy inbox pays one commit per group instead of one per activity. Nothing waits
on purpose: an idle inbox commits each activity at once.

The group goes to the driver directly, not through a SQLAlchemy session: this is the
hottest write of the node, and per group the session, the compilation of a multi-row
INSERT and aiosqlite's per-statement thread hops cost more than the rows themselves.

* SQLite: one ``sqlite3`` connection of the writer's own, used from one thread; a group is
  one hop to that thread (``BEGIN IMMEDIATE``, an INSERT per row, ``COMMIT``).
* PostgreSQL (asyncpg): one ``INSERT … SELECT FROM unnest(…)`` with an array per column,
  on a connection borrowed from the engine's pool.

Values are converted with the columns' own SQLAlchemy bind processors, so a row written
here reads back exactly like one written through the ORM. Anything else (another driver,
an in-memory SQLite database) takes the SQLAlchemy path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from node.db.engine import Sessions, insert_for, sqlite_pragmas
from node.db.models import InboxItem
from node.ids import new_id

__all__ = ["InboxWriter"]

log = logging.getLogger(__name__)

_ID_ATTEMPTS = 3
#: Stored groups are summed into one INFO line a second at most: a busy inbox commits
#: hundreds of small groups a second, and a log line costs about as much as a row.
_LOG_SECONDS = 1.0
_TABLE: Table = InboxItem.__table__  # type: ignore[assignment]  # Core insert: no ORM work
_COLUMNS = tuple(column.name for column in _TABLE.columns)
#: Table and column names come from the model, values always go in as parameters.
_INSERT = f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)})"


class _Collision(Exception):
    """A row id another process made in the same millisecond (not a duplicate activity)."""


def _processors(engine: AsyncEngine) -> list[Callable[[Any], Any] | None]:
    dialect = engine.dialect
    return [_TABLE.c[name].type.bind_processor(dialect) for name in _COLUMNS]


class _SqliteDriver:
    """The writer's own ``sqlite3`` connection, used only from its own thread."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._path = str(engine.url.database)
        self._processors = _processors(engine)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="inbox-writer")
        self._connection: sqlite3.Connection | None = None
        marks = ", ".join("?" * len(_COLUMNS))
        self._sql = f"{_INSERT} VALUES ({marks}) ON CONFLICT (activity_id) DO NOTHING"

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit mode: the transaction is the explicit BEGIN IMMEDIATE below.
            connection = sqlite3.connect(self._path, isolation_level=None)
            sqlite_pragmas(connection)
            self._connection = connection
        return self._connection

    def _write(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        connection = self._connect()
        cursor = connection.cursor()
        inserted: set[str] = set()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                values = [
                    row[name] if process is None else process(row[name])
                    for name, process in zip(_COLUMNS, self._processors, strict=True)
                ]
                cursor.execute(self._sql, values)
                if cursor.rowcount == 1:
                    inserted.add(str(row["activity_id"]))
            cursor.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            cursor.execute("ROLLBACK")
            raise _Collision(str(exc)) from exc
        except BaseException:
            if connection.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
        return inserted

    async def write(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)


class _AsyncpgDriver:
    """One ``INSERT … SELECT FROM unnest(…)`` per group on a pooled asyncpg connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._processors = _processors(engine)
        dialect = engine.dialect
        arrays = ", ".join(
            f"${n}::{_TABLE.c[name].type.compile(dialect)}[]"
            for n, name in enumerate(_COLUMNS, start=1)
        )
        returning = "ON CONFLICT (activity_id) DO NOTHING RETURNING activity_id"
        self._sql = f"{_INSERT} SELECT * FROM unnest({arrays}) {returning}"  # noqa: S608

    async def write(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        import asyncpg  # the PostgreSQL driver; only imported when PostgreSQL is used

        columns = [
            [row[name] if process is None else process(row[name]) for row in rows]
            for name, process in zip(_COLUMNS, self._processors, strict=True)
        ]
        async with self._engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            try:
                async with driver.transaction():
                    records = await driver.fetch(self._sql, *columns)
            except asyncpg.UniqueViolationError as exc:
                raise _Collision(str(exc)) from exc
        return {str(record[0]) for record in records}

    async def close(self) -> None:
        return None


class _SessionDriver:
    """Through a SQLAlchemy session: every other database (and in-memory SQLite)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def write(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        try:
            async with self._sessions() as session, session.begin():
                dialect = session.get_bind().dialect.name
                statement = insert_for(dialect, _TABLE).values(list(rows))
                result = await session.execute(
                    statement.on_conflict_do_nothing(index_elements=["activity_id"]).returning(
                        _TABLE.c.activity_id
                    )
                )
                return {str(value) for value in result.scalars()}
        except IntegrityError as exc:
            raise _Collision(str(exc)) from exc

    async def close(self) -> None:
        return None


def _driver(sessions: Sessions) -> _SqliteDriver | _AsyncpgDriver | _SessionDriver:
    engine = sessions.kw.get("bind")
    if isinstance(engine, AsyncEngine):
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return _SqliteDriver(engine)
        if url.get_backend_name() == "postgresql" and url.get_driver_name() == "asyncpg":
            return _AsyncpgDriver(engine)
    return _SessionDriver(sessions)


class InboxWriter:
    """Writes inbox rows in groups; one writer task per process, started on first use."""

    def __init__(self, sessions: Sessions, *, max_group: int = 256) -> None:
        self._driver = _driver(sessions)
        self._max_group = max_group
        self._waiting: list[tuple[Mapping[str, Any], asyncio.Future[int | None]]] = []
        self._task: asyncio.Task[None] | None = None
        #: Committed groups so far (one transaction each).
        self.commits = 0
        #: Activities stored, duplicates and commits since the last log line.
        self._tally = [0, 0, 0]
        self._tally_timer: asyncio.TimerHandle | None = None

    async def write(self, row: Mapping[str, Any]) -> int | None:
        """Store *row*; its id once committed, None if its ``activity_id`` was already there.

        The id is the row's own unless it met another process's row id, then a fresh one.
        """
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="inbox-writer")
        return await future

    async def close(self) -> None:
        """Finish what is waiting (the app is stopping)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._tally_timer is not None:
            self._tally_timer.cancel()
        self._log_tally()
        await self._driver.close()

    def _count(self, stored: int, duplicates: int) -> None:
        tally = self._tally
        tally[0] += stored
        tally[1] += duplicates
        tally[2] += 1
        if self._tally_timer is None:
            self._tally_timer = asyncio.get_running_loop().call_later(_LOG_SECONDS, self._log_tally)

    def _log_tally(self) -> None:
        self._tally_timer = None
        (stored, duplicates, commits), self._tally = self._tally, [0, 0, 0]
        if commits:
            log.info(
                "inbox stored %d activities (%d duplicates) in %d commits",
                stored,
                duplicates,
                commits,
            )

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = (
                self._waiting[: self._max_group],
                self._waiting[self._max_group :],
            )
            try:
                rows, inserted = await self._insert([row for row, _ in group])
            except Exception as exc:  # every waiter learns it; none is told "stored"
                log.warning("inbox write of %d activities failed: %s", len(group), exc)
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.commits += 1
            self._count(len(inserted), len(group) - len(inserted))
            claimed: set[str] = set()
            for row, (_, future) in zip(rows, group, strict=True):
                key = str(row["activity_id"])
                # The same activity twice in one group: the first is new, the second a duplicate.
                fresh = key in inserted and key not in claimed
                claimed.add(key)
                if not future.done():
                    future.set_result(int(row["id"]) if fresh else None)

    async def _insert(
        self, rows: list[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], set[str]]:
        for attempt in range(_ID_ATTEMPTS):
            try:
                return rows, await self._driver.write(rows)
            except _Collision:
                # Not a duplicate activity (that conflict is ignored) but a row id another
                # process made in the same millisecond: try again with fresh ids.
                if attempt == _ID_ATTEMPTS - 1:
                    raise
                rows = [{**row, "id": new_id()} for row in rows]
        raise AssertionError("unreachable")
