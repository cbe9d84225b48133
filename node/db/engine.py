"""Async engines for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg), and schema migration."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, event, inspect
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import ConnectionPoolEntry

from node.db.writers import install

__all__ = [
    "AsyncSession",
    "Sessions",
    "checkpoint_forever",
    "create_engine",
    "insert_for",
    "migrate",
    "sessionmaker_for",
    "sqlite_pragmas",
]

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry | None = None) -> None:
    """The connection settings of every SQLite connection of the node (the pool's and others)."""
    # WAL lets readers run beside the one writer; synchronous=NORMAL in WAL mode keeps every
    # committed transaction across a crash of the process (kill -9), losing at most the last
    # ones on power loss. busy_timeout makes concurrent writers wait instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A post fans out to ~200 home feeds, each a different page of the feed index: a larger
    # page cache (16 MB, grown only as used) keeps those pages between posts.
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


def insert_for(dialect: str, table: Table | type[Any]) -> PgInsert | SqliteInsert:
    """The dialect's ``INSERT`` into *table* (a table or a model), which has
    ``on_conflict_do_nothing`` / ``on_conflict_do_update`` on both databases."""
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An engine for *url*; SQLite gets WAL and foreign keys, PostgreSQL a sized pool."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
    )


async def checkpoint_forever(engine: AsyncEngine, interval: float = 1.0) -> None:
    """Copy SQLite's write-ahead log back into the database every *interval* seconds.

    Without this, the commit that crosses SQLite's auto-checkpoint size (1,000 pages, about
    four posts with fan-out) does the copy itself and is that much slower. A ``PASSIVE``
    checkpoint waits for no reader or writer; the auto-checkpoint stays as the fallback.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            async with engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # a busy moment; the next round or the auto-checkpoint catches up
            log.debug("wal checkpoint skipped", exc_info=True)


def sessionmaker_for(engine: AsyncEngine) -> Sessions:
    """The session factory every service uses (``expire_on_commit=False``: rows stay readable);
    on SQLite with the process's writer queue (``node.db.writers``)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":
        install(sessions)
    return sessions


def _upgrade(connection: Connection) -> None:
    # Imported here: Alembic costs a quarter of a second, which one-shot commands need not pay.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


#: The newest migration. A database already there is not handed to Alembic at all: its
#: import (with Mako and Pygments) costs 8 MB of every node's idle memory for nothing.
#: ``tests/node/test_migrations.py`` checks that this is the one head.
HEAD_REVISION = "0012_one_head"


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    return set(versions) == {HEAD_REVISION}


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision (the same migrations on both engines)."""
    async with engine.begin() as connection:
        if await connection.run_sync(_at_head):
            return
        await connection.run_sync(_upgrade)
