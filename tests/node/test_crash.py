"""``kill -9`` of a node during ingest and during fan-out loses nothing (SECURITY.md §4).

The node under test runs as a real ``kantine serve`` process on SQLite or PostgreSQL and
is killed with SIGKILL mid-way; after a restart every acknowledged activity is applied
exactly once and every pending delivery is sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from activitypub.signatures import sign_request
from node.appkeys import DELIVERY
from node.db.engine import create_engine
from node.db.models import Account, Delivery, Follow, InboxItem, Status
from node.federation.delivery_admin import retry_now
from node.services.statuses import find_account, post_status
from tests.conftest import NodeFactory, free_port
from tests.node.rig import AS2, Peer, peers

pytestmark = pytest.mark.slow


class ProcessNode:
    """A node run the way an admin runs it: ``kantine init``, then ``kantine serve``."""

    def __init__(self, root: Path, host: str, database_url: str, allow: list[str]) -> None:
        self.host = host
        self.port = free_port(host)
        self.database_url = database_url
        self.config = root / f"{host}.toml"
        self.config.write_text(
            f"""
[node]
domain = "{self.domain}"
base_url = "{self.base}"
data_dir = "data-{host}"

[server]
host = "{host}"
port = {self.port}

[database]
url = "{database_url}"

[federation]
allow = {json.dumps(allow)}
allow_http = true
worker_lease_seconds = 1.0
""",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def domain(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.domain}"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "node.cli", *args, "--config", str(self.config)],
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode().strip()

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "serve", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with aiohttp.ClientSession() as http:
            await _wait_for(lambda: _healthy(http, self.base), seconds=30, what="/health")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def _healthy(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/health") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _wait_for(check: Callable[[], Awaitable[bool]], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


ProcessNodeFactory = Callable[[str, list[str]], Awaitable[ProcessNode]]


@pytest.fixture
async def process_node(
    tmp_path: Path, database_url_factory: Callable[[str], Awaitable[str]]
) -> AsyncIterator[ProcessNodeFactory]:
    started: list[ProcessNode] = []

    async def make(host: str, allow: list[str]) -> ProcessNode:
        node = ProcessNode(tmp_path, host, await database_url_factory(f"proc-{host}"), allow)
        node.cli("init")
        node.cli("users", "create", "alice", "--password", "correct horse battery")
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


@pytest.fixture
async def engine_of() -> AsyncIterator[Callable[[ProcessNode], AsyncEngine]]:
    engines: list[AsyncEngine] = []

    def make(node: ProcessNode) -> AsyncEngine:
        engines.append(create_engine(node.database_url, pool_size=2))
        return engines[-1]

    yield make
    for engine in engines:
        await engine.dispose()


async def _count(engine: AsyncEngine, query: Select[Any]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar() or 0)


async def test_kill9_during_ingest_loses_nothing(
    make_node: NodeFactory,
    process_node: ProcessNodeFactory,
    engine_of: Callable[[ProcessNode], AsyncEngine],
) -> None:
    """HR delivers 150 posts; Finance is killed while taking them in; each is applied once."""
    hr = await make_node("hr", "127.0.0.3", allow=("127.0.0.2",), workers=True)
    finance = await process_node("127.0.0.2", ["127.0.0.3"])
    await hr.user("bob")
    await finance.start()
    db = engine_of(finance)
    async with hr.ctx.sessions() as session, session.begin():
        alice_at_hr = await find_account(hr.ctx, session, "alice", finance.domain)
        assert alice_at_hr is not None
    token = finance.cli("tokens", "create", "alice", "--scopes", "read,write,follow")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(
            f"{finance.base}/users/alice/outbox",
            json={"type": "Follow", "object": f"bob@{hr.domain}"},
        ) as r,
    ):
        assert r.status == 201, await r.text()
    accepted = select(func.count()).select_from(Follow).where(Follow.state == "accepted")
    await _wait_for(lambda: _equals(_count(db, accepted), 1), seconds=20, what="the follow")

    count = 150
    async with hr.ctx.sessions() as session, session.begin():
        bob = (await session.execute(select(Account).where(Account.username == "bob"))).scalar_one()
        for i in range(count):
            await post_status(hr.ctx, session, bob, f"Bericht {i} #crash")
    received = select(func.count()).select_from(InboxItem)
    await _wait_for(lambda: _at_least(_count(db, received), 20), seconds=30, what="the first posts")
    finance.kill()
    assert await _count(db, received) < count, "the kill came too late to test anything"
    await finance.start()

    stored = select(func.count()).select_from(Status).where(Status.content.like("%Bericht%"))
    waiting = select(func.count()).select_from(InboxItem).where(InboxItem.state != "done")

    async def all_applied() -> bool:
        # HR's retries back off; the admin's "retry now" makes them due at once.
        async with hr.ctx.sessions() as session, session.begin():
            await retry_now(session, host=finance.domain)
        hr.app[DELIVERY].wake()
        return await _count(db, stored) == count and await _count(db, waiting) == 0

    await _wait_for(all_applied, seconds=120, what="every post to be applied after the restart")
    distinct = select(func.count(func.distinct(Status.uri))).where(Status.content.like("%Bericht%"))
    assert await _count(db, distinct) == count
    async with hr.ctx.sessions() as session:
        undelivered = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state != "delivered")
        )
    assert undelivered == 0


async def test_kill9_during_fanout_redelivers(
    process_node: ProcessNodeFactory, engine_of: Callable[[ProcessNode], AsyncEngine]
) -> None:
    """Finance is killed while delivering 40 posts to a slow follower; after a restart all arrive."""
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.5", "zoe")
        peer.post_delay = 0.1
        finance = await process_node("127.0.0.2", ["127.0.0.5"])
        await finance.start()
        db = engine_of(finance)
        await _follow_from_peer(peer, finance)
        accepted = select(func.count()).select_from(Follow).where(Follow.state == "accepted")
        await _wait_for(lambda: _equals(_count(db, accepted), 1), seconds=20, what="zoe's follow")
        await _wait_for(
            lambda: _true(bool(_creates(peer)) or _accepts(peer) > 0), seconds=20, what="the Accept"
        )

        token = finance.cli("tokens", "create", "alice", "--scopes", "write")
        sent = 40
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            for i in range(sent):
                async with http.post(
                    f"{finance.base}/users/alice/outbox",
                    json={"type": "Note", "content": f"Uitgaand {i}"},
                ) as r:
                    assert r.status == 201
        await _wait_for(
            lambda: _true(len(_creates(peer)) >= 5), seconds=30, what="the first deliveries"
        )
        finance.kill()
        assert len(_creates(peer)) < sent, "the kill came too late to test anything"
        await finance.start()
        await _wait_for(
            lambda: _true(len(_creates(peer)) == sent),
            seconds=60,
            what="every post after the restart",
        )
        pending = select(func.count()).select_from(Delivery).where(Delivery.state != "delivered")
        await _wait_for(
            lambda: _equals(_count(db, pending), 0), seconds=30, what="the queue to drain"
        )


async def _follow_from_peer(peer: Peer, node: ProcessNode) -> None:
    activity = peer.activity("zoe", "Follow", f"{node.base}/users/alice")
    body = json.dumps(activity).encode()
    url = f"{node.base}/inbox"
    headers = {
        "Content-Type": AS2,
        **sign_request(
            method="POST",
            url=url,
            key_id=peer.key_id("zoe"),
            private_key=peer.keys["zoe"],
            body=body,
        ),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers=headers) as response,
    ):
        assert response.status == 202, await response.text()


def _creates(peer: Peer) -> set[str]:
    return {str(a["object"]["id"]) for a in peer.delivered() if a.get("type") == "Create"}


def _accepts(peer: Peer) -> int:
    return sum(1 for a in peer.delivered() if a.get("type") == "Accept")


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _at_least(value: Awaitable[int], expected: int) -> bool:
    return await value >= expected


async def _true(value: bool) -> bool:
    return value
