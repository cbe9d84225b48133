"""Shared fixtures: a database per test on SQLite and PostgreSQL, and real nodes on loopback."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import shutil
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import pytest
from aiohttp import web
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import make_url

from activitypub.keys import generate_private_key
from config import Settings, settings_from_mapping
from node.app import create_app
from node.appkeys import CONTEXT, DELIVERY, PROCESSOR
from node.auth import passwords
from node.auth.tokens import issue_token
from node.db.engine import create_engine, migrate
from node.db.models import Account
from node.services import accounts
from node.services.accounts import create_local_account
from node.services.context import NodeContext

__all__ = ["DatabaseUrlFactory", "Node", "NodeFactory", "postgres_server_url"]


T = TypeVar("T")


class DatabaseUrlFactory(Protocol):
    """``await make(name)``: an empty database; ``migrated=True``: one at the newest migration."""

    def __call__(self, name: str, *, migrated: bool = False) -> Awaitable[str]: ...


def postgres_server_url() -> str | None:
    """The PostgreSQL server the suite may use; in CI its absence is an error, not a skip."""
    url = os.environ.get("KANTINE_TEST_POSTGRES_URL")
    if not url and os.environ.get("CI") == "true":
        pytest.fail(
            "CI must set KANTINE_TEST_POSTGRES_URL: the PostgreSQL tests may not skip there"
        )
    return url


def _admin_dsn(server_url: str) -> str:
    return make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_database(server_url: str, template: str | None = None) -> str:
    """The URL of a new database on the server (a copy of *template* when given)."""
    name = f"kantine_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_admin_dsn(server_url))
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class _Postgres:
    """Makes and drops the tests' PostgreSQL databases on a thread with its own event loop.

    ``DROP DATABASE`` makes the server take a checkpoint and wait for it: a second or more
    with fsync on, which every PostgreSQL test used to wait for in its teardown. Here drops
    run beside the next tests, at the same time, so they share checkpoints (eight at once
    take about as long as one). Copies of the migrated template are made a few ahead, so
    a node seldom waits for ``CREATE DATABASE`` either. The session waits for the last
    drop and fails if any database could not be made or dropped.
    """

    #: Copies of a template kept ready.
    SPARES = 2
    #: At most this many drops at once (each holds a connection).
    DROPS = 16

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Touched on the loop's thread only:
        self._spares: dict[tuple[str, str], asyncio.Queue[str | BaseException]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._drops: asyncio.Semaphore | None = None
        self._last: list[tuple[str, str]] = []  # the templates, dropped after their copies
        self.failures: list[str] = []

    def _submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="test-databases", daemon=True
            )
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def copy(self, server_url: str, template: str) -> str:
        """The URL of a new database made from *template* (usually made already)."""
        return await asyncio.wrap_future(self._submit(self._take(server_url, template)))

    def drop(self, server_url: str, name: str) -> None:
        """Drop the database soon; the session's end waits for it."""
        self._submit(self._spawn(self._drop(server_url, name)))

    def drop_last(self, server_url: str, name: str) -> None:
        """Drop this template once every copy is made and dropped."""
        self._last.append((server_url, name))

    def close(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._submit(self._finish()).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            self._loop = self._thread = None
        if self.failures:
            pytest.fail("test databases not made or dropped:\n" + "\n".join(self.failures))

    # On the loop's thread:

    async def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, server_url: str, template: str) -> str:
        key = (server_url, template)
        spares = self._spares.get(key)
        if spares is None:
            spares = self._spares[key] = asyncio.Queue()
            for _ in range(self.SPARES):
                await self._spawn(self._make_spare(key, spares))
        await self._spawn(self._make_spare(key, spares))  # in place of the one taken now
        made = await spares.get()
        if isinstance(made, BaseException):
            raise made
        return made

    async def _make_spare(
        self, key: tuple[str, str], spares: asyncio.Queue[str | BaseException]
    ) -> None:
        try:
            spares.put_nowait(await _create_database(*key))
        except Exception as error:  # the test that takes it fails with this error
            spares.put_nowait(error)

    async def _drop(self, server_url: str, name: str) -> None:
        if self._drops is None:
            self._drops = asyncio.Semaphore(self.DROPS)
        async with self._drops:
            try:
                await _drop_database(server_url, name)
            except Exception as error:
                self.failures.append(f"{name}: {error!r}")

    async def _finish(self) -> None:
        while self._tasks:  # copies being made, databases being dropped
            await asyncio.gather(*self._tasks)
        unused: list[tuple[str, str]] = []
        for (server_url, _template), spares in self._spares.items():
            while not spares.empty():
                made = spares.get_nowait()
                if isinstance(made, str):
                    unused.append((server_url, make_url(made).database or ""))
        await asyncio.gather(*(self._drop(server_url, name) for server_url, name in unused))
        await asyncio.gather(*(self._drop(server_url, name) for server_url, name in self._last))


