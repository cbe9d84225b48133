"""The node's services for a one-off command (``kantine post``, ``kantine directory …``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from config import Settings
from node.app import create_app
from node.appkeys import CONTEXT
from node.cli.database import open_database
from node.cli.errors import database_errors
from node.services.context import NodeContext

__all__ = ["node_services"]


@asynccontextmanager
async def node_services(settings: Settings, config: str) -> AsyncIterator[NodeContext]:
    """The node's services as a web request would have them (mention lookup, sanitiser,
    publisher, …), from the node's own composition root; its workers stay off: the running
    node delivers what a command queues."""
    async with open_database(settings, config):
        pass  # only the check: the app below would silently create and migrate a database
    app = create_app(settings, run_workers=False)
    runner = web.AppRunner(app)
    with database_errors():
        await runner.setup()
        try:
            yield app[CONTEXT]
        finally:
            await runner.cleanup()
