"""Two department nodes on loopback exchange follows, posts, likes, boosts, replies, edits, deletes."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import func, select

from node.db.models import Favourite, Follow, HomeFeedEntry, Notification, OutboxActivity, Status
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import settle


async def c2s(
    node: Node, user: str, token: str, activity: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """POST an activity to a user's outbox as a client would."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{node.base}/users/{user}/outbox",
            json=activity,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/activity+json",
            },
        ) as response,
    ):
        return response.status, await response.json()


async def inbox(node: Node, user: str, token: str) -> list[dict[str, Any]]:
    """The owner's inbox collection page."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{node.base}/users/{user}/inbox", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        assert response.status == 200
        items: list[dict[str, Any]] = (await response.json())["orderedItems"]
        return items


async def count(node: Node, query: Any) -> int:
    async with node.ctx.sessions() as session:
        return int(await session.scalar(query) or 0)


async def test_follow_post_like_boost_reply_edit_delete(make_node: NodeFactory) -> None:
    finance = await make_node("finance", "127.0.0.2", allow=("127.0.0.3",))
    hr = await make_node("hr", "127.0.0.3", allow=("127.0.0.2",))
    _alice, alice_token = await finance.user("alice")
    _bob, bob_token = await hr.user("bob")

    # alice follows bob by handle, resolved with WebFinger; HR accepts.
    status, body = await c2s(
        finance, "alice", alice_token, {"type": "Follow", "object": f"bob@{hr.domain}"}
    )
    assert status == 201, body
    await settle(finance, hr)
    assert (
        await count(
            finance, select(func.count()).select_from(Follow).where(Follow.state == "accepted")
        )
        == 1
    )
    assert (
        await count(
            hr, select(func.count()).select_from(Notification).where(Notification.type == "follow")
        )
        == 1
    )

    # bob's next post reaches alice's inbox.
    status, body = await c2s(
        hr,
        "bob",
        bob_token,
        {
            "type": "Note",
            "content": "Kwartaalcijfers #finance",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        },
    )
    assert status == 201, body
    post_uri = body["id"]
    await settle(finance, hr)
    items = await inbox(finance, "alice", alice_token)
    assert [i["object"]["id"] for i in items] == [post_uri]
    assert "Kwartaalcijfers" in items[0]["object"]["content"]

    # alice likes, boosts and replies; bob sees all three.
    assert (await c2s(finance, "alice", alice_token, {"type": "Like", "object": post_uri}))[
        0
    ] == 201
    assert (await c2s(finance, "alice", alice_token, {"type": "Announce", "object": post_uri}))[
        0
    ] == 201
    status, body = await c2s(
        finance, "alice", alice_token,
        {"type": "Note", "content": "Dank je!", "inReplyTo": post_uri, "to": ["https://www.w3.org/ns/activitystreams#Public"]},
    )  # fmt: skip
    assert status == 201, body
    reply_uri = body["id"]
    await settle(finance, hr)
    async with hr.ctx.sessions() as session:
        original = (
            await session.execute(select(Status).where(Status.uri == post_uri))
        ).scalar_one()
        assert (original.favourites_count, original.reblogs_count, original.replies_count) == (
            1,
            1,
            1,
        )
        kinds = sorted((await session.execute(select(Notification.type))).scalars())
    assert kinds == ["favourite", "follow", "mention", "reblog"]

    # edits propagate
    status, _ = await c2s(
        hr,
        "bob",
        bob_token,
        {
            "type": "Update",
            "object": {"id": post_uri, "type": "Note", "content": "Kwartaalcijfers staan online"},
        },
    )
    assert status == 200
    await settle(finance, hr)
    async with finance.ctx.sessions() as session:
        copy = (await session.execute(select(Status).where(Status.uri == post_uri))).scalar_one()
        assert "staan online" in copy.content and copy.edited_at is not None

    # undo of the like propagates
    assert (
        await c2s(
            finance,
            "alice",
            alice_token,
            {"type": "Undo", "object": {"type": "Like", "object": post_uri}},
        )
    )[0] == 200
    await settle(finance, hr)
    assert await count(hr, select(func.count()).select_from(Favourite)) == 0

    # deleting the reply removes it on HR; deleting the post removes it on Finance
    assert (await c2s(finance, "alice", alice_token, {"type": "Delete", "object": reply_uri}))[
        0
    ] == 200
    assert (await c2s(hr, "bob", bob_token, {"type": "Delete", "object": post_uri}))[0] == 200
    await settle(finance, hr)
    assert (
        await count(hr, select(func.count()).select_from(Status).where(Status.uri == reply_uri))
        == 0
    )
    assert (
        await count(finance, select(func.count()).select_from(Status).where(Status.uri == post_uri))
        == 0
    )
    assert await count(finance, select(func.count()).select_from(HomeFeedEntry)) == 0


async def test_each_visibility_reaches_exactly_its_audience(make_node: NodeFactory) -> None:
    """public, unlisted, followers-only, direct and local-only across two nodes (A17, A18)."""
    finance = await make_node("finance", "127.0.0.2", allow=("127.0.0.3",))
    hr = await make_node("hr", "127.0.0.3", allow=("127.0.0.2",))
    _alice, alice_token = await finance.user("alice")
    _ingrid, ingrid_token = await finance.user("ingrid")
    _bob, bob_token = await hr.user("bob")
    for user, token in (("alice", alice_token), ("ingrid", ingrid_token)):
        assert (await c2s(finance, user, token, {"type": "Follow", "object": f"bob@{hr.domain}"}))[
            0
        ] == 201
    await settle(finance, hr)

    posts = {}
    for visibility in ("public", "unlisted", "private", "local"):
        status, body = await c2s(
            hr,
            "bob",
            bob_token,
            {"type": "Note", "content": f"{visibility} bericht", "visibility": visibility},
        )
        assert status == 201, body
        posts[visibility] = body["id"]
    status, body = await c2s(
        hr,
        "bob",
        bob_token,
        {
            "type": "Note",
            "content": f"@alice@{finance.domain} alleen voor jou",
            "visibility": "direct",
        },
    )
    assert status == 201, body
    posts["direct"] = body["id"]
    await settle(finance, hr)

    seen_by_alice = {i["object"]["id"] for i in await inbox(finance, "alice", alice_token)}
    seen_by_ingrid = {i["object"]["id"] for i in await inbox(finance, "ingrid", ingrid_token)}
    assert seen_by_alice == {posts[v] for v in ("public", "unlisted", "private", "direct")}
    assert seen_by_ingrid == {posts[v] for v in ("public", "unlisted", "private")}
    async with finance.ctx.sessions() as session:
        stored = {s.uri: s.visibility for s in (await session.execute(select(Status))).scalars()}
    assert stored == {posts[v]: v for v in ("public", "unlisted", "private", "direct")}
    # The local-only post never left HR: no outbox row, no delivery.
    async with hr.ctx.sessions() as session:
        sent = set((await session.execute(select(OutboxActivity.object_uri))).scalars())
    assert posts["local"] not in sent


async def test_a_post_you_may_not_see_cannot_be_liked_or_answered(make_node: NodeFactory) -> None:
    """C2S reactions use the same visibility rule as reads: 404, nothing stored or sent."""
    node = await make_node("finance", "127.0.0.2")
    _alice, alice_token = await node.user("alice")
    _bob, bob_token = await node.user("bob")
    _carol, carol_token = await node.user("carol")
    status, body = await c2s(
        node,
        "alice",
        alice_token,
        {"type": "Note", "content": "@bob geheim", "visibility": "direct"},
    )
    assert status == 201, body
    secret = body["id"]
    for activity in (
        {"type": "Like", "object": secret},
        {"type": "Announce", "object": secret},
        {"type": "Note", "content": "wat?", "inReplyTo": secret},
    ):
        status, body = await c2s(node, "carol", carol_token, activity)
        assert status == 404, (activity, body)
    assert (await c2s(node, "bob", bob_token, {"type": "Like", "object": secret}))[0] == 201
    async with node.ctx.sessions() as session:
        likes = await session.scalar(select(func.count()).select_from(Favourite))
        posts = await session.scalar(select(func.count()).select_from(Status))
    assert (likes, posts) == (1, 1)
