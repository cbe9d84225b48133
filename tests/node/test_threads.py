"""A reply to a post the node has not seen brings its thread along (PROTOCOL.md A22)."""

from __future__ import annotations

from sqlalchemy import func, select

from node.db.models import Account, HomeFeedEntry, Status
from node.services.graph import add_follow
from tests.conftest import Node, NodeFactory
from tests.node.rig import Peer, peers, post_activity


async def _follow(node: Node, local: Account, peer: Peer, name: str) -> None:
    await node.ctx.resolver.key(peer.key_id(name))
    async with node.ctx.sessions() as session, session.begin():
        remote = (
            await session.execute(select(Account).where(Account.uri == peer.actor(name)))
        ).scalar_one()
        me = await session.get(Account, local.id)
        assert me is not None
        await add_follow(session, me, remote, f"{local.uri}#follows/{name}", accepted=True)


async def test_reply_fetches_its_ancestors(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",), thread_fetch_depth=8)
    alice, _ = await node.user("alice")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "carol", "dave")
        await _follow(node, alice, peer, "carol")
        root = peer.serve(peer.note("dave", "Wie heeft de sleutel van kamer 3?"))
        middle = peer.serve(peer.note("dave", "Nog steeds niemand?", inReplyTo=root["id"]))
        reply = peer.note("carol", "Ik heb hem!", inReplyTo=middle["id"])
        answer = await post_activity(node, peer, "carol", peer.activity("carol", "Create", reply))
        assert answer.status == 202, answer.body
        await node.settle()
        fetched = [s.path for s in peer.requests("GET")]

    async with node.ctx.sessions() as session:
        rows = {s.uri: s for s in (await session.execute(select(Status))).scalars()}
        in_feed = set((await session.execute(select(HomeFeedEntry.status_id))).scalars())
    assert set(rows) == {root["id"], middle["id"], reply["id"]}
    assert rows[reply["id"]].in_reply_to_id == rows[middle["id"]].id
    assert rows[middle["id"]].in_reply_to_id == rows[root["id"]].id
    # One thread: every post shares the root's context.
    assert {s.context for s in rows.values()} == {rows[root["id"]].context}
    # The ancestors are context, not news: only the followed author's reply is in the feed.
    assert in_feed == {rows[reply["id"]].id}
    assert rows[middle["id"]].replies_count == 1
    assert any(path.endswith(middle["id"].rsplit("/", 1)[-1]) for path in fetched)


async def test_thread_fetch_stops_at_the_depth_limit(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",), thread_fetch_depth=3)
    alice, _ = await node.user("alice")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "carol")
        await _follow(node, alice, peer, "carol")
        parent: str | None = None
        for i in range(10):
            note = peer.serve(
                peer.note("carol", f"deel {i}", **({"inReplyTo": parent} if parent else {}))
            )
            parent = note["id"]
        reply = peer.note("carol", "slot", inReplyTo=parent)
        assert (
            await post_activity(node, peer, "carol", peer.activity("carol", "Create", reply))
        ).status == 202
        await node.settle()
        fetches = len([s for s in peer.requests("GET") if "/statuses/" in s.path])

    async with node.ctx.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(Status))
    assert fetches == 3
    assert stored == 4  # the reply and three ancestors
