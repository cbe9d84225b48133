"""Who may speak for an object: origin and ownership of pushed activities (SECURITY.md rows 1, 7, 8).

A valid signature proves who sent an activity, not that its object is theirs. Each test
sends a well-signed activity that claims, creates or changes something of another actor
or origin, and asserts that nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from node.db.models import Account, Favourite, Follow, Status, Tombstone
from tests.conftest import Node, NodeFactory
from tests.node.rig import (
    PUBLIC,
    Peer,
    PeerFactory,
    Reply,
    c2s,
    changed,
    post_activity,
    snapshot,
)

NODE, PEER, OTHER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


class World:
    """A node with carol and dave; peer ``dept`` with alice and bob; peer ``other`` with erin."""

    node: Node
    dept: Peer
    other: Peer
    carol_token: str

    @classmethod
    async def start(cls, make_node: NodeFactory, make_peer: PeerFactory) -> World:
        world = cls()
        world.dept = await make_peer(PEER, "alice", "bob")
        world.other = await make_peer(OTHER, "erin")
        world.node = await make_node("kantine", NODE, allow=(PEER, OTHER))
        _carol, world.carol_token = await world.node.user("carol")
        await world.node.user("dave")
        return world

    def local(self, name: str) -> str:
        return f"{self.node.base}/users/{name}"

    async def send(
        self, name: str, activity: dict[str, Any], *, inbox: str = "/users/carol/inbox"
    ) -> Reply:
        peer = self.other if name == "erin" else self.dept
        reply = await post_activity(self.node, peer, name, activity, inbox=inbox)
        await self.node.settle()
        return reply

    async def stored(self, name: str, **fields: Any) -> dict[str, Any]:
        """A public post of *name* (on ``dept``), delivered to carol and stored."""
        note = self.dept.note(name, "original", **fields)
        reply = await self.send(name, self.dept.activity(name, "Create", note))
        assert reply.status == 202, reply.body
        assert await self.status(note["id"]) is not None
        return note

    async def status(self, uri: str) -> Status | None:
        async with self.node.ctx.sessions() as session:
            return (
                await session.execute(select(Status).where(Status.uri == uri))
            ).scalar_one_or_none()

    async def account(self, uri: str) -> Account:
        async with self.node.ctx.sessions() as session:
            return (await session.execute(select(Account).where(Account.uri == uri))).scalar_one()


@pytest.fixture
async def world(make_node: NodeFactory, make_peer: PeerFactory) -> World:
    return await World.start(make_node, make_peer)


# --- SECURITY.md rows 1 and 8 (CVE-2024-23832, NodeBB attributedTo), PROTOCOL.md A1 ----------

Forge = Callable[[World], dict[str, Any]]
FOREIGN: dict[str, Forge] = {
    "object_id_on_another_peer": lambda w: {"id": w.other.new_id("erin", "statuses")},
    "object_id_on_this_node": lambda w: {"id": f"{w.local('carol')}/statuses/1"},
    "attributed_to_string_same_host_other_actor": lambda w: {"attributedTo": w.dept.actor("bob")},
    "attributed_to_string_other_host": lambda w: {"attributedTo": w.other.actor("erin")},
    "attributed_to_string_local_user": lambda w: {"attributedTo": w.local("carol")},
    "attributed_to_object": lambda w: {
        "attributedTo": {"type": "Person", "id": w.other.actor("erin")}
    },
    "attributed_to_array_of_objects": lambda w: {
        "attributedTo": [{"type": "Person", "id": w.local("carol")}]
    },
    "attributed_to_array_foreign_first": lambda w: {
        "attributedTo": [w.other.actor("erin"), w.dept.actor("alice")]
    },
    "attributed_to_missing": lambda w: {"attributedTo": None},
}


@pytest.mark.parametrize("forge", FOREIGN.values(), ids=FOREIGN.keys())
async def test_cve_2024_23832_foreign_origin_object_is_ignored(world: World, forge: Forge) -> None:
    """Create by alice whose object id or author is another actor or origin → refused, no row."""
    note = world.dept.note("alice", "forged")
    note.update(forge(world))
    note = {k: v for k, v in note.items() if v is not None}
    before = await snapshot(world.node)

    reply = await world.send("alice", world.dept.activity("alice", "Create", note))

    assert reply.status == 403, reply.body
    assert isinstance(reply.body.get("error"), str)
    assert changed(before, await snapshot(world.node)) == {}
    assert world.other.seen == []


AUTHOR_FORMS: dict[str, Forge] = {
    "string": lambda w: {"attributedTo": w.dept.actor("alice")},
    "object": lambda w: {"attributedTo": {"type": "Person", "id": w.dept.actor("alice")}},
    "array": lambda w: {"attributedTo": [{"type": "Person", "id": w.dept.actor("alice")}]},
}


@pytest.mark.parametrize("form", AUTHOR_FORMS.values(), ids=AUTHOR_FORMS.keys())
async def test_attributed_to_equal_to_actor_is_accepted(world: World, form: Forge) -> None:
    """The control: attributedTo naming the actor, in each of its three forms, is stored."""
    note = world.dept.note("alice", "mine")
    note.update(form(world))
    reply = await world.send("alice", world.dept.activity("alice", "Create", note))
    assert reply.status == 202, reply.body
    status = await world.status(note["id"])
    assert status is not None
    assert status.account_id == (await world.account(world.dept.actor("alice"))).id


async def test_cve_2024_23832_update_person_of_another_actor_is_refused(world: World) -> None:
    """alice cannot Update bob (same host) or erin (other host): their key and inbox stay."""
    for peer, name in ((world.dept, "bob"), (world.other, "erin")):
        await world.node.ctx.resolver.key(peer.key_id(name))
    bob_before = await world.account(world.dept.actor("bob"))
    erin_before = await world.account(world.other.actor("erin"))
    alice_key = world.dept.actor_document("alice")["publicKey"]["publicKeyPem"]
    before = await snapshot(world.node)

    for peer, name in ((world.dept, "bob"), (world.other, "erin")):
        victim = peer.actor_document(name)
        victim["publicKey"]["publicKeyPem"] = alice_key
        victim["inbox"] = f"{world.dept.actor('alice')}/inbox"
        victim["name"] = "Hijacked"
        reply = await world.send("alice", world.dept.activity("alice", "Update", victim))
        assert reply.status == 403, reply.body

    assert changed(before, await snapshot(world.node)) == {}
    for old in (bob_before, erin_before):
        now = await world.account(old.uri)
        assert (now.public_key_id, now.public_key_pem, now.inbox_url, now.display_name) == (
            old.public_key_id,
            old.public_key_pem,
            old.inbox_url,
            old.display_name,
        )


SELF_UPDATES: dict[str, Callable[[World, dict[str, Any]], None]] = {
    "key_id_on_another_host": lambda w, d: d["publicKey"].update(
        id=w.other.key_id("erin"), owner=d["id"]
    ),
    "key_owned_by_another_actor": lambda w, d: d["publicKey"].update(
        id=w.dept.key_id("bob"), owner=w.dept.actor("bob")
    ),
    "inbox_on_this_node": lambda w, d: d.update(inbox=f"{w.local('carol')}/inbox"),
    "inbox_on_another_peer": lambda w, d: d.update(inbox=f"{w.other.actor('erin')}/inbox"),
    "shared_inbox_on_another_peer": lambda w, d: d.update(
        endpoints={"sharedInbox": f"{w.other.base}/inbox"}
    ),
}


@pytest.mark.parametrize("tamper", SELF_UPDATES.values(), ids=SELF_UPDATES.keys())
async def test_cve_2024_23832_update_person_cannot_claim_foreign_key_or_inbox(
    world: World, tamper: Callable[[World, dict[str, Any]], None]
) -> None:
    """alice's Update of herself may not move her key or inbox to another origin or owner:
    that would let her answer for erin's key, or aim our deliveries at a third party."""
    await world.node.ctx.resolver.key(world.dept.key_id("alice"))
    await world.node.ctx.resolver.key(world.dept.key_id("bob"))
    old = await world.account(world.dept.actor("alice"))
    doc = world.dept.actor_document("alice")
    tamper(world, doc)
    before = await snapshot(world.node)

    reply = await world.send("alice", world.dept.activity("alice", "Update", doc))

    assert reply.status == 403, reply.body
    assert changed(before, await snapshot(world.node)) == {}
    now = await world.account(old.uri)
    assert (now.public_key_id, now.inbox_url, now.shared_inbox_url) == (
        old.public_key_id,
        old.inbox_url,
        old.shared_inbox_url,
    )


