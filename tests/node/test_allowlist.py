"""The federation allowlist on every ingress path (SECURITY.md row 9, Mastodon CVE-2026-23961).

A host that is not a peer never gets in: not through the inbox, a signed fetch, the
object of a boost, a reply's thread, a mention or follow by handle, nor after an admin
removed it. Each path is checked for "nothing stored" *and* "no request made".
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from node.db.models import Delivery, InboxItem
from node.federation.policy import set_peer
from tests.conftest import Node, NodeFactory
from tests.node.rig import (
    PUBLIC,
    Peer,
    PeerFactory,
    c2s,
    changed,
    post_activity,
    signed_get,
    snapshot,
)

NODE, PEER, EVIL = "127.0.0.2", "127.0.0.3", "127.0.0.9"


class World:
    """A node with carol; ``dept`` (alice) is a peer, ``evil`` (mallory) is not."""

    node: Node
    dept: Peer
    evil: Peer
    token: str
    post: str

    async def send(self, peer: Peer, name: str, activity: dict[str, Any]) -> int:
        reply = await post_activity(self.node, peer, name, activity, inbox="/users/carol/inbox")
        await self.node.settle()
        return reply.status


@pytest.fixture
async def world(make_node: NodeFactory, make_peer: PeerFactory) -> World:
    world = World()
    world.dept = await make_peer(PEER, "alice")
    world.evil = await make_peer(EVIL, "mallory")
    world.node = await make_node("kantine", NODE, allow=(PEER,))
    _carol, world.token = await world.node.user("carol")
    reply = await c2s(
        world.node, "carol", world.token, {"type": "Note", "content": "Hoi", "to": [PUBLIC]}
    )
    assert reply.status == 201, reply.body
    world.post = reply.body["id"]
    return world


async def test_cve_2026_23961_inbox_refuses_non_allowlisted_host(world: World) -> None:
    """mallory's signed Follow → 403, no row, and her key is never fetched."""
    before = await snapshot(world.node)
    follow = world.evil.activity("mallory", "Follow", f"{world.node.base}/users/carol")
    for inbox in ("/inbox", "/users/carol/inbox", "/actor/inbox"):
        reply = await post_activity(world.node, world.evil, "mallory", follow, inbox=inbox)
        assert reply.status == 403, reply.body
        assert "peer" in reply.body["error"]
    await world.node.settle()
    assert changed(before, await snapshot(world.node)) == {}
    assert world.evil.seen == []


async def test_cve_2026_23961_signed_fetch_refuses_non_allowlisted_host(world: World) -> None:
    """mallory's signed GET of a post or collection → 403, without fetching her key."""
    base = f"{world.node.base}/users/carol"
    for url in (world.post, f"{base}/followers", f"{base}/outbox?page=1"):
        reply = await signed_get(url, world.evil, "mallory")
        assert reply.status == 403, (url, reply)
    assert world.evil.seen == []


async def test_cve_2026_23961_announce_of_non_allowlisted_post_is_not_fetched(
    world: World,
) -> None:
    """alice boosts mallory's post (by id, or embedded): nothing fetched, nothing stored."""
    note = world.evil.serve(world.evil.note("mallory", "spam"))
    before = await snapshot(world.node)
    for obj in (note["id"], note):
        boost = world.dept.activity("alice", "Announce", obj, to=[PUBLIC])
        assert await world.send(world.dept, "alice", boost) == 202
    after = await snapshot(world.node)
    assert set(changed(before, after)) <= {"inbox_items", "accounts"}
    assert after["statuses"] == before["statuses"]
    assert world.evil.seen == []
    async with world.node.ctx.sessions() as session:
        states = (await session.execute(select(InboxItem.state))).scalars().all()
    assert "pending" not in states


async def test_cve_2026_23961_reply_to_non_allowlisted_post_fetches_no_thread(
    world: World,
) -> None:
    """alice's reply to mallory's post is alice's own; mallory's thread is never fetched."""
    parent = world.evil.serve(world.evil.note("mallory", "parent"))
    reply_note = world.dept.note(
        "alice", "re", inReplyTo=parent["id"], cc=[f"{world.node.base}/users/carol"]
    )
    create = world.dept.activity("alice", "Create", reply_note)
    assert await world.send(world.dept, "alice", create) == 202
    assert world.evil.seen == []
    async with world.node.ctx.sessions() as session:
        stored = (await session.execute(select(InboxItem.error))).scalars().all()
    assert stored and all(e is None or "stored" in e for e in stored)


async def test_cve_2026_23961_c2s_follow_and_mention_of_non_allowlisted_host(
    world: World,
) -> None:
    """Follows and mentions of mallory by handle or URL → 403, and no WebFinger or fetch."""
    node, evil = world.node, world.evil
    handle, actor = f"mallory@{evil.domain}", evil.actor("mallory")
    before = await snapshot(node)
    refused: list[dict[str, Any]] = [
        {"type": "Follow", "object": handle},
        {"type": "Follow", "object": f"acct:{handle}"},
        {"type": "Follow", "object": actor},
        {"type": "Block", "object": actor},
        {
            "type": "Note",
            "content": "hi",
            "to": [PUBLIC],
            "tag": [{"type": "Mention", "href": handle}],
        },
        {
            "type": "Note",
            "content": "hi",
            "to": [PUBLIC],
            "tag": [{"type": "Mention", "href": actor}],
        },
    ]
    for activity in refused:
        reply = await c2s(node, "carol", world.token, activity)
        assert reply.status == 403, (activity, reply)
        assert "peer" in reply.body["error"]
    await node.settle()
    assert changed(before, await snapshot(node)) == {}

    # A mention in the text stays text: the post goes out, but not to mallory.
    reply = await c2s(
        node, "carol", world.token, {"type": "Note", "content": f"hi @{handle}", "to": [PUBLIC]}
    )
    assert reply.status == 201, reply.body
    await node.settle()
    assert evil.seen == []
    async with node.ctx.sessions() as session:
        hosts = (await session.execute(select(Delivery.host))).scalars().all()
    assert evil.domain not in hosts


async def test_cve_2026_23961_denied_peer_is_refused(world: World) -> None:
    """``kantine federation deny`` of a peer: its inbox POSTs and signed GETs are refused,
    and what it sent just before is not applied."""
    node, dept = world.node, world.dept
    follow = dept.activity("alice", "Follow", f"{node.base}/users/carol")
    assert await world.send(dept, "alice", follow) == 202
    like = dept.activity("alice", "Like", world.post)
    assert (await post_activity(node, dept, "alice", like)).status == 202  # not applied yet

    async with node.ctx.sessions() as session, session.begin():
        await set_peer(session, PEER, "denied")
    await node.ctx.policy.refresh(node.ctx.sessions)
    before = await snapshot(node)
    dept.seen.clear()

    boost = dept.activity("alice", "Announce", world.post, to=[PUBLIC])
    reply = await post_activity(node, dept, "alice", boost)
    assert reply.status == 403, reply.body
    assert (await signed_get(world.post, dept, "alice")).status == 403
    await node.settle()

    after = await snapshot(node)
    assert changed(before, after) == {}
    assert after["favourites"] == 0
    assert dept.seen == []
