"""Two department nodes on loopback and Mastodon.py clients for their people (PROTOCOL.md §6)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from mastodon import Mastodon

from node.db.models import Account
from tests.conftest import Node, NodeFactory

__all__ = ["Pair", "call", "client", "raw", "settle"]

T = TypeVar("T")


def client(node: Node, token: str | None) -> Mastodon:
    """A Mastodon.py client for *node* (no version probe: the test talks to our API only)."""
    return Mastodon(access_token=token, api_base_url=node.base, version_check_mode="none")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (synchronous) Mastodon.py call off the event loop that serves the nodes."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def raw(
    node: Node,
    method: str,
    path: str,
    token: str | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """A plain HTTP request: (status, JSON, text or bytes) — for what Mastodon.py hides."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, node.base + path, headers=headers, **kwargs) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        if response.content_type.startswith("text/"):
            return response.status, await response.text()
        return response.status, await response.read()


async def settle(*nodes: Node) -> None:
    """Step every node's workers until the federation traffic between them has stopped.

    A round in which no node had anything to do ends it: the next rounds would find nothing
    either (each costs two queries per node)."""
    for _ in range(6):
        handled = 0
        for node in nodes:
            handled += await node.settle()
        if not handled:
            return


@dataclass
class Pair:
    """finance (alice, carol) and hr (bob, dave), each allowing the other."""

    finance: Node
    hr: Node
    alice: Account
    alice_token: str
    bob: Account
    bob_token: str


@pytest.fixture
async def pair(make_node: NodeFactory) -> Pair:
    finance = await make_node("finance", "127.0.0.2", allow=("127.0.0.3",))
    hr = await make_node("hr", "127.0.0.3", allow=("127.0.0.2",))
    alice, alice_token = await finance.user("alice")
    bob, bob_token = await hr.user("bob")
    return Pair(finance, hr, alice, alice_token, bob, bob_token)
