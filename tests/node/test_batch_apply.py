"""Many activities applied in one worker batch give what one at a time gives (A3, A4, A6).

The inbox worker applies a run of top-level ``Create`` activities set-wise; these tests
post several activities before the worker runs, so they land in one batch, and check what
people see: which posts are stored, whose home feed and notifications they reach.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select

from node.db.models import Account, HomeFeedEntry, InboxItem, Notification, Status, Tag
from node.services.graph import add_block, add_follow
from node.services.statuses import post_status
from tests.conftest import Node, NodeFactory
from tests.node.rig import Peer, peers, post_activity


async def _remote(node: Node, peer: Peer, name: str) -> Account:
    await node.ctx.resolver.key(peer.key_id(name))
    async with node.ctx.sessions() as session:
        return (
            await session.execute(select(Account).where(Account.uri == peer.actor(name)))
        ).scalar_one()


async def _follow_remote(node: Node, follower: Account, peer: Peer, name: str) -> Account:
    """Make *follower* follow *name* of *peer* (accepted); the account as *node* knows it."""
    known = await _remote(node, peer, name)
    async with node.ctx.sessions() as session, session.begin():
        await add_follow(session, follower, known, f"{follower.uri}#f/1", accepted=True)
    return known


async def _post(node: Node, peer: Peer, name: str, kind: str, obj: Any) -> None:
    reply = await post_activity(node, peer, name, peer.activity(name, kind, obj))
    assert reply.status == 202, reply.body


def _mention(note: dict[str, Any], account: Account) -> dict[str, Any]:
    note["tag"] = [
        *note.get("tag", []),
        {"type": "Mention", "href": account.uri, "name": f"@{account.username}"},
    ]
    note["cc"] = [*note.get("cc", []), account.uri]
    return note


async def _state(
    node: Node,
) -> tuple[dict[str, Status], set[tuple[int, int]], set[tuple[int, int]]]:
    async with node.ctx.sessions() as session:
        statuses = {s.uri: s for s in (await session.execute(select(Status))).scalars()}
        feeds = {
            (a, s)
            for a, s in await session.execute(
                select(HomeFeedEntry.account_id, HomeFeedEntry.status_id)
            )
        }
        notes = {
            (a, s)
            for a, s in await session.execute(
                select(Notification.account_id, Notification.status_id).where(
                    Notification.type == "mention"
                )
            )
            if s is not None
        }
    return statuses, feeds, notes


async def test_one_batch_keeps_relevance_visibility_and_blocks(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    bob, _ = await node.user("bob")
    carol, _ = await node.user("carol")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "known", "stranger", "rude")
        known = await _remote(node, peer, "known")
        stranger = await _remote(node, peer, "stranger")
        rude = await _remote(node, peer, "rude")
        async with node.ctx.sessions() as session, session.begin():
            await add_follow(session, alice, known, f"{alice.uri}#f/1", accepted=True)
            # A follow still waiting for approval makes nobody's posts relevant (row 10).
            await add_follow(session, carol, stranger, f"{carol.uri}#f/2", accepted=False)
            await add_block(session, bob, rude, f"{bob.uri}#b/1")

        followed = peer.note(
            "known", "cijfers #finance", tag=[{"type": "Hashtag", "name": "#finance"}]
        )
        unrelated = peer.note("stranger", "niemand hier")
        mention = _mention(peer.note("stranger", "hoi bob"), bob)
        blocked = _mention(peer.note("rude", "hoi bob"), bob)
        direct = _mention(peer.note("known", "alleen voor bob", to=[bob.uri], cc=[]), bob)
        second = peer.note("known", "meer #Finance", tag=[{"type": "Hashtag", "name": "#Finance"}])
        for name, note in [
            ("known", followed),
            ("stranger", unrelated),
            ("stranger", mention),
            ("rude", blocked),
            ("known", direct),
            ("known", second),
            ("known", dict(followed, content="<p>the same id again</p>")),
        ]:
            await _post(node, peer, name, "Create", note)
        await node.settle()

    statuses, feeds, notes = await _state(node)
    assert set(statuses) == {
        followed["id"],
        mention["id"],
        blocked["id"],
        direct["id"],
        second["id"],
    }
    ids = {uri: s.id for uri, s in statuses.items()}
    assert statuses[followed["id"]].content == "<p>cijfers #finance</p>"  # the first one counts
    assert statuses[direct["id"]].visibility == "direct"
    assert feeds == {
        (alice.id, ids[followed["id"]]),
        (alice.id, ids[second["id"]]),
        (bob.id, ids[direct["id"]]),  # not in alice's feed: she follows, but is not addressed
    }
    # bob hears of each mention, except from the account he blocked.
    assert notes == {(bob.id, ids[mention["id"]]), (bob.id, ids[direct["id"]])}
    async with node.ctx.sessions() as session:
        tags = list((await session.execute(select(Tag.name))).scalars())
        outcomes = {
            error
            for error in (await session.execute(select(InboxItem.error))).scalars()
            if error is not None
        }
    assert tags == ["finance"]
    # Set-wise: the batch never fell back to one activity at a time (same outcomes, slower).
    assert "applying one at a time" not in caplog.text
    assert outcomes == {
        "stored",
        "ignored: not related to anyone here",
        "ignored: already known or deleted",
    }


async def test_order_within_a_batch_is_kept(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "known")
        known = await _follow_remote(node, alice, peer, "known")
        created_then_deleted = peer.note("known", "oeps")
        deleted_then_created = peer.note("known", "te laat")
        parent = peer.note("known", "de vraag")
        early_reply = peer.note("known", "het antwoord", inReplyTo=parent["id"])
        # The parent is not served: the reply is stored unlinked, and linked when it comes.
        await _post(node, peer, "known", "Create", early_reply)
        await node.settle()
        await _post(node, peer, "known", "Create", created_then_deleted)
        await _post(node, peer, "known", "Delete", created_then_deleted["id"])
        await _post(node, peer, "known", "Delete", deleted_then_created["id"])
        await _post(node, peer, "known", "Create", deleted_then_created)
        await _post(node, peer, "known", "Create", parent)
        await node.settle()

    statuses, _, _ = await _state(node)
    assert set(statuses) == {parent["id"], early_reply["id"]}
    reply = statuses[early_reply["id"]]
    assert reply.in_reply_to_id == statuses[parent["id"]].id
    assert reply.in_reply_to_account_id == known.id


async def test_a_stale_tag_id_costs_a_retry_not_a_post(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "known")
        await _follow_remote(node, alice, peer, "known")
        tag = [{"type": "Hashtag", "name": "#kwartaal"}]
        first = peer.note("known", "één", tag=tag)
        await _post(node, peer, "known", "Create", first)
        await node.settle()
        # An admin removes the tag; the worker still remembers its id.
        async with node.ctx.sessions() as session, session.begin():
            await session.execute(delete(Tag))
        later = [peer.note("known", f"nummer {n}", tag=tag) for n in range(3)]
        for note in later:
            await _post(node, peer, "known", "Create", note)
        await node.settle()

    statuses, feeds, _ = await _state(node)
    assert set(statuses) == {first["id"], *(note["id"] for note in later)}
    assert len(feeds) == 4
    async with node.ctx.sessions() as session:
        states = set((await session.execute(select(InboxItem.state))).scalars())
        names = list((await session.execute(select(Tag.name))).scalars())
    assert states == {"done"}
    assert names == ["kwartaal"]


async def test_a_block_hides_notifications_from_reactions_and_replies(
    make_node: NodeFactory,
) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "known", "rude")
        known = await _remote(node, peer, "known")
        rude = await _remote(node, peer, "rude")
        async with node.ctx.sessions() as session, session.begin():
            await add_block(session, alice, rude, f"{alice.uri}#b/1")
            post = await post_status(node.ctx, session, alice, "De cijfers staan klaar")
        for name in ("known", "rude"):
            await _post(node, peer, name, "Like", post.uri)
            reply = _mention(peer.note(name, "dank je", inReplyTo=post.uri), alice)
            await _post(node, peer, name, "Create", reply)
        await node.settle()

    async with node.ctx.sessions() as session:
        told = {
            (kind, sender)
            for kind, sender in await session.execute(
                select(Notification.type, Notification.from_account_id).where(
                    Notification.account_id == alice.id
                )
            )
        }
        replies = (await session.execute(select(Status).where(Status.id == post.id))).scalar_one()
    assert told == {("favourite", known.id), ("mention", known.id)}
    assert replies.replies_count == 2  # the reply itself is stored; only the notice is hidden


async def test_one_batch_trims_the_feeds_its_posts_reached(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """``node.home_feed_size = 5`` (every post trims): twelve posts of two followed authors
    in one batch leave alice's and bob's feeds at their five newest entries each."""
    node = await make_node(
        "finance", "127.0.0.2", allow=("127.0.0.4",), node_options={"home_feed_size": 5}
    )
    alice, _ = await node.user("alice")
    bob, _ = await node.user("bob")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "carol", "dave")
        carol = await _remote(node, peer, "carol")
        dave = await _remote(node, peer, "dave")
        async with node.ctx.sessions() as session, session.begin():
            await add_follow(session, alice, carol, f"{alice.uri}#f/1", accepted=True)
            await add_follow(session, alice, dave, f"{alice.uri}#f/2", accepted=True)
            await add_follow(session, bob, dave, f"{bob.uri}#f/3", accepted=True)
        for n in range(12):
            name = "carol" if n % 2 else "dave"
            await _post(node, peer, name, "Create", peer.note(name, f"post {n}"))
        await node.settle()

    statuses, feeds, _ = await _state(node)
    assert len(statuses) == 12
    by_author: dict[int, list[int]] = {}
    for status in statuses.values():
        by_author.setdefault(status.account_id, []).append(status.id)
    newest_all = sorted(s.id for s in statuses.values())[-5:]
    newest_dave = sorted(by_author[dave.id])[-5:]
    assert {s for a, s in feeds if a == alice.id} == set(newest_all)
    assert {s for a, s in feeds if a == bob.id} == set(newest_dave)
    assert "applying one at a time" not in caplog.text