async def test_update_person_of_self_is_applied(world: World) -> None:
    """The control: alice may rename herself and rotate her own key."""
    await world.node.ctx.resolver.key(world.dept.key_id("alice"))
    doc = world.dept.actor_document("alice")
    doc["name"] = "Alice A."
    reply = await world.send("alice", world.dept.activity("alice", "Update", doc))
    assert reply.status == 202, reply.body
    assert (await world.account(doc["id"])).display_name == "Alice A."


# --- SECURITY.md row 8: Update/Delete/Undo need the stored owner ---------------------------


async def test_mutation_requires_stored_owner(world: World) -> None:
    """alice's Update, Delete and Undo of bob's post, like and follow change nothing."""
    node, dept = world.node, world.dept
    bob_note = await world.stored("bob")
    reply = await c2s(
        node, "carol", world.carol_token, {"type": "Note", "content": "Hoi", "to": [PUBLIC]}
    )
    carol_post = reply.body["id"]
    like = dept.activity("bob", "Like", carol_post)
    follow = dept.activity("bob", "Follow", world.local("carol"))
    for activity in (like, follow):
        assert (await world.send("bob", activity)).status == 202
    await node.ctx.resolver.key(dept.key_id("alice"))
    before = await snapshot(node)
    edited = {**bob_note, "content": "<p>pwned</p>", "updated": datetime.now(UTC).isoformat()}

    accepted_but_ignored = [
        dept.activity("alice", "Update", {**edited, "attributedTo": dept.actor("alice")}),
        dept.activity("alice", "Delete", bob_note["id"]),
        dept.activity("alice", "Delete", {"id": bob_note["id"], "type": "Tombstone"}),
        dept.activity("alice", "Undo", like["id"]),
        dept.activity("alice", "Undo", follow["id"]),
        dept.activity("alice", "Undo", {**like, "actor": dept.actor("alice")}),
        dept.activity("alice", "Undo", {**follow, "actor": dept.actor("alice")}),
    ]
    for activity in accepted_but_ignored:
        assert (await world.send("alice", activity)).status == 202, activity
    refused = [
        dept.activity("alice", "Update", edited),
        dept.activity("alice", "Undo", like),
        dept.activity("alice", "Undo", follow),
        # Objects of another origin: a post of this node, a post of another peer.
        dept.activity("alice", "Delete", carol_post),
        dept.activity("alice", "Delete", world.other.new_id("erin", "statuses")),
        dept.activity("alice", "Delete", f"{world.local('carol')}/statuses/999"),
        dept.activity("alice", "Update", {**edited, "id": carol_post}),
    ]
    for activity in refused:
        reply = await world.send("alice", activity)
        assert reply.status == 403, (activity, reply)

    after = await snapshot(node)
    assert changed(before, after) == {
        "inbox_items": (before["inbox_items"], before["inbox_items"] + len(accepted_but_ignored))
    }
    status = await world.status(bob_note["id"])
    assert status is not None and "original" in status.content and status.edited_at is None
    async with node.ctx.sessions() as session:
        assert (await session.execute(select(Favourite.uri))).scalars().all() == [like["id"]]
        assert (await session.execute(select(Follow.uri))).scalars().all() == [follow["id"]]
        assert (await session.execute(select(Tombstone.uri))).scalars().all() == []


