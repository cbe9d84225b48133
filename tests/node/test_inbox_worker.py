"""``server.inbox_worker = "worker"``: ``kantine serve`` only verifies and stores, and a
``kantine worker`` process beside it applies what was stored, exactly once (issue 3's
ingest target; SECURITY.md §4: nothing accepted is lost between the two)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from config import Settings, settings_from_mapping
from node.app import create_app
from node.appkeys import CONTEXT
from node.db.models import InboxItem, Status
from tests.conftest import Node, free_port
from tests.node.rig import peers, post_activity


def _settings(url: str, host: str, port: int, data: Path, peer: str) -> Settings:
    return settings_from_mapping(
        {
            "node": {
                "domain": f"{host}:{port}",
                "base_url": f"http://{host}:{port}",
                "name": "finance",
                "data_dir": str(data),
            },
            "server": {"host": host, "port": port, "inbox_worker": "worker"},
            "database": {"url": url, "pool_size": 5},
            "federation": {"allow_http": True, "allow": [peer]},
        },
        env={},
    )


async def _counts(app: web.Application) -> dict[str, Any]:
    async with app[CONTEXT].sessions() as session:
        by_state = select(InboxItem.state, func.count()).group_by(InboxItem.state)
        states = {state: count for state, count in await session.execute(by_state)}
        statuses = await session.scalar(select(func.count()).select_from(Status))
    return {"states": states, "statuses": statuses}


async def test_serve_stores_and_a_separate_worker_applies(
    database_url_factory: Any, tmp_path: Path
) -> None:
    host = "127.0.0.2"
    port = free_port(host)
    url = await database_url_factory("finance")
    settings = _settings(url, host, port, tmp_path / "data", "127.0.0.4")
    serve = create_app(settings, run_workers=True)  # what `kantine serve` runs
    runner = web.AppRunner(serve)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    node = Node("finance", host, port, serve, runner)
    worker_runner: web.AppRunner | None = None
    try:
        await node.user("alice")  # the posts go to her personal inbox: relevant to her
        async with peers() as make_peer:
            peer = await make_peer("127.0.0.4", "carol")
            notes = [peer.note("carol", f"post {n}") for n in range(5)]
            replies = [
                await post_activity(
                    node,
                    peer,
                    "carol",
                    peer.activity("carol", "Create", note),
                    inbox="/users/alice/inbox",
                )
                for note in notes
            ]
            assert [r.status for r in replies] == [202] * 5
            await asyncio.sleep(1.5)  # longer than the web process's own worker would wait
            # The web process stored the five but applied none of them.
            assert await _counts(serve) == {"states": {"pending": 5}, "statuses": 0}

            # `kantine worker` on the same config applies them, each once.
            worker = create_app(settings, run_workers=True, process="worker")
            worker_runner = web.AppRunner(worker)
            await worker_runner.setup()
            for _ in range(100):
                if (await _counts(serve))["states"] == {"done": 5}:
                    break
                await asyncio.sleep(0.1)
            assert await _counts(serve) == {"states": {"done": 5}, "statuses": 5}
            async with serve[CONTEXT].sessions() as session:
                uris = set((await session.execute(select(Status.uri))).scalars())
            assert uris == {note["id"] for note in notes}
    finally:
        if worker_runner is not None:
            await worker_runner.cleanup()
        await runner.cleanup()
