"""Remote actors are stored once, however many requests meet them at the same moment."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from node.db.models import Account
from tests.conftest import NodeFactory
from tests.node.rig import PeerFactory


async def test_concurrent_first_contact_stores_one_account(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """An inbox key fetch and follows by handle racing for a new actor: no 500, one row
    (found by `make demo`: a UNIQUE violation on accounts.username, domain)."""
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    peer = await make_peer("127.0.0.4", "carol")

    async def by_uri() -> int:
        async with node.ctx.sessions() as session, session.begin():
            account = await node.ctx.resolver.account(session, peer.actor("carol"))
            assert account is not None
            return account.id

    async def by_key() -> int:
        return (await node.ctx.resolver.key(peer.key_id("carol"))).account_id

    ids = await asyncio.gather(*(by_uri() if i % 2 else by_key() for i in range(12)))
    async with node.ctx.sessions() as session:
        rows = await session.scalar(
            select(func.count()).select_from(Account).where(Account.uri == peer.actor("carol"))
        )
    assert rows == 1
    assert len(set(ids)) == 1
