"""Direct-message conversations across two nodes, over REST and the ``direct`` stream.

alice (finance) writes to bob (hr); both see one conversation, unread for the one who
received it; bob's answer in the same thread updates alice's conversation and reaches her
``direct`` stream as a ``conversation`` event. Another person gets 404 and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from node.app import create_app
from node.appkeys import CONTEXT, SETTINGS, STREAMS
from node.db.models import Account
from node.services.statuses import post_status
from tests.conftest import NodeFactory
from tests.mastodon import shapes
from tests.mastodon.conftest import Pair, call, client, raw, settle

WAIT = 10.0


async def _event(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of *kind* (others skipped), within a bounded wait."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            data: dict[str, Any] = json.loads(message.data)
            if data.get("event") == kind:
                return data


async def test_conversations_between_two_nodes(pair: Pair) -> None:
    finance, hr = pair.finance, pair.hr
    alice = client(finance, pair.alice_token)
    bob = client(hr, pair.bob_token)
    carol, carol_token = await finance.user("carol")
    first = await call(alice.status_post, f"@bob@{hr.domain} lunch?", visibility="direct")
    await settle(finance, hr)

    mine = await call(alice.conversations)
    assert len(mine) == 1 and mine[0].unread is False
    assert [a.acct for a in mine[0].accounts] == [f"bob@{hr.domain}"]
    assert mine[0].last_status.id == first.id
    theirs = await call(bob.conversations)
    assert len(theirs) == 1 and theirs[0].unread is True
    assert [a.acct for a in theirs[0].accounts] == [f"alice@{finance.domain}"]
    received = theirs[0].last_status
    for node, token in ((finance, pair.alice_token), (hr, pair.bob_token)):
        status, body = await raw(node, "GET", "/api/v1/conversations", token)
        assert status == 200
        for item in body:
            shapes.check("Conversation", item)

    url = finance.base.replace("http://", "ws://") + "/api/v1/streaming"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, params={"access_token": pair.alice_token, "stream": "direct"}) as ws,
    ):
        # A remote post's id comes from its `published`, which is written in whole seconds
        # (as Mastodon does): a reply in the same second as the first message could sort
        # before it. Reply in the next second, as people do.
        await asyncio.sleep(1.05 - time.time() % 1)
        answer = await call(
            bob.status_post,
            f"@alice@{finance.domain} graag!",
            visibility="direct",
            in_reply_to_id=received.id,
        )
        await settle(finance, hr)
        event = await _event(ws, "conversation")
        assert event["stream"] == ["direct"]
        payload = json.loads(event["payload"])
        shapes.check("Conversation", payload)
        assert payload["id"] == str(mine[0].id) and payload["unread"] is True
        assert "graag!" in payload["last_status"]["content"]
    assert answer.id

    # One thread, one conversation; reading it clears unread.
    mine = await call(alice.conversations)
    assert len(mine) == 1 and mine[0].unread is True
    read = await call(alice.conversations_read, mine[0].id)
    assert read.unread is False
    assert (await call(alice.conversations))[0].unread is False

    # A new thread with carol: a second conversation, newest first, paged with Link.
    await call(alice.status_post, "@carol koffie?", visibility="direct")
    page = await call(alice.conversations, limit=1)
    assert [a.acct for a in page[0].accounts] == ["carol"]
    older = await call(alice.fetch_next, page)
    assert older is not None and [a.acct for a in older[0].accounts] == [f"bob@{hr.domain}"]
    assert len(await call(client(finance, carol_token).conversations)) == 1

    # Another person: 404, and nothing changes.
    target = older[0].id
    for method, path in (
        ("POST", f"/api/v1/conversations/{target}/read"),
        ("DELETE", f"/api/v1/conversations/{target}"),
        ("POST", "/api/v1/conversations/999/read"),
        ("DELETE", "/api/v1/conversations/abc"),
    ):
        status, body = await raw(finance, method, path, carol_token)
        assert status == 404, (method, path, body)
    assert len(await call(alice.conversations)) == 2
    assert carol.id

    # Deleting a conversation's last message falls back to the one before; the first one
    # deleted too, the conversation goes.
    status, body = await raw(finance, "GET", "/api/v1/conversations", pair.alice_token)
    carol_thread = next(c for c in body if c["accounts"][0]["acct"] == "carol")
    await call(
        alice.status_post,
        "@carol of thee?",
        visibility="direct",
        in_reply_to_id=carol_thread["last_status"]["id"],
    )
    newest = next(c for c in await call(alice.conversations) if c.accounts[0].acct == "carol")
    assert "thee" in newest.last_status.content and str(newest.id) == carol_thread["id"]
    await call(alice.status_delete, newest.last_status.id)
    again = next(c for c in await call(alice.conversations) if c.accounts[0].acct == "carol")
    assert str(again.last_status.id) == carol_thread["last_status"]["id"]
    await call(alice.status_delete, again.last_status.id)
    assert all(c.accounts[0].acct != "carol" for c in await call(alice.conversations))
    assert await call(client(finance, carol_token).conversations) == []
    await call(alice.status_post, "@carol koffie?", visibility="direct")

    # Removing it is the owner's alone: bob still has his.
    status, body = await raw(finance, "DELETE", f"/api/v1/conversations/{target}", pair.alice_token)
    assert (status, body) == (200, {})
    assert [a.acct for c in await call(alice.conversations) for a in c.accounts] == ["carol"]
    assert len(await call(bob.conversations)) == 1


async def test_conversation_of_another_process_arrives(make_node: NodeFactory) -> None:
    """A second application on the same database (another worker) stores a direct post;
    the ``direct`` stream on the first shows the conversation (LISTEN/NOTIFY or polling)."""
    node = await make_node("finance", "127.0.0.2")
    alice, alice_token = await node.user("alice")
    bob, _ = await node.user("bob")
    other = create_app(node.app[SETTINGS], run_workers=False)
    runner = web.AppRunner(other)
    await runner.setup()
    url = node.base.replace("http://", "ws://") + "/api/v1/streaming"
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, params={"access_token": alice_token, "stream": "direct"}) as ws,
        ):
            async with asyncio.timeout(WAIT):
                while True:
                    if node.app[STREAMS].open_streams >= 1:
                        break
                    await asyncio.sleep(0.05)
            ctx = other[CONTEXT]
            async with ctx.sessions() as session, session.begin():
                author = await session.get(Account, bob.id)
                assert author is not None
                status = await post_status(ctx, session, author, "@alice psst", visibility="direct")
            payload = json.loads((await _event(ws, "conversation"))["payload"])
            assert payload["last_status"]["id"] == str(status.id) and payload["unread"] is True
            assert [a["acct"] for a in payload["accounts"]] == ["bob"]
    finally:
        await runner.cleanup()
    assert alice.id
