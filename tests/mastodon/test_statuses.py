"""Statuses through Mastodon.py across two nodes: post, follow, favourite, boost, reply, edit,
delete, Idempotency-Key; entity shapes; errors (PROTOCOL.md C2, C20, C22, C35–C36)."""

from __future__ import annotations

from typing import Any

import pytest
from mastodon import MastodonAPIError, MastodonNotFoundError, MastodonUnauthorizedError
from sqlalchemy import func, select

from node.auth.tokens import issue_token
from node.db.models import Account, Status
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.shapes import check


async def _follow(pair: Pair) -> int:
    """alice@finance follows bob@hr by handle; returns bob's id on finance."""
    alice = client(pair.finance, pair.alice_token)
    bob = await call(alice.account_lookup, f"bob@{pair.hr.domain}")
    relationship = await call(alice.account_follow, bob.id)
    assert relationship.requested or relationship.following
    await settle(pair.finance, pair.hr)
    (after,) = await call(alice.account_relationships, [bob.id])
    assert after.following and not after.requested
    return int(bob.id)


async def test_two_nodes_story(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    bob = client(pair.hr, pair.bob_token)
    await _follow(pair)

    post = await call(bob.status_post, "Kwartaalcijfers #finance", visibility="public")
    await settle(pair.finance, pair.hr)
    home = await call(alice.timeline_home)
    assert [s.uri for s in home] == [post.uri]
    seen = home[0]
    assert seen.account.acct == f"bob@{pair.hr.domain}"
    assert [t.name for t in seen.tags] == ["finance"]

    # alice favourites, boosts and replies; each answer is the Status Mastodon gives.
    liked = await call(alice.status_favourite, seen.id)
    assert liked.favourited and liked.favourites_count == 1
    boost = await call(alice.status_reblog, seen.id)
    assert boost.reblog is not None and boost.reblog.id == seen.id and boost.reblog.reblogged
    reply = await call(alice.status_post, "Dank je!", in_reply_to_id=seen.id)
    assert reply.in_reply_to_id == seen.id
    assert [m.acct for m in reply.mentions] == [f"bob@{pair.hr.domain}"]
    await settle(pair.finance, pair.hr)

    # bob is told about each, and sees the counts on his post.
    notes = await call(bob.notifications)
    assert sorted(n.type for n in notes) == ["favourite", "follow", "mention", "reblog"]
    assert {n.account.acct for n in notes} == {f"alice@{pair.finance.domain}"}
    mention = next(n for n in notes if n.type == "mention")
    assert mention.status is not None and "Dank je" in mention.status.content
    mine = await call(bob.status, post.id)
    assert (mine.favourites_count, mine.reblogs_count, mine.replies_count) == (1, 1, 1)
    assert [a.acct for a in await call(bob.status_favourited_by, post.id)] == [
        f"alice@{pair.finance.domain}"
    ]
    assert len(await call(bob.status_reblogged_by, post.id)) == 1
    only = await call(bob.notifications, types=["favourite"])
    assert [n.type for n in only] == ["favourite"]
    rest = await call(bob.notifications, exclude_types=["favourite", "follow"])
    assert sorted(n.type for n in rest) == ["mention", "reblog"]
    single = await call(bob.notifications, id=mention.id)
    assert single.id == mention.id

    # The thread shows the reply on both sides.
    context = await call(bob.status_context, post.id)
    assert [s.content for s in context.descendants] == [mention.status.content]
    context = await call(alice.status_context, reply.id)
    assert [s.id for s in context.ancestors] == [seen.id]

    # bob edits: alice's node gets the Update, the history has both versions.
    edited = await call(
        bob.status_update, post.id, "Kwartaalcijfers Q3 #finance", spoiler_text="cijfers"
    )
    assert edited.edited_at is not None and edited.spoiler_text == "cijfers" and edited.sensitive
    source = await call(bob.status_source, post.id)
    assert source.text == "Kwartaalcijfers Q3 #finance"
    history = await call(bob.status_history, post.id)
    assert [("Q3" in h.content) for h in history] == [False, True]
    await settle(pair.finance, pair.hr)
    assert "Q3" in (await call(alice.status, seen.id)).content

    # unfavourite, unboost, then bob deletes: the answer carries the text for redrafting.
    assert not (await call(alice.status_unfavourite, seen.id)).favourited
    assert not (await call(alice.status_unreblog, seen.id)).reblogged
    deleted = await call(bob.status_delete, post.id)
    assert deleted["text"] == "Kwartaalcijfers Q3 #finance"
    await settle(pair.finance, pair.hr)
    with pytest.raises(MastodonNotFoundError):
        await call(alice.status, seen.id)
    with pytest.raises(MastodonNotFoundError):
        await call(bob.status, post.id)

    # Notifications can be dismissed one by one or cleared.
    await call(bob.notifications_dismiss, mention.id)
    with pytest.raises(MastodonNotFoundError):
        await call(bob.notifications, id=mention.id)
    await call(bob.notifications_clear)
    assert await call(bob.notifications) == []


async def test_idempotency_key_makes_one_post(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    first = await call(alice.status_post, "Eén keer", idempotency_key="retry-1")
    again = await call(alice.status_post, "Eén keer", idempotency_key="retry-1")
    other = await call(alice.status_post, "Eén keer", idempotency_key="retry-2")
    assert first.id == again.id != other.id
    async with pair.finance.ctx.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Status).where(Status.account_id == pair.alice.id)
        )
    assert count == 2