async def test_delete_and_undo_by_the_owner_are_applied(world: World) -> None:
    """The control: bob himself may delete his post and undo his like and follow."""
    node, dept = world.node, world.dept
    bob_note = await world.stored("bob")
    reply = await c2s(
        node, "carol", world.carol_token, {"type": "Note", "content": "Hoi", "to": [PUBLIC]}
    )
    like = dept.activity("bob", "Like", reply.body["id"])
    follow = dept.activity("bob", "Follow", world.local("carol"))
    for activity in (like, follow):
        assert (await world.send("bob", activity)).status == 202
    for activity in (
        dept.activity("bob", "Undo", like),
        dept.activity("bob", "Undo", follow["id"]),
        dept.activity("bob", "Delete", bob_note["id"]),
    ):
        assert (await world.send("bob", activity)).status == 202
    counts = await snapshot(node)
    assert (counts["favourites"], counts["follows"], counts["tombstones"]) == (0, 0, 1)
    assert await world.status(bob_note["id"]) is None


# --- SECURITY.md row 7 (CVE-2024-37903) ----------------------------------------------------


async def test_cve_2024_37903_create_reusing_foreign_status_id_is_noop(world: World) -> None:
    """alice re-Creates bob's followers-only post (same host) addressed to dave, or carol's
    local post: no new recipients, mentions, notifications or home feed rows."""
    node, dept = world.node, world.dept
    bob_note = await world.stored(
        "bob", to=[f"{dept.actor('bob')}/followers"], cc=[world.local("carol")]
    )
    reply = await c2s(
        node, "carol", world.carol_token,
        {"type": "Note", "content": "intern", "to": [f"{world.local('carol')}/followers"]},
    )  # fmt: skip
    carol_post = reply.body["id"]
    await node.ctx.resolver.key(dept.key_id("alice"))
    before = await snapshot(node)

    dave = world.local("dave")
    hijack = {
        "type": "Note",
        "attributedTo": dept.actor("alice"),
        "content": "<p>look</p>",
        "to": [dave, PUBLIC],
        "tag": [{"type": "Mention", "href": dave, "name": "@dave"}],
    }
    reply = await world.send(
        "alice",
        dept.activity("alice", "Create", {**hijack, "id": bob_note["id"]}),
        inbox="/users/dave/inbox",
    )
    assert reply.status == 202, reply.body
    reply = await world.send(
        "alice",
        dept.activity("alice", "Create", {**hijack, "id": carol_post}),
        inbox="/users/dave/inbox",
    )
    assert reply.status == 403, reply.body
    # A boost cannot widen a followers-only audience either (row 12).
    boost = dept.activity("alice", "Announce", bob_note["id"], to=[PUBLIC])
    assert (await world.send("alice", boost, inbox="/users/dave/inbox")).status == 202

    after = await snapshot(node)
    assert changed(before, after) == {
        "inbox_items": (before["inbox_items"], before["inbox_items"] + 2)
    }
    status = await world.status(bob_note["id"])
    assert status is not None
    assert status.account_id == (await world.account(dept.actor("bob"))).id
    assert status.visibility == "private" and "original" in status.content


