"""Filters v2 (and the v1 view): keywords, statuses, contexts, warn and hide, expiry.

``warn`` leaves a matching status in place with a FilterResult in ``filtered``; ``hide``
takes it out of the filter's contexts — timelines, notifications, threads and streams.
Bad input answers 422 and changes nothing; another person's filter is 404.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update

from node.db.models import Filter, Notification
from tests.conftest import NodeFactory
from tests.mastodon import shapes
from tests.mastodon.conftest import call, client, raw

WAIT = 10.0


async def _texts(node: Any, path: str, token: str) -> dict[str, dict[str, Any]]:
    """Status entities on *path* by their text."""
    status, body = await raw(node, "GET", path, token)
    assert status == 200, body
    items = body["descendants"] + body["ancestors"] if isinstance(body, dict) else body
    out = {}
    for item in items:
        entity = item.get("status") or item
        out[entity["content"]] = entity
    return out


async def test_filters_warn_hide_contexts_and_bad_input(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    alice_account, token = await node.user("alice")
    bob_account, bob_token = await node.user("bob")
    _carol, carol_token = await node.user("carol")
    alice, bob = client(node, token), client(node, bob_token)
    await call(alice.account_follow, bob_account.id)
    lunch = await call(bob.status_post, "Lunch at noon")
    await call(bob.status_post, "Lunchroom closed")
    meeting = await call(bob.status_post, "Vergadering om drie")
    mine = await call(alice.status_post, "my lunch")

    made = await call(
        alice.create_filter_v2,
        "Eten",
        ["home", "public"],
        "warn",
        keywords_attributes=[{"keyword": "lunch", "whole_word": True}],
    )
    assert (made.title, made.filter_action, made.context) == ("Eten", "warn", ["home", "public"])
    status, body = await raw(node, "GET", f"/api/v2/filters/{made.id}", token)
    shapes.check("FilterV2", body)
    home = await _texts(node, "/api/v1/timelines/home", token)
    warned = home["<p>Lunch at noon</p>"]["filtered"]
    assert len(warned) == 1 and warned[0]["keyword_matches"] == ["lunch"]
    shapes.check("FilterResult", warned[0])
    assert home["<p>Lunchroom closed</p>"]["filtered"] == []  # whole word only
    assert home["<p>my lunch</p>"]["filtered"] == []  # one's own posts are never filtered
    assert (await call(alice.timeline_home))[0].id == mine.id

    # hide: gone from home and public, still in the thread and on the profile.
    await call(alice.update_filter_v2, made.id, filter_action="hide")
    assert "<p>Lunch at noon</p>" not in await _texts(node, "/api/v1/timelines/home", token)
    assert "<p>Lunch at noon</p>" not in await _texts(node, "/api/v1/timelines/public", token)
    assert "<p>Lunch at noon</p>" in await _texts(
        node, f"/api/v1/accounts/{bob_account.id}/statuses", token
    )
    status, _ = await raw(node, "GET", f"/api/v1/statuses/{lunch.id}", token)
    assert status == 200  # asking for it by id still works, as in Mastodon
    await call(alice.update_filter_v2, made.id, context=["home", "account"])
    assert "<p>Lunch at noon</p>" not in await _texts(
        node, f"/api/v1/accounts/{bob_account.id}/statuses", token
    )
    assert "<p>Lunch at noon</p>" in await _texts(node, "/api/v1/timelines/public", token)

    # Status filters, keywords added and removed, the v1 view.
    status_filter = await call(alice.add_filter_status_v2, made.id, meeting.id)
    assert str(status_filter.status_id) == str(meeting.id)
    assert "<p>Vergadering om drie</p>" not in await _texts(node, "/api/v1/timelines/home", token)
    extra = await call(alice.add_filter_keyword_v2, made.id, "Noon", whole_word=False)
    keywords = await call(alice.filter_keywords_v2, made.id)
    assert [k.keyword for k in keywords] == ["lunch", "Noon"]
    old = await call(alice.filters)
    assert [(f.phrase, f.irreversible) for f in old] == [("lunch", True), ("Noon", True)]
    status, body = await raw(node, "GET", "/api/v1/filters", token)
    for item in body:
        shapes.check("Filter", item)
    await call(alice.delete_filter_keyword_v2, extra.id)
    status, body = await raw(
        node,
        "PUT",
        f"/api/v2/filters/{made.id}",
        token,
        json={"keywords_attributes": [{"id": str(keywords[0].id), "_destroy": True}]},
    )
    assert status == 200 and body["keywords"] == [], body
    assert "<p>Lunch at noon</p>" in await _texts(node, "/api/v1/timelines/home", token)
    await call(alice.delete_filter_status_v2, status_filter.id)
    assert "<p>Vergadering om drie</p>" in await _texts(node, "/api/v1/timelines/home", token)

    # Bad input: 422, and the filters are as they were.
    before = await raw(node, "GET", "/api/v2/filters", token)
    bad: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v2/filters", {"title": "", "context": ["home"]}),
        ("POST", "/api/v2/filters", {"title": "x" * 256, "context": ["home"]}),
        ("POST", "/api/v2/filters", {"title": "x", "context": []}),
        ("POST", "/api/v2/filters", {"title": "x", "context": ["everywhere"]}),
        ("POST", "/api/v2/filters", {"title": "x", "context": ["home"], "filter_action": "drop"}),
        ("POST", "/api/v2/filters", {"title": "x", "context": ["home"], "expires_in": "-5"}),
        (
            "POST",
            "/api/v2/filters",
            {"title": "x", "context": ["home"], "keywords_attributes": [{"keyword": ""}]},
        ),
        ("PUT", f"/api/v2/filters/{made.id}", {"context": ["nowhere"]}),
        ("PUT", f"/api/v2/filters/{made.id}", {"title": "ok", "filter_action": "loud"}),
        (
            "PUT",
            f"/api/v2/filters/{made.id}",
            {"title": "ok", "keywords_attributes": [{"keyword": "a" * 300}]},
        ),
        ("POST", f"/api/v2/filters/{made.id}/keywords", {"keyword": " "}),
        ("POST", f"/api/v2/filters/{made.id}/statuses", {"status_id": "x1"}),
    ]
    for method, path, data in bad:
        status, body = await raw(node, method, path, token, json=data)
        assert status == 422, (method, path, data, body)
        assert body.get("error"), body
    assert await raw(node, "GET", "/api/v2/filters", token) == before

    # Another person's filter: 404, unchanged.
    for method, path in (
        ("GET", f"/api/v2/filters/{made.id}"),
        ("PUT", f"/api/v2/filters/{made.id}"),
        ("DELETE", f"/api/v2/filters/{made.id}"),
    ):
        status, _ = await raw(node, method, path, carol_token, json={"title": "mine"})
        assert status == 404
    assert await raw(node, "GET", "/api/v2/filters", token) == before
    assert alice_account.id

    # The thread context: a hidden reply leaves the status's context, and only there.
    await call(bob.status_post, "lunch in de kantine?", in_reply_to_id=meeting.id)
    changed = await call(
        alice.update_filter_v2,
        made.id,
        context=["thread"],
        keywords_attributes=[{"keyword": "kantine", "whole_word": True}],
    )
    assert [k.keyword for k in changed.keywords] == ["kantine"]
    thread = f"/api/v1/statuses/{meeting.id}/context"
    assert "<p>lunch in de kantine?</p>" not in await _texts(node, thread, token)
    assert "<p>lunch in de kantine?</p>" in await _texts(node, "/api/v1/timelines/home", token)
    assert "<p>lunch in de kantine?</p>" in await _texts(node, thread, bob_token)

    await call(alice.delete_filter_v2, made.id)
    assert await call(alice.filters_v2) == []
    assert "<p>lunch in de kantine?</p>" in await _texts(node, thread, token)


async def test_filters_in_notifications_expiry_and_streams(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    alice_account, token = await node.user("alice")
    bob_account, bob_token = await node.user("bob")
    alice, bob = client(node, token), client(node, bob_token)
    await call(alice.account_follow, bob_account.id)
    made = await call(
        alice.create_filter_v2,
        "Spoilers",
        ["notifications", "home"],
        "hide",
        expires_in=3600,
        keywords_attributes=[{"keyword": "finale", "whole_word": True}],
    )
    assert made.expires_at is not None
    await call(bob.status_post, "@alice the finale was great")
    await call(bob.status_post, "@alice hello")
    notes = await call(alice.notifications)
    assert all("finale" not in n.status.content for n in notes if n.status)
    assert len([n for n in notes if n.type == "mention"]) == 1
    async with node.ctx.sessions() as session:
        hidden = await session.scalar(
            select(Notification.id)
            .where(Notification.account_id == alice_account.id)
            .order_by(Notification.id)
            .limit(1)
        )
    status, body = await raw(node, "GET", f"/api/v1/notifications/{hidden}", token)
    assert status == 404, body  # the hidden one is not shown by id either

    # The stream leaves hidden posts out too.
    url = node.base.replace("http://", "ws://") + "/api/v1/streaming"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, params={"access_token": token, "stream": "user"}) as ws,
    ):
        await call(bob.status_post, "no spoilers: the finale")
        await call(bob.status_post, "gewoon nieuws")
        seen: list[str] = []
        async with asyncio.timeout(WAIT):
            while "gewoon nieuws" not in "".join(seen):
                message = json.loads((await ws.receive()).data)
                if message["event"] == "update":
                    seen.append(json.loads(message["payload"])["content"])
        assert all("finale" not in text for text in seen)

    # Once expired, a filter no longer applies.
    async with node.ctx.sessions() as session, session.begin():
        await session.execute(
            update(Filter)
            .where(Filter.id == int(made.id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    home = await _texts(node, "/api/v1/timelines/home", token)
    assert "<p>no spoilers: the finale</p>" in home
    assert len([n for n in await call(alice.notifications) if n.type == "mention"]) == 2
    assert alice_account.id


async def test_v1_filters_for_old_clients(make_node: NodeFactory) -> None:
    """Old clients make, change and delete one-keyword filters; v2 shows the same data."""
    node = await make_node("finance", "127.0.0.2")
    _alice, token = await node.user("alice")
    _bob, bob_token = await node.user("bob")
    alice = client(node, token)
    made = await call(alice.filter_create, "Voetbal", ["home", "public"], irreversible=True)
    assert (made.phrase, made.irreversible, made.whole_word) == ("Voetbal", True, True)
    status, body = await raw(node, "GET", f"/api/v1/filters/{made.id}", token)
    assert status == 200
    shapes.check("Filter", body)
    v2 = await call(alice.filters_v2)
    assert [(f.title, f.filter_action, [k.keyword for k in f.keywords]) for f in v2] == [
        ("Voetbal", "hide", ["Voetbal"])
    ]
    changed = await call(alice.filter_update, made.id, phrase="voetbal", irreversible=False)
    assert (changed.phrase, changed.irreversible) == ("voetbal", False)
    assert (await call(alice.filters_v2))[0].filter_action == "warn"
    before = await raw(node, "GET", "/api/v2/filters", token)
    for method, path, data in (
        ("POST", "/api/v1/filters", {"phrase": "", "context[]": "home"}),
        ("POST", "/api/v1/filters", {"phrase": "x", "context[]": "overal"}),
        ("PUT", f"/api/v1/filters/{made.id}", {"phrase": " "}),
        ("PUT", f"/api/v1/filters/{made.id}", {"irreversible": "soms"}),
    ):
        status, body = await raw(node, method, path, token, data=data)
        assert status == 422, (method, path, body)
    for method in ("GET", "PUT", "DELETE"):
        status, _ = await raw(node, method, f"/api/v1/filters/{made.id}", bob_token)
        assert status == 404
    assert await raw(node, "GET", "/api/v2/filters", token) == before
    await call(alice.filter_delete, made.id)
    assert await call(alice.filters) == [] and await call(alice.filters_v2) == []