async def test_local_only_post_stays_home(pair: Pair) -> None:
    status, body = await raw(
        pair.finance, "POST", "/api/v1/statuses", pair.alice_token,
        json={"status": "Alleen voor finance", "visibility": "local"},
    )  # fmt: skip
    assert status == 200, body
    assert body["visibility"] == "public" and body["local_only"] is True
    await settle(pair.finance, pair.hr)
    async with pair.hr.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Status)) == 0
    status, _ = await raw(pair.finance, "GET", f"/api/v1/statuses/{body['id']}")
    assert status == 404  # anonymous readers are not this node's people


async def test_entity_shapes(pair: Pair) -> None:
    bob_id = await _follow(pair)
    bob = client(pair.hr, pair.bob_token)
    post = await call(
        bob.status_post, "Zie @alice@" + pair.finance.domain + " #hr", spoiler_text="cw"
    )
    await settle(pair.finance, pair.hr)
    alice = client(pair.finance, pair.alice_token)
    (seen,) = await call(alice.timeline_home)
    await call(alice.status_favourite, seen.id)
    await call(alice.status_reblog, seen.id)
    token = pair.alice_token

    async def get(path: str, tok: str | None = token, node: Any = pair.finance) -> Any:
        status, body = await raw(node, "GET", path, tok)
        assert status == 200, (path, body)
        return body

    check("Account", await get(f"/api/v1/accounts/{bob_id}"))
    credential = await get("/api/v1/accounts/verify_credentials")
    check("Account", credential)
    check("CredentialAccountSource", credential["source"])
    check("Role", credential["role"])
    for entity in await get(f"/api/v1/accounts/relationships?id[]={bob_id}"):
        check("Relationship", entity)
    home = await get("/api/v1/timelines/home")
    assert home[0]["reblog"] is not None
    for entity in home:
        check("Status", entity)
        for flag in ("favourited", "reblogged", "bookmarked", "muted", "pinned"):
            assert isinstance(entity[flag], bool)
    original = home[0]["reblog"]
    assert original["mentions"][0]["url"] in original["content"]  # clients map clicks by URL
    check("Context", await get(f"/api/v1/statuses/{seen.id}/context"))
    for entity in await get(f"/api/v1/statuses/{seen.id}/history"):
        check("StatusEdit", entity)
    for entity in await get("/api/v1/notifications", pair.bob_token, pair.hr):
        check("Notification", entity)
    source = await get(f"/api/v1/statuses/{post.id}/source", pair.bob_token, pair.hr)
    check("StatusSource", source)
    anonymous = await get(f"/api/v1/statuses/{seen.id}", None)
    check("Status", anonymous)
    assert "favourited" not in anonymous


async def test_error_answers(pair: Pair) -> None:
    node = pair.finance
    async with node.ctx.sessions() as session, session.begin():
        me = await session.get(Account, pair.alice.id)
        assert me is not None
        read_only = await issue_token(session, me, "read")
    alice = client(node, pair.alice_token)
    post = await call(alice.status_post, "Hallo", visibility="private")

    with pytest.raises(MastodonUnauthorizedError):
        await call(client(node, "not-a-token").timeline_home)
    with pytest.raises(MastodonAPIError) as refused:
        await call(client(node, read_only).status_post, "Mag niet")
    assert refused.value.args[1] == 403
    with pytest.raises(MastodonNotFoundError):
        await call(alice.status, 12345)
    with pytest.raises(MastodonAPIError) as invalid:
        await call(alice.status_reblog, post.id)  # followers-only: never boosted (SECURITY row 12)
    assert invalid.value.args[1] == 422

    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/api/v1/timelines/home", {}, 401),
        ("GET", "/api/v1/statuses/abc", {}, 404),
        ("GET", "/api/v1/accounts/99999999999999999999999", {}, 404),
        ("GET", "/api/v1/timelines/home?limit=many", {"auth": True}, 422),
        ("GET", "/api/v1/timelines/home?max_id=x", {"auth": True}, 422),
        ("GET", "/api/v1/timelines/public?local=perhaps", {}, 422),
        ("POST", "/api/v1/statuses", {"auth": True, "data": {"status": ""}}, 422),
        (
            "POST",
            "/api/v1/statuses",
            {"auth": True, "data": {"status": "x", "visibility": "x"}},
            422,
        ),
        (
            "POST",
            "/api/v1/statuses",
            {"auth": True, "data": {"status": "x", "sensitive": "2"}},
            422,
        ),
        (
            "POST",
            "/api/v1/statuses",
            {"auth": True, "data": {"status": "x", "in_reply_to_id": "a"}},
            422,
        ),
        (
            "POST",
            "/api/v1/statuses",
            {"auth": True, "data": {"status": "x", "in_reply_to_id": "1"}},
            404,
        ),
        ("POST", "/api/v1/statuses", {"auth": True, "data": {"status": "x" * 6000}}, 422),
        (
            "POST",
            "/api/v1/statuses",
            {"auth": True, "data": "{", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("GET", "/api/v1/accounts/lookup?acct=", {}, 422),
        ("GET", "/api/v1/accounts/lookup?acct=nobody", {}, 404),
        ("GET", "/api/v1/accounts/lookup?acct=x@elsewhere.example", {}, 404),
        ("GET", "/api/v1/accounts/relationships?id[]=x", {"auth": True}, 422),
        ("GET", "/api/v1/notifications?account_id=x", {"auth": True}, 422),
        ("POST", "/api/v1/notifications/1/dismiss", {"auth": True}, 404),
        ("POST", f"/api/v1/accounts/{pair.alice.id}/follow", {"auth": True}, 422),
        ("PUT", f"/api/v1/statuses/{post.id}", {"auth": True, "data": {"status": ""}}, 422),
    ]
    for method, path, options, expected in cases:
        token = pair.alice_token if options.pop("auth", False) else None
        status, body = await raw(node, method, path, token, **options)
        assert status == expected, (method, path, status, body)
        assert isinstance(body, dict) and isinstance(body.get("error"), str), (path, body)
