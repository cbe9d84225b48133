"""The inbox over real HTTP: signatures, key owners, input bounds, replays and follows.

Every refusal asserts that nothing happened (SECURITY.md §1): the answer, and no row in
any table, no job, no outbound request beyond the key fetch.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from activitypub.signatures import sign_request
from node.db.models import Account, Follow, HomeFeedEntry, InboxItem, Notification
from node.services.actions import accept_follow_request
from tests.conftest import Node, NodeFactory
from tests.node.rig import (
    AS2,
    PUBLIC,
    Peer,
    PeerFactory,
    c2s,
    changed,
    post_activity,
    snapshot,
)

NODE, PEER = "127.0.0.2", "127.0.0.3"
LIMIT = 1024 * 1024  # server.max_body_bytes, the default (J3)


async def world(make_node: NodeFactory, make_peer: PeerFactory) -> tuple[Node, Peer, int]:
    """A node with local ``carol`` and an allowlisted peer with ``alice`` and ``bob``."""
    peer = await make_peer(PEER, "alice", "bob")
    node = await make_node("kantine", NODE, allow=(PEER,))
    carol, _token = await node.user("carol")
    return node, peer, carol.id


def follow_of(node: Node, peer: Peer, name: str = "alice") -> dict[str, Any]:
    return peer.activity(name, "Follow", f"{node.base}/users/carol")


# --- SECURITY.md row 5 (Misskey CVE-2026-28432), PROTOCOL.md S7-S11 -----------------------


@dataclass(frozen=True)
class Case:
    """One broken signature: what to change, the status and reason to expect, and whether
    the node may fetch the key to find out (the cases it can refuse before may not)."""

    change: Callable[[Node, Peer], dict[str, Any]]
    status: int
    reason: str
    fetches: bool = False


def _sig(old: str, new: str) -> Callable[[Node, Peer], dict[str, Any]]:
    def change(_node: Node, _peer: Peer) -> dict[str, Any]:
        return {"edit": lambda h: h.update(Signature=h["Signature"].replace(old, new))}

    return change


def _other_host(node: Node, _peer: Peer) -> dict[str, Any]:
    return {"sign_url": f"http://127.0.0.7:{node.port}/inbox", "headers": {"Host": node.domain}}


def _other_host_replayed(node: Node, _peer: Peer) -> dict[str, Any]:
    # A request signed for another node, replayed here with that node's Host header.
    return {"sign_url": f"http://127.0.0.7:{node.port}/inbox"}


_HOURS = timedelta(hours=3)
MATRIX: dict[str, Case] = {
    "unsigned": Case(lambda n, p: {"edit": lambda h: h.pop("Signature")}, 401, "not signed"),
    "unknown_algorithm": Case(
        _sig('algorithm="rsa-sha256"', 'algorithm="rsa-sha512"'), 401, "Unsupported"
    ),
    "post_without_digest_covered": Case(lambda n, p: {"sign_body": False}, 401, "Digest"),
    "digest_not_in_headers": Case(
        _sig("host date digest", "host date"), 401, "Digest header must be signed"
    ),
    "digest_mismatch_body_tampered": Case(
        lambda n, p: {"signed_body": b'{"type": "Like"}'}, 401, "Digest"
    ),
    "malformed_content_digest": Case(
        lambda n, p: {"headers": {"Content-Digest": "sha-256=not-a-byte-sequence"}}, 400, "Digest"
    ),
    "wrong_request_target_path": Case(
        lambda n, p: {"sign_url": f"{n.base}/users/carol/inbox"}, 401, "verif", fetches=True
    ),
    "wrong_method": Case(lambda n, p: {"sign_method": "PUT"}, 401, "verif", fetches=True),
    "wrong_host": Case(_other_host, 401, "", fetches=True),
    "wrong_host_replayed_with_its_host_header": Case(_other_host_replayed, 401, "host"),
    "date_in_the_past": Case(
        lambda n, p: {"now": datetime.now(UTC) - _HOURS}, 401, "outside acceptable time window"
    ),
    "date_in_the_future": Case(
        lambda n, p: {"now": datetime.now(UTC) + _HOURS}, 401, "outside acceptable time window"
    ),
    "key_not_listed_by_its_owner": Case(
        lambda n, p: {"key_id": f"{p.actor('alice')}#other-key"}, 401, "not listed", fetches=True
    ),
    "key_id_unreachable_404": Case(
        lambda n, p: {"key_id": f"{p.base}/keys/gone#main-key"}, 401, "404", fetches=True
    ),
    "key_id_not_a_url": Case(lambda n, p: {"key_id": "acct:alice@example.org"}, 401, "key"),
}


@pytest.mark.parametrize("case", MATRIX.values(), ids=MATRIX.keys())
async def test_signature_negative_matrix(
    make_node: NodeFactory, make_peer: PeerFactory, case: Case
) -> None:
    """Each broken signature → 401 (400 for a malformed Content-Digest) with a JSON reason,
    no inbox row, nothing applied, no request to the peer unless to fetch the key."""
    node, peer, _carol = await world(make_node, make_peer)
    # The node knows alice already: a refused request must not even refresh her.
    await node.ctx.resolver.key(peer.key_id("alice"))
    peer.seen.clear()
    before = await snapshot(node)

    reply = await post_activity(
        node, peer, "alice", follow_of(node, peer), **case.change(node, peer)
    )
    await node.settle()

    assert reply.status == case.status, reply.body
    assert isinstance(reply.body.get("error"), str)
    assert case.reason.lower() in reply.body["error"].lower()
    assert changed(before, await snapshot(node)) == {}
    if not case.fetches:
        assert peer.seen == []
    assert peer.requests("POST") == []


async def test_signature_positive_control(make_node: NodeFactory, make_peer: PeerFactory) -> None:
    """The matrix's baseline request is accepted, so each case fails for its one change."""
    node, peer, _carol = await world(make_node, make_peer)
    reply = await post_activity(node, peer, "alice", follow_of(node, peer))
    await node.settle()
    assert reply.status == 202, reply.body
    async with node.ctx.sessions() as session:
        assert (await session.execute(select(Follow.state))).scalars().all() == ["accepted"]


