"""Shared fixtures: a database per test on SQLite and PostgreSQL, and real nodes on loopback."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url

from config import Settings, settings_from_mapping
from node.app import create_app
from node.appkeys import CONTEXT, DELIVERY, PROCESSOR
from node.auth.tokens import issue_token
from node.db.models import Account
from node.services.accounts import create_local_account
from node.services.context import NodeContext

__all__ = ["Node", "NodeFactory", "postgres_server_url"]


def postgres_server_url() -> str | None:
    """The PostgreSQL server the suite may use; in CI its absence is an error, not a skip."""
    url = os.environ.get("KANTINE_TEST_POSTGRES_URL")
    if not url and os.environ.get("CI") == "true":
        pytest.fail(
            "CI must set KANTINE_TEST_POSTGRES_URL: the PostgreSQL tests may not skip there"
        )
    return url


async def _create_database(server_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    url = make_url(server_url)
    name = f"kantine_test_{uuid.uuid4().hex[:12]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    """Every test that uses a database runs on SQLite and on PostgreSQL."""
    kind: str = request.param
    if kind == "postgresql" and postgres_server_url() is None:
        pytest.skip("PostgreSQL not available: set KANTINE_TEST_POSTGRES_URL (CI does)")
    return kind


@pytest.fixture
async def database_url_factory(
    db_kind: str, tmp_path: Path
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Makes a fresh, empty database per call (one per node) on the test's engine."""
    drops: list[Callable[[], Awaitable[None]]] = []

    async def make(name: str) -> str:
        if db_kind == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        server = postgres_server_url()
        assert server is not None
        url, drop = await _create_database(server)
        drops.append(drop)
        return url

    yield make
    for drop in drops:
        await drop()


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

    async def settle(self) -> None:
        """Run the inbox and delivery workers until both are idle (tests step them)."""
        for _ in range(50):
            worked = await self.app[PROCESSOR].run_once()
            worked += await self.app[DELIVERY].run_once()
            if not worked:
                return

    async def stop(self) -> None:
        await self.runner.cleanup()


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(
    database_url_factory: Callable[[str], Awaitable[str]], tmp_path: Path
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
                "database": {"url": await database_url_factory(name), "pool_size": 5},
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
