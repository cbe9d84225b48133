"""Remote actors are stored once, however many requests meet them at the same moment."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from node.appkeys import ENGINE
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


async def test_keys_missed_together_are_read_in_one_query(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """Seven keys missing from the cache at once (a node starting under load): the six of
    stored actors come from one query, the unknown one is fetched from its peer, and each
    request gets its own actor's key."""
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    names = ["carol", "dave", "erin", "frank", "gina", "hank", "ida"]
    peer = await make_peer("127.0.0.4", *names)
    resolver = node.ctx.resolver
    for name in names[:6]:  # stored by a first contact, then out of the cache
        await resolver.key(peer.key_id(name))
        resolver.forget(peer.actor(name))
    fetched_before = len(peer.requests("GET"))
    statements: list[str] = []
    engine = node.app[ENGINE].sync_engine

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        keys = await asyncio.gather(*(resolver.key(peer.key_id(name)) for name in names))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [k.actor_uri for k in keys] == [peer.actor(name) for name in names]
    assert [k.key_id for k in keys] == [peer.key_id(name) for name in names]
    lookups = [s for s in statements if "public_key_id IN" in " ".join(s.split())]
    assert len(lookups) == 1, statements
    fetched = [s.path for s in peer.requests("GET")[fetched_before:]]
    assert fetched and all("/ida" in path for path in fetched), fetched
