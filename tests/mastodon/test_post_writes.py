"""The writes of a new post, made in one thread hop (node.services.statuses, node.db.hop):
exactly the right home feeds, notifications and deliveries, nothing for anyone else, and
nothing at all when the post fails half-way (PROTOCOL.md C20, A4, A17; SECURITY.md row 10).

A post in each visibility, with mentions, a hashtag, a photo and a reply, goes through the
Mastodon API. Then the rows it left are compared with what the author's audience should
have: the home feeds of the author and the *accepted* local followers (not a pending
follower, not a stranger, not a mentioned non-follower unless the post is direct), mention
notifications (not for someone who blocks the author), and one delivery per remote inbox
(none for a local-only post).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from node.db.models import (
    Account,
    Conversation,
    Delivery,
    Follow,
    HomeFeedEntry,
    MediaAttachment,
    Mention,
    Notification,
    OutboxActivity,
    Status,
    StatusTag,
    Tag,
)
from node.db.writers import queue_of
from node.ids import new_id
from tests.conftest import Node
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.test_media import png


async def _post(node: Node, token: str, **fields: Any) -> dict[str, Any]:
    status, body = await raw(node, "POST", "/api/v1/statuses", token, json=fields)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def _rows(node: Node, status_id: int) -> dict[str, Any]:
    """What one status left in the database, by account name where it names people."""
    async with node.ctx.sessions() as session:
        names = {i: n for i, n in await session.execute(select(Account.id, Account.username))}
        feeds = await session.scalars(
            select(HomeFeedEntry.account_id).where(HomeFeedEntry.status_id == status_id)
        )
        notified = await session.execute(
            select(Notification.account_id, Notification.type).where(
                Notification.status_id == status_id
            )
        )
        mentioned = await session.scalars(
            select(Mention.account_id).where(Mention.status_id == status_id)
        )
        tags = await session.scalars(
            select(Tag.name).join(StatusTag).where(StatusTag.status_id == status_id)
        )
        status = await session.get(Status, status_id)
        assert status is not None
        activities = (
            await session.execute(
                select(OutboxActivity.id, OutboxActivity.type, OutboxActivity.public).where(
                    OutboxActivity.object_uri == status.uri
                )
            )
        ).all()
        inboxes = await session.scalars(
            select(Delivery.inbox_url).where(Delivery.activity_id.in_([a[0] for a in activities]))
        )
        return {
            "feeds": {names[a] for a in feeds},
            "notified": {(names[a], kind) for a, kind in notified},
            "mentioned": {names[a] for a in mentioned},
            "tags": set(tags),
            "activities": {(kind, public) for _, kind, public in activities},
            "inboxes": sorted(inboxes),
        }


@pytest.fixture
async def office(pair: Pair) -> dict[str, Any]:
    """finance: alice posts; carol follows her, gina asked to (pending), henry blocks her,
    erin and ivan do not follow her. hr: bob follows her (accepted)."""
    finance = pair.finance
    people: dict[str, Any] = {"alice": (pair.alice, pair.alice_token)}
    for name in ("carol", "erin", "gina", "henry", "ivan"):
        people[name] = await finance.user(name)
    carol = client(finance, people["carol"][1])
    await call(carol.account_follow, pair.alice.id)
    await call(client(finance, people["henry"][1]).account_block, pair.alice.id)
    async with finance.ctx.sessions() as session, session.begin():
        session.add(
            Follow(
                id=new_id(),
                uri=f"{finance.base}/follows/gina",
                account_id=people["gina"][0].id,
                target_account_id=pair.alice.id,
                state="pending",
            )
        )
    bob = client(pair.hr, pair.bob_token)
    alice_there = await call(bob.account_lookup, f"alice@{finance.domain}")
    await call(bob.account_follow, alice_there.id)
    await settle(finance, pair.hr)
    async with finance.ctx.sessions() as session:
        bob_here = await session.scalar(
            select(Account).where(Account.username == "bob", Account.local.is_(False))
        )
    assert bob_here is not None
    people["hr_inbox"] = bob_here.shared_inbox_url or bob_here.inbox_url
    return people


async def test_each_post_reaches_exactly_its_audience(pair: Pair, office: dict[str, Any]) -> None:
    node, token = pair.finance, pair.alice_token
    carol_token = office["carol"][1]
    hr_inbox = office["hr_inbox"]
    parent = await _post(node, carol_token, status="Lunch on Friday?")
    media = await call(
        client(node, token).media_post, png(12, 12), mime_type="image/png", description="Menu"
    )

    public = await _post(
        node,
        token,
        status="@erin @henry @ivanx yes! #Lunch",
        in_reply_to_id=parent["id"],
        media_ids=[str(media.id)],
    )
    rows = await _rows(node, int(public["id"]))
    assert rows == {
        "feeds": {"alice", "carol"},  # not gina (pending), erin, henry or ivan
        # carol as the author of the post replied to; henry blocks alice
        "notified": {("erin", "mention"), ("carol", "mention")},
        "mentioned": {"erin", "henry", "carol"},  # @ivanx is nobody
        "tags": {"lunch"},
        "activities": {("Create", True)},
        "inboxes": [hr_inbox],
    }
    async with node.ctx.sessions() as session:
        linked = await session.get(MediaAttachment, int(media.id))
        replied = await session.get(Status, int(parent["id"]))
    assert linked is not None and linked.status_id == int(public["id"])
    assert replied is not None and replied.replies_count == 1
    # The answer is the Status everyone else reads (on SQLite it comes from the fast path).
    _, shown = await raw(node, "GET", f"/api/v1/statuses/{public['id']}", token)
    assert public == shown
    assert public["media_attachments"][0]["description"] == "Menu"
    assert public["in_reply_to_id"] == parent["id"] and public["replies_count"] == 0

    private = await _post(node, token, status="@erin followers only", visibility="private")
    assert await _rows(node, int(private["id"])) == {
        "feeds": {"alice", "carol"},  # erin is told, but it is not in her home feed
        "notified": {("erin", "mention")},
        "mentioned": {"erin"},
        "tags": set(),
        "activities": {("Create", False)},
        "inboxes": [hr_inbox],
    }

    local = await _post(node, token, status="@erin in the building #Lunch", visibility="local")
    assert await _rows(node, int(local["id"])) == {
        "feeds": {"alice", "carol"},
        "notified": {("erin", "mention")},
        "mentioned": {"erin"},
        "tags": {"lunch"},
        "activities": set(),  # never federated
        "inboxes": [],
    }

    direct = await _post(
        node, token, status=f"@erin @bob@{pair.hr.domain} just us", visibility="direct"
    )
    assert await _rows(node, int(direct["id"])) == {
        "feeds": {"alice", "erin"},  # not carol, though she follows alice
        "notified": {("erin", "mention")},
        "mentioned": {"erin", "bob"},
        "tags": set(),
        "activities": {("Create", False)},
        "inboxes": [hr_inbox],  # bob, mentioned
    }
    async with node.ctx.sessions() as session:
        talking = await session.scalars(
            select(Account.username)
            .join(Conversation, Conversation.account_id == Account.id)
            .where(Conversation.last_status_id == int(direct["id"]))
        )
        assert set(talking) == {"alice", "erin"}

    # The remote follower gets the public, followers-only and direct posts, not the local one.
    await settle(node, pair.hr)
    bob = client(pair.hr, pair.bob_token)
    home = await call(bob.timeline_home)
    texts = " ".join(item.content for item in home)
    assert "yes!" in texts and "followers only" in texts
    assert "in the building" not in texts


async def test_a_post_that_fails_half_way_leaves_nothing(
    pair: Pair, office: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, token = pair.finance, pair.alice_token

    async def counts() -> list[int]:
        async with node.ctx.sessions() as session:
            return [
                int(await session.scalar(select(func.count()).select_from(table)) or 0)
                for table in (
                    Status,
                    HomeFeedEntry,
                    Mention,
                    StatusTag,
                    Tag,
                    Notification,
                    OutboxActivity,
                    Delivery,
                )
            ]

    before = await counts()

    def broken(*_args: Any, **_kw: Any) -> int:
        # The last write of a post: everything else of it is written by now.
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("node.services.publishing.enqueue_now", broken)
    status, body = await raw(
        node, "POST", "/api/v1/statuses", token, json={"status": "@erin see #Budget"}
    )
    assert (status, body) == (500, {"error": "internal error"})
    assert await counts() == before
    queue = queue_of(node.ctx.sessions)
    assert queue is None or not queue.lock.locked()  # the writer's turn was given back

    monkeypatch.undo()
    posted = await _post(node, token, status="@erin see #Budget")
    rows = await _rows(node, int(posted["id"]))
    assert rows["feeds"] == {"alice", "carol"} and rows["tags"] == {"budget"}


async def test_concurrent_posters_all_land(pair: Pair, office: dict[str, Any]) -> None:
    node = pair.finance
    writers = [pair.alice_token, office["carol"][1], office["erin"][1], office["ivan"][1]]

    async def write(token: str, n: int) -> list[dict[str, Any]]:
        return [await _post(node, token, status=f"Post {n}.{i} #busy") for i in range(4)]

    posted = [p for batch in await asyncio.gather(*map(write, writers, range(4))) for p in batch]
    assert len({p["id"] for p in posted}) == 16
    async with node.ctx.sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(StatusTag).join(Tag).where(Tag.name == "busy")
        )
        alices = await session.scalar(
            select(func.count())
            .select_from(HomeFeedEntry)
            .join(Status, Status.id == HomeFeedEntry.status_id)
            .where(HomeFeedEntry.account_id == office["carol"][0].id)
            .where(Status.account_id == pair.alice.id)
        )
    assert stored == 16 and alices == 4  # carol follows alice only
    queue = queue_of(node.ctx.sessions)
    assert queue is None or not queue.lock.locked()