class _Schemas:
    """Migrated schemas made once per test process, copied for every node's database.

    Running the Alembic migrations took every node a third of a second on SQLite and
    seconds of DDL on PostgreSQL; a file copy (SQLite) or ``CREATE DATABASE … TEMPLATE``
    (PostgreSQL) gives the same schema for much less. The migrations themselves stay tested
    on empty databases (tests/node/test_migrations.py, tests/test_cli.py).
    """

    def __init__(self, folder: Path, postgres: _Postgres) -> None:
        self._folder = folder
        self._pg = postgres
        self._sqlite: Path | None = None
        self._postgres: dict[str, str] = {}
        self._made: list[tuple[str, str]] = []  # every template made, to drop at the end

    async def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self._folder / f"schema-{uuid.uuid4().hex[:8]}.db"
            engine = create_engine(f"sqlite+aiosqlite:///{path}")
            try:
                await migrate(engine)
                async with engine.connect() as connection:
                    # Everything into the main file, so copying that one file is enough.
                    await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                await engine.dispose()
            self._sqlite = path
        return self._sqlite

    async def postgres(self, server_url: str) -> str:
        """A new database at the newest migration on the server; returns its URL."""
        if server_url not in self._postgres:
            url = await _create_database(server_url)
            name = make_url(url).database or ""
            self._made.append((server_url, name))
            engine = create_engine(url, pool_size=1)
            try:
                await migrate(engine)
            finally:
                await engine.dispose()  # a template may have no open connection
            self._postgres[server_url] = name
        return await self._pg.copy(server_url, self._postgres[server_url])

    def close(self) -> None:
        for server_url, name in self._made:
            self._pg.drop_last(server_url, name)


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_Postgres]:
    postgres = _Postgres()
    yield postgres
    postgres.close()


@pytest.fixture(scope="session")
def _schemas(tmp_path_factory: pytest.TempPathFactory, _postgres: _Postgres) -> Iterator[_Schemas]:
    schemas = _Schemas(tmp_path_factory.mktemp("schemas"), _postgres)
    yield schemas
    schemas.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    """Every test that uses a database runs on SQLite and on PostgreSQL."""
    kind: str = request.param
    if kind == "postgresql" and postgres_server_url() is None:
        pytest.skip("PostgreSQL not available: set KANTINE_TEST_POSTGRES_URL (CI does)")
    return kind


@pytest.fixture
async def database_url_factory(
    db_kind: str, tmp_path: Path, _schemas: _Schemas, _postgres: _Postgres
) -> AsyncIterator[DatabaseUrlFactory]:
    """Makes a fresh database per call (one per node) on the test's engine.

    Empty by default; ``migrated=True`` gives one already at the newest migration (a copy
    of a schema migrated once per test process), which is what a node starts on."""
    made: list[str] = []
    server = postgres_server_url() if db_kind == "postgresql" else None

    async def make(name: str, *, migrated: bool = False) -> str:
        if server is None:
            path = tmp_path / f"{name}.db"
            if migrated:
                shutil.copyfile(await _schemas.sqlite(), path)
            return f"sqlite+aiosqlite:///{path}"
        url = await _schemas.postgres(server) if migrated else await _create_database(server)
        made.append(make_url(url).database or "")
        return url

    yield make
    for name in made:
        assert server is not None
        _postgres.drop(server, name)