# --- SECURITY.md row 4 (Fedify CVE-2025-54888) ---------------------------------------------


async def test_cve_2025_54888_bad_key_owner_has_zero_side_effects(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """A valid signature by alice's key on an activity whose actor is bob → 401; no write but
    the key's owner, no job, and no request but the key fetch."""
    node, peer, _carol = await world(make_node, make_peer)
    before = await snapshot(node)

    forged = follow_of(node, peer, "bob")
    reply = await post_activity(node, peer, "alice", forged, key_id=peer.key_id("alice"))
    await node.settle()

    assert reply.status == 401, reply.body
    assert "actor" in reply.body["error"]
    after = await snapshot(node)
    assert set(changed(before, after)) <= {"accounts"}
    async with node.ctx.sessions() as session:
        remote = (await session.execute(select(Account.uri).where(Account.local.is_(False)))).all()
    assert [uri for (uri,) in remote] in ([], [peer.actor("alice")])
    assert [(s.method, s.path) for s in peer.seen] == [("GET", "/users/alice")]


# --- SECURITY.md row 17 (CVE-2026-23962, CVE-2022-46405), PROTOCOL.md J2-J3 ----------------


async def test_inbox_body_limit(make_node: NodeFactory, make_peer: PeerFactory) -> None:
    """A body over server.max_body_bytes → 413 before parsing, declared or chunked."""
    node, peer, _carol = await world(make_node, make_peer)
    before = await snapshot(node)
    padding = " " * LIMIT
    big = json.dumps({**follow_of(node, peer), "summary": padding}).encode()

    reply = await post_activity(node, peer, "alice", body=big)
    assert reply.status == 413, reply.body
    assert "larger" in reply.body["error"]

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    headers = {
        "Content-Type": AS2,
        **sign_request(
            method="POST",
            url=f"{node.base}/inbox",
            key_id=peer.key_id("alice"),
            private_key=peer.keys["alice"],
            body=big,
        ),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{node.base}/inbox", data=chunks(), headers=headers) as response,
    ):
        assert response.status == 413
        assert "larger" in (await response.json())["error"]
    await node.settle()
    assert changed(before, await snapshot(node)) == {}
    assert peer.seen == []


async def test_inbox_accepts_a_large_body_under_the_limit(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """A 600 kB activity arrives in many TCP reads; the whole body is digested, not a prefix."""
    node, peer, _carol = await world(make_node, make_peer)
    activity = {**follow_of(node, peer), "summary": "x" * 600_000}
    reply = await post_activity(node, peer, "alice", activity)
    assert reply.status == 202, reply.body


HOSTILE: dict[str, bytes] = {
    "not_json": b"<html>not json</html>",
    "json_array": b"[]",
    "json_string": b'"Follow"',
    "nested_100000_deep_arrays": b"[" * 100_000 + b"]" * 100_000,
    "nested_100000_deep_objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "nested_40_deep": json.dumps(
        {"type": "Follow", "actor": "x", "object": json.loads("[" * 40 + "]" * 40)}
    ).encode(),
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_json_depth_limit(
    make_node: NodeFactory, make_peer: PeerFactory, body: bytes
) -> None:
    """Validly signed, but not JSON, not an object, or too deep → 400; never 500/RecursionError."""
    node, peer, _carol = await world(make_node, make_peer)
    before = await snapshot(node)
    reply = await post_activity(node, peer, "alice", body=body)
    await node.settle()
    assert reply.status == 400, reply.body
    assert isinstance(reply.body.get("error"), str)
    assert changed(before, await snapshot(node)) == {}
    assert peer.seen == []


def _schema_hostile(node: Node, peer: Peer) -> dict[str, dict[str, Any]]:
    follow = follow_of(node, peer)
    return {
        "actor_missing": {k: v for k, v in follow.items() if k != "actor"},
        "actor_a_number": {**follow, "actor": 12},
        "actor_not_a_url": {**follow, "actor": "alice"},
        "actor_a_list_of_numbers": {**follow, "actor": [1, 2]},
        "actor_a_local_path": {**follow, "actor": "/users/carol"},
        "id_not_a_url": {**follow, "id": "not a url"},
        "id_a_number": {**follow, "id": 7},
        "type_missing": {k: v for k, v in follow.items() if k != "type"},
        "type_an_object": {**follow, "type": {"a": 1}},
        "huge_to_array": {**follow, "to": [PUBLIC] * 20_000},
        "huge_object_array": {**follow, "object": [f"{node.base}/users/carol"] * 20_000},
        "jsonld_graph": {**follow, "@graph": [follow]},
    }


async def test_schema_hostile_json_is_refused(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """JSON that is no activity (actor missing or not a URL, id not a URL, huge arrays) → 400."""
    node, peer, _carol = await world(make_node, make_peer)
    before = await snapshot(node)
    for name, doc in _schema_hostile(node, peer).items():
        reply = await post_activity(node, peer, "alice", doc)
        assert reply.status == 400, (name, reply)
        assert isinstance(reply.body.get("error"), str), name
    await node.settle()
    assert changed(before, await snapshot(node)) == {}
    assert peer.seen == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/html", ""]
)
async def test_inbox_wrong_content_type(
    make_node: NodeFactory, make_peer: PeerFactory, content_type: str
) -> None:
    """Only AS2 (and plain JSON) bodies are read: anything else → 415 (ASVS 13.1.5)."""
    node, peer, _carol = await world(make_node, make_peer)
    before = await snapshot(node)
    reply = await post_activity(
        node, peer, "alice", follow_of(node, peer), content_type=content_type
    )
    await node.settle()
    assert reply.status == 415, reply.body
    assert changed(before, await snapshot(node)) == {}
    assert peer.seen == []


# --- PROTOCOL.md A2, SECURITY.md §4: replays ------------------------------------------------


async def test_same_activity_twice_is_stored_and_applied_once(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """The same signed Follow POSTed twice → two 202s, one inbox row, one follow, one
    notification, one Accept."""
    node, peer, _carol = await world(make_node, make_peer)
    follow = follow_of(node, peer)
    first = await post_activity(node, peer, "alice", follow)
    second = await post_activity(node, peer, "alice", follow)
    await node.settle()
    third = await post_activity(node, peer, "alice", follow, inbox="/users/carol/inbox")
    await node.settle()

    assert (first.status, second.status, third.status) == (202, 202, 202)
    counts = await snapshot(node)
    assert (counts["inbox_items"], counts["follows"], counts["notifications"]) == (1, 1, 1)
    assert [d["type"] for d in peer.delivered()] == ["Accept"]


# --- SECURITY.md row 10 (Pixelfed CVE-2025-30741), PROTOCOL.md A8 ---------------------------


async def test_follow_pending_until_accept(make_node: NodeFactory, make_peer: PeerFactory) -> None:
    """A Follow of a locked account stays pending, and no Accept leaves until carol approves."""
    node, peer, carol_id = await world(make_node, make_peer)
    async with node.ctx.sessions() as session, session.begin():
        carol = await session.get(Account, carol_id)
        assert carol is not None
        carol.manually_approves_followers = True

    follow = follow_of(node, peer)
    assert (await post_activity(node, peer, "alice", follow)).status == 202
    await node.settle()

    async with node.ctx.sessions() as session:
        assert (await session.execute(select(Follow.state))).scalars().all() == ["pending"]
        kinds = (await session.execute(select(Notification.type))).scalars().all()
    assert kinds == ["follow_request"]
    assert (await snapshot(node))["deliveries"] == 0
    assert peer.requests("POST") == []

    async with node.ctx.sessions() as session, session.begin():
        carol = await session.get(Account, carol_id)
        alice = (
            await session.execute(select(Account).where(Account.uri == peer.actor("alice")))
        ).scalar_one()
        assert carol is not None
        assert await accept_follow_request(node.ctx, session, carol, alice)
    await node.settle()
    accepts = peer.delivered()
    assert [(a["type"], a["object"]["id"]) for a in accepts] == [("Accept", follow["id"])]


async def test_followers_only_fanout_per_recipient(
    make_node: NodeFactory, make_peer: PeerFactory
) -> None:
    """A followers-only post of alice reaches dave (accepted) and not erin (still pending),
    even when it is delivered to erin's own inbox."""
    node, peer, _carol = await world(make_node, make_peer)
    _dave, dave_token = await node.user("dave")
    _erin, erin_token = await node.user("erin")
    for user, token in (("dave", dave_token), ("erin", erin_token)):
        reply = await c2s(node, user, token, {"type": "Follow", "object": peer.actor("alice")})
        assert reply.status == 201, reply.body
    await node.settle()
    follows = {f["actor"]: f for f in peer.delivered() if f["type"] == "Follow"}
    assert set(follows) == {f"{node.base}/users/dave", f"{node.base}/users/erin"}
    accept = peer.activity("alice", "Accept", follows[f"{node.base}/users/dave"])
    assert (await post_activity(node, peer, "alice", accept)).status == 202
    await node.settle()

    followers = f"{peer.actor('alice')}/followers"
    note = peer.note("alice", "only for followers", to=[followers], cc=[])
    for inbox in ("/inbox", "/users/erin/inbox"):
        create = peer.activity("alice", "Create", note)
        assert (await post_activity(node, peer, "alice", create, inbox=inbox)).status == 202
    await node.settle()

    async with node.ctx.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(Account.username, Follow.state).join(
                        Follow, Follow.account_id == Account.id
                    )
                )
            ).all()
        )
        feeds = (
            (
                await session.execute(
                    select(Account.username).join(
                        HomeFeedEntry, HomeFeedEntry.account_id == Account.id
                    )
                )
            )
            .scalars()
            .all()
        )
        applied = (await session.execute(select(InboxItem.state))).scalars().all()
    assert states == {"dave": "accepted", "erin": "pending"}
    assert list(feeds) == ["dave"]
    assert set(applied) == {"done"}
