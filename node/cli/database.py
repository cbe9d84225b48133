"""``kantine init`` and the database the other commands open: create, migrate, check."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url

from config import Settings
from node.cli.errors import CommandError, database_errors
from node.db.engine import Sessions, create_engine, migrate, sessionmaker_for
from node.federation.documents import Urls
from node.services.accounts import ensure_instance_actor

__all__ = ["Initialised", "initialise", "open_database", "run_init", "safe_url"]


@dataclass(frozen=True)
class Initialised:
    """What ``kantine init`` did."""

    data_dir: Path
    database: str
    created_database: bool
    instance_actor: str


def safe_url(url: str) -> str:
    """The database URL with any password masked, for printing."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


async def _ensure_postgres_database(url: str) -> bool:
    """Create the PostgreSQL database named in *url* if it does not exist; return whether it did."""
    import asyncpg

    parsed = make_url(url).set(drivername="postgresql")
    name = parsed.database or ""
    try:
        try:
            conn = await asyncpg.connect(parsed.render_as_string(hide_password=False))
        except asyncpg.InvalidCatalogNameError:
            admin = parsed.set(database="postgres").render_as_string(hide_password=False)
            conn = await asyncpg.connect(admin)
            try:
                quoted = name.replace('"', '""')
                await conn.execute(f'CREATE DATABASE "{quoted}"')
            finally:
                await conn.close()
            return True
        await conn.close()
        return False
    except asyncpg.PostgresError as exc:
        raise CommandError(f"database error: {exc}") from None
    except OSError as exc:
        raise CommandError(f"database unreachable at {safe_url(url)}: {exc}") from None


async def initialise(settings: Settings) -> Initialised:
    """Create the data directory and the database, migrate it and make the instance actor.

    Idempotent: on an initialised node it only confirms the schema is current.
    """
    data_dir = settings.data_path
    url = settings.database_url
    sqlite_file = _sqlite_file(url)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {exc.filename}: {exc.strerror}") from None
    created = False
    if sqlite_file is not None:
        created = not sqlite_file.exists()
    elif url.startswith("postgresql"):
        created = await _ensure_postgres_database(url)
    with database_errors():
        engine = create_engine(url, pool_size=2, echo=settings.database.echo)
        try:
            await migrate(engine)
            sessions = sessionmaker_for(engine)
            async with sessions() as session, session.begin():
                instance = await ensure_instance_actor(
                    session, settings.node.domain.lower(), Urls(settings.base_url)
                )
        finally:
            await engine.dispose()
    return Initialised(data_dir, safe_url(url), created, instance.uri)


def _has_schema(connection: Connection) -> bool:
    return inspect(connection).has_table("alembic_version")


@contextlib.asynccontextmanager
async def open_database(settings: Settings, config: str) -> AsyncIterator[Sessions]:
    """Sessions on the node's database; a clear error if ``kantine init`` has not run yet."""
    url = settings.database_url
    hint = f"the database is not initialised: run `kantine init --config {config}` first"
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None and not sqlite_file.exists():
        # Do not let SQLite create an empty file somewhere a typo points to.
        raise CommandError(f"{hint} (no file {sqlite_file})")
    with database_errors():
        engine = create_engine(url, pool_size=2, echo=settings.database.echo)
        try:
            async with engine.connect() as connection:
                if not await connection.run_sync(_has_schema):
                    raise CommandError(hint)
            yield sessionmaker_for(engine)
        finally:
            await engine.dispose()


def run_init(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine init``: print what was made; safe to run again."""
    done = asyncio.run(initialise(settings))
    verb = "created" if done.created_database else "up to date"
    print(f"initialised {settings.node.name} ({settings.node.domain}, {settings.node.role})")
    print(f"  data dir:       {done.data_dir}")
    print(f"  database:       {done.database} ({verb})")
    print(f"  instance actor: {done.instance_actor}")
    return 0
