"""Muting a thread, and account mutes beyond the home timeline (Mastodon's rules).

A muted thread sends no more notifications and shows ``muted: true``. A muted account
stays out of the public and hashtag timelines and the streams, and sends no notifications
unless the mute was made with ``notifications=false``.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.conftest import NodeFactory
from tests.mastodon import shapes
from tests.mastodon.conftest import call, client, raw

WAIT = 10.0


async def test_mute_thread(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    _alice, token = await node.user("alice")
    _bob, bob_token = await node.user("bob")
    _carol, carol_token = await node.user("carol")
    alice, bob, carol = client(node, token), client(node, bob_token), client(node, carol_token)
    root = await call(alice.status_post, "Wie helpt met de verhuizing?")
    reply = await call(bob.status_post, "@alice ik!", in_reply_to_id=root.id)
    assert [n.type for n in await call(alice.notifications)] == ["mention"]

    muted = await call(alice.status_mute, reply.id)
    assert muted.muted is True
    status, body = await raw(node, "GET", f"/api/v1/statuses/{root.id}", token)
    assert body["muted"] is True
    shapes.check("Status", body)
    assert (await raw(node, "GET", f"/api/v1/statuses/{root.id}", bob_token))[1]["muted"] is False
    await call(carol.status_post, "@alice ik ook", in_reply_to_id=reply.id)
    await call(carol.status_favourite, root.id)
    await call(carol.status_post, "@alice los bericht")
    notes = await call(alice.notifications)
    assert [n.type for n in notes] == ["mention", "mention"]  # the thread's earlier one stays
    assert "los bericht" in notes[0].status.content and "ik!" in notes[1].status.content

    unmuted = await call(alice.status_unmute, root.id)
    assert unmuted.muted is False
    assert len(await call(alice.notifications)) == 4  # applied when read, as the stream is

    # Not visible, not known: 404, and no mute is made.
    direct = await call(bob.status_post, "@carol geheim", visibility="direct")
    for path in (f"/api/v1/statuses/{direct.id}/mute", "/api/v1/statuses/999/mute"):
        status, _ = await raw(node, "POST", path, token)
        assert status == 404
    assert (await raw(node, "GET", f"/api/v1/statuses/{direct.id}", carol_token))[1][
        "muted"
    ] is False


async def test_account_mute_reaches_public_notifications_and_streams(
    make_node: NodeFactory,
) -> None:
    node = await make_node("finance", "127.0.0.2")
    _alice, token = await node.user("alice")
    dave, dave_token = await node.user("dave")
    _erin, erin_token = await node.user("erin")
    alice, dave_api, erin = client(node, token), client(node, dave_token), client(node, erin_token)
    await call(dave_api.status_post, "Lawaai #kantine")
    await call(alice.account_mute, dave.id)
    relationship = (await call(alice.account_relationships, [dave.id]))[0]
    assert relationship.muting and relationship.muting_notifications
    assert await call(alice.timeline_public) == []
    assert await call(alice.timeline_hashtag, "kantine") == []
    assert len(await call(erin.timeline_public)) == 1  # only alice's view changes
    await call(dave_api.status_post, "@alice hoor je me?")
    assert await call(alice.notifications) == []
    root = await call(erin.status_post, "Draadje")
    await call(dave_api.status_post, "ook lawaai", in_reply_to_id=root.id)
    await call(erin.status_post, "rustig antwoord", in_reply_to_id=root.id)
    thread = await call(alice.status_context, root.id)
    assert [s.content for s in thread.descendants] == ["<p>rustig antwoord</p>"]
    assert len((await call(erin.status_context, root.id)).descendants) == 2

    url = node.base.replace("http://", "ws://") + "/api/v1/streaming"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, params={"access_token": token, "stream": "public"}) as ws,
    ):
        await call(dave_api.status_post, "nog meer lawaai")
        await call(erin.status_post, "rustig bericht")
        async with asyncio.timeout(WAIT):
            message = json.loads((await ws.receive()).data)
        assert json.loads(message["payload"])["content"] == "<p>rustig bericht</p>"

    # notifications=false: the posts stay hidden, the notifications come back.
    status, body = await raw(
        node, "POST", f"/api/v1/accounts/{dave.id}/mute", token, data={"notifications": "false"}
    )
    assert status == 200 and body["muting"] and not body["muting_notifications"]
    assert [n.type for n in await call(alice.notifications)] == ["mention"]
    assert all(s.account.id != dave.id for s in await call(alice.timeline_public))
    status, body = await raw(
        node, "POST", f"/api/v1/accounts/{dave.id}/mute", token, data={"notifications": "soms"}
    )
    assert status == 422
    assert not (await call(alice.account_relationships, [dave.id]))[0].muting_notifications
    await call(alice.account_unmute, dave.id)
    assert len(await call(alice.timeline_public)) == 6  # dave's reply to erin stays out