# --- SECURITY.md row 3, PROTOCOL.md A14: boosted objects come from their origin -------------


async def test_announce_embedded_object_is_refetched_from_its_origin(world: World) -> None:
    """alice boosts bob's post with a forged embedded copy: the node stores what bob's
    server serves, never the embed."""
    dept = world.dept
    real = dept.serve(dept.note("bob", "the real text"))
    forged = {**real, "content": "<p>forged</p>"}
    boost = dept.activity("alice", "Announce", forged, to=[PUBLIC])
    assert (await world.send("alice", boost)).status == 202
    status = await world.status(real["id"])
    assert status is not None and "the real text" in status.content
    assert ("GET", real["id"].removeprefix(dept.base)) in [(s.method, s.path) for s in dept.seen]


async def test_announce_of_a_document_claiming_another_origin_stores_nothing(
    world: World,
) -> None:
    """A boosted URL on ``dept`` whose document says it is erin's (another host) → nothing."""
    dept, other = world.dept, world.other
    claimed = dept.serve(dept.note("bob", "spoof", attributedTo=other.actor("erin")))
    await world.node.ctx.resolver.key(dept.key_id("alice"))
    before = await snapshot(world.node)
    boost = dept.activity("alice", "Announce", claimed["id"], to=[PUBLIC])
    assert (await world.send("alice", boost)).status == 202
    assert changed(before, await snapshot(world.node)) == {
        "inbox_items": (before["inbox_items"], before["inbox_items"] + 1)
    }
    assert other.seen == []
