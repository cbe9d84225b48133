"""Fixtures shared by the node tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.node.rig import PeerFactory, peers


@pytest.fixture
async def make_peer() -> AsyncIterator[PeerFactory]:
    """Start remote peers on loopback with ``await make_peer(host, "alice", …)``."""
    async with peers() as make:
        yield make
