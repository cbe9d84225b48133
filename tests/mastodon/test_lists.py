"""Lists: make, change, fill and read them; the list timeline and stream (PROTOCOL.md C21).

Driven with Mastodon.py against two nodes: alice (finance) lists bob, who lives on hr.
Bad input answers as Mastodon does and changes nothing; another person's list is 404.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from mastodon import MastodonAPIError, MastodonNotFoundError
from sqlalchemy import select

from node.auth.tokens import issue_token
from node.db.models import Account
from tests.conftest import Node
from tests.mastodon import shapes
from tests.mastodon.conftest import Pair, call, client, raw, settle

WAIT = 10.0


async def _setup(pair: Pair) -> tuple[Any, Any, str, str]:
    """alice follows bob (remote) and carol (local); answers (alice api, bob here, carol
    token, carol id)."""
    finance, hr = pair.finance, pair.hr
    alice = client(finance, pair.alice_token)
    carol, carol_token = await finance.user("carol")
    bob_here = await call(alice.account_lookup, f"bob@{hr.domain}")
    await call(alice.account_follow, bob_here.id)
    await call(alice.account_follow, carol.id)
    await settle(finance, hr)
    return alice, bob_here, carol_token, str(carol.id)


async def test_list_lifecycle_and_bad_input(pair: Pair) -> None:
    alice, bob_here, carol_token, carol_id = await _setup(pair)
    finance = pair.finance
    made = await call(alice.list_create, "Collega's", replies_policy="followed")
    shapes.check(
        "UserList", (await raw(finance, "GET", f"/api/v1/lists/{made.id}", pair.alice_token))[1]
    )
    assert (made.title, made.replies_policy, made.exclusive) == ("Collega's", "followed", False)
    await call(alice.list_accounts_add, made.id, [bob_here.id, carol_id])
    members = await call(alice.list_accounts, made.id)
    assert {str(a.id) for a in members} == {str(bob_here.id), carol_id}
    for account in (
        await raw(finance, "GET", f"/api/v1/lists/{made.id}/accounts", pair.alice_token)
    )[1]:
        shapes.check("Account", account)
    assert [str(x.id) for x in await call(alice.account_lists, bob_here.id)] == [str(made.id)]
    changed = await call(alice.list_update, made.id, "Team", replies_policy="none", exclusive=True)
    assert (changed.title, changed.replies_policy, changed.exclusive) == ("Team", "none", True)
    assert [x.title for x in await call(alice.lists)] == ["Team"]
    assert (await call(alice.list, made.id)).exclusive is True

    # Bad input: 422 or 404 as Mastodon, and the list is as it was.
    _, erin_token = await finance.user("erin")
    _, erin = await raw(finance, "GET", "/api/v1/accounts/verify_credentials", erin_token)
    before = await raw(finance, "GET", f"/api/v1/lists/{made.id}/accounts", pair.alice_token)
    token = pair.alice_token
    bad = [
        ("POST", "/api/v1/lists", {"title": ""}, 422),
        ("POST", "/api/v1/lists", {"title": "x" * 256}, 422),
        ("POST", "/api/v1/lists", {"title": "x", "replies_policy": "all"}, 422),
        ("POST", "/api/v1/lists", {"title": "x", "exclusive": "maybe"}, 422),
        ("PUT", f"/api/v1/lists/{made.id}", {"title": " "}, 422),
        ("PUT", f"/api/v1/lists/{made.id}", {"replies_policy": "everyone"}, 422),
        # not followed (erin), unknown, malformed: 404; already on the list: 422
        ("POST", f"/api/v1/lists/{made.id}/accounts", {"account_ids[]": erin["id"]}, 404),
        ("POST", f"/api/v1/lists/{made.id}/accounts", {"account_ids[]": "99999"}, 404),
        ("POST", f"/api/v1/lists/{made.id}/accounts", {"account_ids[]": "abc"}, 404),
        ("POST", f"/api/v1/lists/{made.id}/accounts", {"account_ids[]": carol_id}, 422),
        ("POST", f"/api/v1/lists/{made.id}/accounts", {}, 422),
        ("GET", "/api/v1/lists/12x", None, 404),
    ]
    for method, path, data, expected in bad:
        status, body = await raw(finance, method, path, token, data=data)
        assert status == expected, (method, path, data, body)
        assert isinstance(body, dict) and body.get("error"), body
    assert [x.title for x in await call(alice.lists)] == ["Team"]
    assert (await call(alice.list, made.id)).replies_policy == "none"
    assert await raw(finance, "GET", f"/api/v1/lists/{made.id}/accounts", token) == before

    # Mastodon.py surfaces the same answers.
    with pytest.raises(MastodonNotFoundError):
        await call(alice.list_accounts_add, made.id, [erin["id"]])
    with pytest.raises(MastodonAPIError):
        await call(alice.list_create, "")

    # Another person: 404 everywhere, and nothing changes.
    for method, path, data in [
        ("GET", f"/api/v1/lists/{made.id}", None),
        ("PUT", f"/api/v1/lists/{made.id}", {"title": "Mine"}),
        ("DELETE", f"/api/v1/lists/{made.id}", None),
        ("GET", f"/api/v1/lists/{made.id}/accounts", None),
        ("POST", f"/api/v1/lists/{made.id}/accounts", {"account_ids[]": carol_id}),
        ("DELETE", f"/api/v1/lists/{made.id}/accounts", {"account_ids[]": carol_id}),
        ("GET", f"/api/v1/timelines/list/{made.id}", None),
    ]:
        status, body = await raw(finance, method, path, carol_token, data=data)
        assert status == 404, (method, path, body)
    status, theirs = await raw(finance, "GET", f"/api/v1/accounts/{bob_here.id}/lists", carol_token)
    assert (status, theirs) == (200, [])
    assert await raw(finance, "GET", f"/api/v1/lists/{made.id}/accounts", token) == before
    assert (await call(alice.list, made.id)).title == "Team"

    await call(alice.list_accounts_delete, made.id, [carol_id])
    assert [str(a.id) for a in await call(alice.list_accounts, made.id)] == [str(bob_here.id)]
    # Unfollowing takes someone off one's lists, as in Mastodon.
    await call(alice.account_unfollow, bob_here.id)
    await settle(finance, pair.hr)
    assert await call(alice.list_accounts, made.id) == []
    await call(alice.list_delete, made.id)
    assert await call(alice.lists) == []
    assert await call(alice.account_lists, bob_here.id) == []


async def test_list_timeline_paging_and_exclusive(pair: Pair) -> None:
    alice, bob_here, _carol_token, carol_id = await _setup(pair)
    finance, hr = pair.finance, pair.hr
    bob = client(hr, pair.bob_token)
    team = await call(alice.list_create, "HR")
    await call(alice.list_accounts_add, team.id, [bob_here.id])
    posts = [await call(bob.status_post, f"HR bericht {i}") for i in range(3)]
    await settle(finance, hr)
    carol_api = client(finance, (await finance.user("frank"))[1])  # a stranger's post
    await call(carol_api.status_post, "niet in de lijst")
    listed = await call(alice.timeline_list, team.id, limit=2)
    assert [s.content for s in listed] == ["<p>HR bericht 2</p>", "<p>HR bericht 1</p>"]
    for status in (
        await raw(finance, "GET", f"/api/v1/timelines/list/{team.id}", pair.alice_token)
    )[1]:
        shapes.check("Status", status)
    older = await call(alice.fetch_next, listed)
    assert older is not None and [s.content for s in older] == ["<p>HR bericht 0</p>"]
    status, body = await raw(
        finance, "GET", f"/api/v1/timelines/list/{team.id}?limit=1", pair.alice_token
    )
    assert status == 200 and len(body) == 1
    assert posts[0].id  # bob's own ids differ from the copies on finance

    # Replies (Mastodon's rules): to the list's owner always shown; to others by the policy.
    carol_token = await _token(finance, "carol")
    for handle in (f"alice@{finance.domain}", f"carol@{finance.domain}"):
        await call(bob.account_follow, (await call(bob.account_lookup, handle)).id)
    await settle(finance, hr)
    await call(alice.status_post, "vraag aan iedereen")
    await call(client(finance, carol_token).status_post, "vraag van carol")
    await settle(finance, hr)
    seen = {s.content: s for s in await call(bob.timeline_home)}
    await call(
        bob.status_post, "antwoord aan alice", in_reply_to_id=seen["<p>vraag aan iedereen</p>"].id
    )
    await call(
        bob.status_post, "antwoord aan carol", in_reply_to_id=seen["<p>vraag van carol</p>"].id
    )
    await settle(finance, hr)
    home_texts = " ".join(s.content for s in await call(alice.timeline_home, limit=40))
    assert "antwoord aan alice" in home_texts and "antwoord aan carol" in home_texts
    shown = {}
    for policy in ("none", "list", "followed"):
        await call(alice.list_update, team.id, "HR", replies_policy=policy)
        listed = " ".join(s.content for s in await call(alice.timeline_list, team.id))
        shown[policy] = ("antwoord aan alice" in listed, "antwoord aan carol" in listed)
    # carol is followed but not on the list
    assert shown == {"none": (True, False), "list": (True, False), "followed": (True, True)}

    # Exclusive: bob's posts leave home and stay on the list; carol's stay home.
    carol_post = await call(client(finance, carol_token).status_post, "x")
    await call(alice.list_update, team.id, "HR", replies_policy="followed", exclusive=True)
    home = await call(alice.timeline_home, limit=40)
    assert all(s.account.id != bob_here.id for s in home)
    assert any(str(s.id) == str(carol_post.id) for s in home)
    assert len(await call(alice.timeline_list, team.id, limit=40)) == 5
    assert carol_id


async def _token(node: Node, username: str) -> str:
    """A fresh token for an existing local person."""
    async with node.ctx.sessions() as session, session.begin():
        account = await session.scalar(select(Account).where(Account.username == username))
        assert account is not None
        return await issue_token(session, account, "read write follow")


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            data: dict[str, Any] = json.loads(message.data)
            return data


async def test_list_stream(pair: Pair) -> None:
    alice, bob_here, carol_token, _carol_id = await _setup(pair)
    finance, hr = pair.finance, pair.hr
    team = await call(alice.list_create, "HR")
    await call(alice.list_accounts_add, team.id, [bob_here.id])
    url = finance.base.replace("http://", "ws://") + "/api/v1/streaming"
    async with aiohttp.ClientSession() as http:
        # Someone else's list: refused before the stream opens, or as a subscribe error.
        async with http.get(
            url, params={"access_token": carol_token, "stream": "list", "list": str(team.id)}
        ) as refused:
            assert refused.status == 404
        async with http.ws_connect(url, params={"access_token": carol_token}) as ws:
            await ws.send_json({"type": "subscribe", "stream": "list", "list": str(team.id)})
            reply = await _next(ws)
            assert reply["status"] == 404
        async with http.ws_connect(url, params={"access_token": pair.alice_token}) as ws:
            await ws.send_json({"type": "subscribe", "stream": "list", "list": str(team.id)})
            await call(client(finance, carol_token).status_post, "niet voor de lijst")
            await call(client(hr, pair.bob_token).status_post, "Live uit HR")
            await settle(finance, hr)
            message = await _next(ws)
            assert message["stream"] == ["list", str(team.id)]
            assert message["event"] == "update"
            payload = json.loads(message["payload"])
            shapes.check("Status", payload)
            assert payload["content"] == "<p>Live uit HR</p>"
