"""Authorized fetch and visibility on the ActivityPub GET path (PROTOCOL.md S22-S23, D20;
SECURITY.md row 11).

Peers read posts and collections only with a valid signature; what a signed peer may
read depends on who signed: an accepted follower, a pending one, a mentioned actor or a
stranger. Actor documents and the instance actor stay public so keys can be fetched.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from node.db.models import Account, Favourite, Notification, Status
from node.services.actions import accept_follow_request
from tests.conftest import Node, NodeFactory
from tests.node.rig import PUBLIC, Peer, PeerFactory, c2s, post_activity, signed_get

NODE, PEER = "127.0.0.2", "127.0.0.3"


class World:
    """carol (locked) on the node; on ``dept``: alice follows her (accepted), bob asked to
    (pending), erin is mentioned, zed is a stranger. ``posts`` maps visibility → URI."""

    node: Node
    dept: Peer
    token: str
    posts: dict[str, str]


async def _post(world: World, note: dict[str, Any]) -> str:
    reply = await c2s(world.node, "carol", world.token, {"type": "Note", "content": "x", **note})
    assert reply.status == 201, reply.body
    return str(reply.body["id"])


@pytest.fixture
async def world(make_node: NodeFactory, make_peer: PeerFactory) -> World:
    world = World()
    world.dept = await make_peer(PEER, "alice", "bob", "erin", "zed")
    world.node = node = await make_node("kantine", NODE, allow=(PEER,))
    carol, world.token = await node.user("carol")
    async with node.ctx.sessions() as session, session.begin():
        await session.execute(
            update(Account).where(Account.id == carol.id).values(manually_approves_followers=True)
        )
    for name in ("alice", "bob"):
        follow = world.dept.activity(name, "Follow", carol.uri)
        assert (await post_activity(node, world.dept, name, follow)).status == 202
    await node.settle()
    async with node.ctx.sessions() as session, session.begin():
        me = await session.get(Account, carol.id)
        alice = (
            await session.execute(select(Account).where(Account.uri == world.dept.actor("alice")))
        ).scalar_one()
        assert me is not None
        assert await accept_follow_request(node.ctx, session, me, alice)

    erin = world.dept.actor("erin")
    world.posts = {
        "public": await _post(world, {"to": [PUBLIC]}),
        "unlisted": await _post(world, {"to": [f"{carol.uri}/followers"], "cc": [PUBLIC]}),
        "private": await _post(world, {"to": [f"{carol.uri}/followers"]}),
        "direct": await _post(
            world, {"to": [erin], "tag": [{"type": "Mention", "href": erin, "name": "@erin"}]}
        ),
        "local": await _post(world, {"visibility": "local", "to": [PUBLIC]}),
    }
    await node.settle()
    return world


async def test_authorized_fetch_requires_a_signature(world: World) -> None:
    """Posts and collections: unsigned → 401 with a reason, signed by a peer → 200; actor
    documents and the instance actor → 200 unsigned (D20)."""
    base = f"{world.node.base}/users/carol"
    guarded = [
        world.posts["public"],
        f"{world.posts['public']}/activity",
        f"{base}/followers",
        f"{base}/followers?page=0",
        f"{base}/following",
        f"{base}/outbox",
        f"{base}/outbox?page=true",
    ]
    for url in guarded:
        unsigned = await signed_get(url)
        assert unsigned.status == 401, (url, unsigned)
        assert isinstance(unsigned.body.get("error"), str)
        assert (await signed_get(url, world.dept, "zed")).status == 200, url
    for url in (base, f"{world.node.base}/actor"):
        reply = await signed_get(url)
        assert reply.status == 200, (url, reply)
        assert reply.body["publicKey"]["owner"] == reply.body["id"]


async def test_signed_fetch_with_a_bad_signature_is_refused(world: World) -> None:
    """A GET signed with another key than the keyId's, or for another path → 401."""
    url = world.posts["public"]
    forged = await signed_get(url, world.dept, "alice", private_key=world.dept.keys["zed"])
    assert forged.status == 401, forged
    # alice may read the followers-only post; a signature she made for another URL may not.
    private = world.posts["private"]
    assert (await signed_get(private, world.dept, "alice")).status == 200
    replayed = await signed_get(private, world.dept, "alice", sign_url=url)
    assert replayed.status == 401, replayed


VISIBLE = {
    # visibility: who (besides nobody) may read it over ActivityPub
    "public": {"alice", "bob", "erin", "zed"},
    "unlisted": {"alice", "bob", "erin", "zed"},
    "private": {"alice"},
    "direct": {"erin"},
    "local": set(),
}


@pytest.mark.parametrize("visibility", VISIBLE)
async def test_visibility_matrix_on_the_activitypub_get(world: World, visibility: str) -> None:
    """Followers-only: only the accepted follower (not the pending one); direct: only the
    mentioned actor; local-only: nobody remote. Hidden is 404, the Create wrapper too."""
    uri = world.posts[visibility]
    for name in ("alice", "bob", "erin", "zed"):
        expected = 200 if name in VISIBLE[visibility] else 404
        for url in (uri, f"{uri}/activity"):
            reply = await signed_get(url, world.dept, name)
            assert reply.status == expected, (visibility, name, url, reply)
            if expected == 200:
                assert uri in (reply.body["id"], reply.body.get("object", {}).get("id"))


async def test_deleted_post_is_a_tombstone(world: World) -> None:
    """A deleted post answers 410 with a Tombstone to a signed peer, still 401 unsigned."""
    uri = world.posts["public"]
    assert (
        await c2s(world.node, "carol", world.token, {"type": "Delete", "object": uri})
    ).status == 200
    reply = await signed_get(uri, world.dept, "zed")
    assert reply.status == 410, reply
    assert (reply.body["type"], reply.body["id"]) == ("Tombstone", uri)
    assert (await signed_get(uri)).status == 401


@pytest.mark.parametrize("visibility", VISIBLE)
async def test_likes_follow_the_same_visibility(world: World, visibility: str) -> None:
    """A Like of a post the liker may not see changes nothing and notifies no one: knowing
    a followers-only URL is not enough (SECURITY.md rows 11-12)."""
    uri = world.posts[visibility]
    for name in ("alice", "bob", "erin", "zed"):
        like = world.dept.activity(name, "Like", uri)
        assert (await post_activity(world.node, world.dept, name, like)).status == 202
    await world.node.settle()
    async with world.node.ctx.sessions() as session:
        likers = set(
            (
                await session.execute(
                    select(Account.username)
                    .join(Favourite, Favourite.account_id == Account.id)
                    .join(Status, Status.id == Favourite.status_id)
                    .where(Status.uri == uri)
                )
            ).scalars()
        )
        notified = set(
            (
                await session.execute(
                    select(Account.username)
                    .join(Notification, Notification.from_account_id == Account.id)
                    .where(Notification.type == "favourite")
                )
            ).scalars()
        )
    assert likers == VISIBLE[visibility]
    assert notified == VISIBLE[visibility]
