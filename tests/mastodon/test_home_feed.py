"""The home timeline's fast SQLite path, its JSON cache and capped home feeds (PROTOCOL.md C21,
C6, C35; node.api.mastodon.home, node.services.feeds).

On SQLite the home timeline is read with plain ``sqlite3`` and cached status JSON; on
PostgreSQL through the async session. Both must give exactly what the reference path
(``core_page``: the Core select and the entity builders) gives, for every viewer, page and
flag, also right after an edit, a favourite, a bookmark or a delete.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from node.api.mastodon.common import Page
from node.api.mastodon.home import FAST_READS, core_page
from node.api.mastodon.queries import Viewer
from node.db.models import HomeFeedEntry
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import call, client, raw


async def _expected(node: Node, account_id: int, page: Page) -> list[dict[str, Any]]:
    entities, _ids = await core_page(node.ctx, Viewer(account_id, True), page)
    loaded: list[dict[str, Any]] = json.loads(json.dumps(entities))
    return loaded


async def _same(node: Node, viewers: dict[str, tuple[int, str]]) -> list[dict[str, Any]]:
    """Every viewer's home pages (newest, older, newer) equal the reference; carol's first page."""
    first: list[dict[str, Any]] = []
    for name, (account_id, token) in viewers.items():
        status, body = await raw(node, "GET", "/api/v1/timelines/home?limit=40", token)
        assert status == 200, body
        assert body == await _expected(node, account_id, Page(None, None, None, 40)), name
        if len(body) > 2:
            middle = int(body[1]["id"])
            for query, page in (
                (f"max_id={middle}&limit=3", Page(middle, None, None, 3)),
                (f"min_id={middle}&limit=2", Page(None, None, middle, 2)),
                (f"since_id={middle}", Page(None, middle, None, 20)),
            ):
                status, older = await raw(node, "GET", f"/api/v1/timelines/home?{query}", token)
                assert status == 200, older
                assert older == await _expected(node, account_id, page), (name, query)
        if name == "carol":
            first = body
    return first


def _by_id(body: list[dict[str, Any]], status_id: Any) -> dict[str, Any]:
    return next(item for item in body if item["id"] == str(status_id))


async def test_home_timeline_matches_the_reference_and_stays_fresh(
    make_node: NodeFactory, db_kind: str
) -> None:
    node = await make_node("finance", "127.0.0.2")
    assert (FAST_READS in node.app) == (db_kind == "sqlite")
    alice, alice_token = await node.user("alice")
    bob, bob_token = await node.user("bob")
    carol, carol_token = await node.user("carol")
    dave, dave_token = await node.user("dave")
    a, b, c, d = (client(node, t) for t in (alice_token, bob_token, carol_token, dave_token))
    for follower, target in ((c, alice), (c, bob), (c, dave), (b, alice)):
        await call(follower.account_follow, target.id)
    public = await call(a.status_post, "Plan for #lunch with @bob", visibility="public")
    private = await call(a.status_post, "Only followers", visibility="private")
    await call(a.status_post, "Quiet one", visibility="unlisted")
    await call(a.status_post, "@carol just for you", visibility="direct")
    status, _ = await raw(
        node,
        "POST",
        "/api/v1/statuses",
        alice_token,
        json={"status": "Stays", "visibility": "local"},
    )
    assert status == 200
    boost = await call(b.status_reblog, public.id)
    await call(b.status_post, "Reply", in_reply_to_id=public.id)
    await call(d.status_post, "Muted soon")
    await call(c.status_favourite, public.id)
    await call(c.status_bookmark, private.id)
    own = await call(c.status_post, "Mine, pinned")
    await call(c.status_pin, own.id)
    await call(c.account_mute, dave.id)
    viewers = {
        "alice": (alice.id, alice_token),
        "bob": (bob.id, bob_token),
        "carol": (carol.id, carol_token),
    }
    body = await _same(node, viewers)
    texts = [item["content"] for item in body]
    assert not any("Muted soon" in text for text in texts)
    assert any("just for you" in text for text in texts)
    boosted = _by_id(body, boost.id)
    assert boosted["reblog"]["id"] == str(public.id)
    assert boosted["favourited"] is True and boosted["reblog"]["favourited"] is True
    assert _by_id(body, private.id)["bookmarked"] is True
    assert _by_id(body, own.id)["pinned"] is True
    assert _by_id(body, public.id)["favourites_count"] == 1

    # Edits, counts, per-viewer flags and deletes show at once (the cache is dropped).
    await call(a.status_update, public.id, "Plan for #lunch, edited")
    await call(b.status_favourite, public.id)
    await call(c.status_unbookmark, private.id)
    await call(c.status_unfavourite, public.id)
    await call(a.status_delete, private.id)
    await call(c.account_unmute, dave.id)
    await call(b.account_update_credentials, display_name="Bob B.")
    body = await _same(node, viewers)
    edited = _by_id(body, public.id)
    assert "edited" in edited["content"] and edited["edited_at"] is not None
    assert edited["favourites_count"] == 1 and edited["favourited"] is False
    assert _by_id(body, boost.id)["reblog"]["content"] == edited["content"]
    assert _by_id(body, boost.id)["account"]["display_name"] == "Bob B."
    assert all(item["id"] != str(private.id) for item in body)
    assert any("Muted soon" in item["content"] for item in body)
    _, bobs = await raw(node, "GET", "/api/v1/timelines/home?limit=40", bob_token)
    assert _by_id(bobs, public.id)["favourited"] is True


async def test_home_timeline_refuses_bad_tokens_scopes_and_cursors(
    make_node: NodeFactory,
) -> None:
    node = await make_node("finance", "127.0.0.2")
    alice, token = await node.user("alice")
    async with node.ctx.sessions() as session, session.begin():
        from node.auth.tokens import issue_token

        writer = await issue_token(session, alice, "write")
    path = "/api/v1/timelines/home"
    assert (await raw(node, "GET", path))[0] == 401
    assert (await raw(node, "GET", path, "not-a-token"))[0] == 401
    status, body = await raw(node, "GET", path, writer)
    assert (status, body) == (403, {"error": "This action is outside the authorized scopes"})
    status, body = await raw(node, "GET", f"{path}?max_id=abc", token)
    assert status == 422 and "max_id" in body["error"]
    status, body = await raw(node, "GET", f"{path}?limit=abc", token)
    assert status == 422
    status, body = await raw(node, "GET", f"{path}?access_token={token}")
    assert (status, body) == (200, [])
    await call(client(node, token).status_post, "hello")
    async with node.ctx.sessions() as session, session.begin():
        from node.auth.tokens import authenticate, revoke_token

        grant = await authenticate(session, token)
        assert grant is not None
        await revoke_token(session, grant.token_id)
    assert (await raw(node, "GET", path, token))[0] == 401


async def _feed_size(node: Node, account_id: int) -> int:
    async with node.ctx.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(HomeFeedEntry)
            .where(HomeFeedEntry.account_id == account_id)
        )
    return int(count or 0)


async def test_capped_feed_pages_on_into_older_posts(make_node: NodeFactory) -> None:
    """With ``node.home_feed_size = 5`` feeds keep 5 entries, and paging the home timeline
    still walks every post of the people one follows, newest first, without gaps or repeats."""
    node = await make_node("finance", "127.0.0.2", node_options={"home_feed_size": 5})
    assert node.ctx.home_feed_size == 5
    alice, alice_token = await node.user("alice")
    bob, bob_token = await node.user("bob")
    _erin, erin_token = await node.user("erin")
    reader = client(node, bob_token)
    await call(reader.account_follow, alice.id)
    a = client(node, alice_token)
    posted = [int((await call(a.status_post, f"post {n}")).id) for n in range(17)]
    posted.append(int((await call(reader.status_post, "bob's own")).id))
    await call(client(node, erin_token).status_post, "a stranger's post")
    assert await _feed_size(node, bob.id) == 5
    assert await _feed_size(node, alice.id) == 5

    seen: list[int] = []
    page = await call(reader.timeline_home, limit=4)
    while page:
        seen += [int(s.id) for s in page]
        page = await call(reader.fetch_next, page)
    assert seen == sorted(posted, reverse=True)

    # A page that starts past the feed, and one that straddles it.
    status, body = await raw(
        node, "GET", f"/api/v1/timelines/home?limit=3&max_id={posted[5]}", bob_token
    )
    assert status == 200 and [int(s["id"]) for s in body] == posted[4:1:-1]
    status, body = await raw(node, "GET", "/api/v1/timelines/home?limit=8", bob_token)
    assert [int(s["id"]) for s in body] == sorted(posted, reverse=True)[:8]


async def test_uncapped_feed_stays_whole(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2", node_options={"home_feed_size": 0})
    alice, alice_token = await node.user("alice")
    bob, bob_token = await node.user("bob")
    await call(client(node, bob_token).account_follow, alice.id)
    for n in range(12):
        await call(client(node, alice_token).status_post, f"post {n}")
    assert await _feed_size(node, bob.id) == 12