#: RSA-2048 keys made in this test process, handed out again in later tests (see below).
_ACTOR_KEYS: list[rsa.RSAPrivateKey] = []


@pytest.fixture(autouse=True)
def _reused_actor_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node account gets its own RSA key within a test, but keys are made only once.

    Making a key costs tens of milliseconds of CPU, and each node makes one for its
    instance actor and one per person: the suite spent minutes on it. The n-th key a test
    asks for is the n-th of this process's list, made the first time a test needed that
    many; no two actors of one test ever share a key, so key confusion still shows.
    """
    handed_out = itertools.count()

    def next_key() -> rsa.RSAPrivateKey:
        index = next(handed_out)
        while len(_ACTOR_KEYS) <= index:
            _ACTOR_KEYS.append(generate_private_key())
        return _ACTOR_KEYS[index]

    monkeypatch.setattr(accounts, "generate_private_key", next_key)


#: argon2id at its smallest cost: the same algorithm and hash format, about a millisecond.
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash the tests' passwords with argon2id at its lowest cost instead of production's.

    Production's parameters (64 MiB, three passes) cost a fifth of a second of CPU per hash
    and per check, and the web tests make and check passwords for every person they sign
    in. A hash names its own parameters, so checking one costs what making it did; hashes
    made by ``kantine`` subprocesses still verify. Production's hasher is untouched.
    """
    monkeypatch.setattr(passwords, "_HASHER", _TEST_HASHER)


def free_port(host: str) -> int:
    """A free TCP port on *host*."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """A real node serving HTTP on a loopback address."""

    name: str
    host: str
    port: int
    app: web.Application
    runner: web.AppRunner

    @property
    def domain(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.domain}"

    @property
    def ctx(self) -> NodeContext:
        return self.app[CONTEXT]

    async def user(
        self, username: str, *, password: str | None = None, **kw: Any
    ) -> tuple[Account, str]:
        """Create a local account and a read/write/follow token for it."""
        async with self.ctx.sessions() as session, session.begin():
            account = await create_local_account(
                session, self.ctx.domain, self.ctx.urls, username, password=password, **kw
            )
            token = await issue_token(session, account, "read write follow")
        return account, token

    async def settle(self) -> int:
        """Run the inbox and delivery workers until both are idle (tests step them).

        Returns how many inbox items and deliveries they handled (0: there was nothing)."""
        handled = 0
        for _ in range(50):
            worked = await self.app[PROCESSOR].run_once()
            worked += await self.app[DELIVERY].run_once()
            if not worked:
                break
            handled += worked
        return handled

    async def stop(self) -> None:
        await self.runner.cleanup()


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(
    database_url_factory: DatabaseUrlFactory, tmp_path: Path
) -> AsyncIterator[NodeFactory]:
    """Starts nodes on 127.0.0.x; each allows the hosts named in ``allow``."""
    nodes: list[Node] = []

    async def start(
        name: str,
        host: str,
        *,
        allow: tuple[str, ...] = (),
        workers: bool = False,
        node_options: dict[str, Any] | None = None,
        **federation: Any,
    ) -> Node:
        port = free_port(host)
        settings: Settings = settings_from_mapping(
            {
                "node": {
                    "domain": f"{host}:{port}",
                    "base_url": f"http://{host}:{port}",
                    "name": name,
                    # Keys and uploaded media stay inside the test's folder.
                    "data_dir": str(tmp_path / f"{name}-data"),
                    **(node_options or {}),
                },
                "server": {"host": host, "port": port},
                "database": {
                    "url": await database_url_factory(name, migrated=True),
                    "pool_size": 5,
                },
                "federation": {"allow_http": True, "allow": list(allow), **federation},
            },
            env={},
        )
        app = create_app(settings, run_workers=workers)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        node = Node(name, host, port, app, runner)
        nodes.append(node)
        return node

    yield start
    for node in reversed(nodes):
        await node.stop()
