"""Accounts through Mastodon.py: credentials, lookup by handle, posts, followers, relationships,
follow and block (PROTOCOL.md C6, C19, C34, C38)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mastodon import MastodonNotFoundError

from node.db.models import Account
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.shapes import check


async def test_profile_lookup_and_credentials(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    me = await call(alice.account_verify_credentials)
    assert (me.username, me.acct, me.source.privacy) == ("alice", "alice", "public")
    assert me.avatar.startswith(pair.finance.base)
    status, image = await raw(pair.finance, "GET", "/avatars/original/missing.png")
    assert status == 200 and image.startswith(b"\x89PNG")
    assert (await call(alice.account_lookup, "alice")).id == me.id
    assert (await call(alice.account_lookup, f"@alice@{pair.finance.domain}")).id == me.id
    assert (await call(alice.account, me.id)).username == "alice"

    # A handle on another department's node is resolved with WebFinger on first use.
    bob = await call(alice.account_lookup, f"bob@{pair.hr.domain}")
    assert bob.acct == f"bob@{pair.hr.domain}" and bob.url.startswith(pair.hr.base)
    again = await call(client(pair.finance, None).account_lookup, f"bob@{pair.hr.domain}")
    assert again.id == bob.id
    with pytest.raises(MastodonNotFoundError):
        await call(alice.account_lookup, f"nobody@{pair.hr.domain}")


async def test_follow_relationships_followers_block(pair: Pair) -> None:
    finance = pair.finance
    carol, carol_token = await finance.user("carol")
    alice = client(finance, pair.alice_token)
    carol_api = client(finance, carol_token)
    bob = await call(alice.account_lookup, f"bob@{pair.hr.domain}")

    assert (await call(carol_api.account_follow, pair.alice.id)).following  # local: at once
    first = await call(alice.account_follow, bob.id)
    assert first.requested and not first.following  # remote: until hr accepts
    await settle(finance, pair.hr)
    (to_bob, to_carol) = await call(alice.account_relationships, [bob.id, carol.id])
    assert to_bob.following and not to_bob.followed_by
    assert to_carol.followed_by and not to_carol.following

    followers = await call(alice.account_followers, pair.alice.id)
    assert [a.username for a in followers] == ["carol"]
    following = await call(alice.account_following, pair.alice.id)
    assert [a.acct for a in following] == [f"bob@{pair.hr.domain}"]
    status, _ = await raw(finance, "GET", f"/api/v1/accounts/{pair.alice.id}/followers")
    assert status == 200  # public, as on Mastodon
    me = await call(alice.account, pair.alice.id)
    assert (me.followers_count, me.following_count) == (1, 1)

    # Blocking ends the follow both ways; unblocking does not bring it back.
    blocked = await call(alice.account_block, carol.id)
    assert blocked.blocking and not blocked.followed_by
    (seen_by_carol,) = await call(carol_api.account_relationships, [pair.alice.id])
    assert seen_by_carol.blocked_by and not seen_by_carol.following
    unblocked = await call(alice.account_unblock, carol.id)
    assert not unblocked.blocking and not unblocked.followed_by

    dropped = await call(alice.account_unfollow, bob.id)
    assert not dropped.following and not dropped.requested


async def test_account_statuses_filters_and_paging(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    root = await call(alice.status_post, "Eerste")
    await call(alice.status_post, "Antwoord aan mezelf", in_reply_to_id=root.id)
    carol, carol_token = await pair.finance.user("carol")
    carol_post = await call(client(pair.finance, carol_token).status_post, "Van carol")
    reply_to_carol = await call(alice.status_post, "@carol ja", in_reply_to_id=carol_post.id)
    boost = await call(alice.status_reblog, carol_post.id)
    posts = [await call(alice.status_post, f"Bericht {i}") for i in range(3)]

    everything = await call(alice.account_statuses, pair.alice.id, limit=40)
    assert len(everything) == 7
    assert [s.id for s in everything] == sorted((s.id for s in everything), reverse=True)
    no_replies = await call(alice.account_statuses, pair.alice.id, exclude_replies=True)
    assert reply_to_carol.id not in {s.id for s in no_replies} and len(no_replies) == 6
    no_boosts = await call(alice.account_statuses, pair.alice.id, exclude_reblogs=True)
    assert boost.id not in {s.id for s in no_boosts} and len(no_boosts) == 6
    assert await call(alice.account_statuses, pair.alice.id, pinned=True) == []
    assert await call(alice.account_statuses, pair.alice.id, only_media=True) == []

    # Paging: two at a time, through max_id and the Link header Mastodon.py follows.
    page = await call(alice.account_statuses, pair.alice.id, limit=2)
    assert [s.id for s in page] == [posts[2].id, posts[1].id]
    following_page = await call(alice.fetch_next, page)
    assert following_page is not None and [s.id for s in following_page] == [posts[0].id, boost.id]
    newer = await call(alice.account_statuses, pair.alice.id, min_id=boost.id, limit=2)
    assert [s.id for s in newer] == [posts[1].id, posts[0].id]
    status, body = await raw(
        pair.finance, "GET", f"/api/v1/accounts/{pair.alice.id}/statuses?limit=500"
    )
    assert status == 200 and len(body) == 7  # clamped, not refused
    assert carol.id != pair.alice.id


async def test_familiar_followers(pair: Pair) -> None:
    """FamiliarFollowers: whom I follow that follows them too; blocks and suspensions respected."""
    finance = pair.finance
    carol, carol_token = await finance.user("carol")
    erin, erin_token = await finance.user("erin")
    frank, frank_token = await finance.user("frank")
    alice = client(finance, pair.alice_token)
    # alice follows carol and erin; carol and erin follow frank; only carol follows alice.
    for follower in (carol_token, erin_token):
        await call(client(finance, follower).account_follow, frank.id)
    await call(alice.account_follow, carol.id)
    await call(alice.account_follow, erin.id)
    await call(client(finance, frank_token).account_follow, erin.id)

    answer = await call(alice.account_familiar_followers, [frank.id, erin.id, carol.id])
    assert [str(entry.id) for entry in answer] == [str(frank.id), str(erin.id), str(carol.id)]
    assert sorted(a.username for a in answer[0].accounts) == ["carol", "erin"]
    assert answer[1].accounts == [] and answer[2].accounts == []  # frank: not followed by alice

    status, body = await raw(
        finance,
        "GET",
        f"/api/v1/accounts/familiar_followers?id[]={frank.id}&id[]=999999",
        pair.alice_token,
    )
    assert status == 200
    assert [entry["id"] for entry in body] == [str(frank.id)]  # unknown ids are left out
    for entry in body:
        check("FamiliarFollowers", entry)

    # A block either way hides the blocked account from the lists.
    await call(client(finance, erin_token).account_block, pair.alice.id)
    (entry,) = await call(alice.account_familiar_followers, frank.id)
    assert [a.username for a in entry.accounts] == ["carol"]
    # A suspended account is not listed either.
    async with finance.ctx.sessions() as session, session.begin():
        suspended = await session.get(Account, carol.id)
        assert suspended is not None
        suspended.suspended_at = datetime.now(UTC)
    (entry,) = await call(alice.account_familiar_followers, frank.id)
    assert entry.accounts == []
    # alice blocking frank: nothing is answered about frank.
    await call(alice.account_block, frank.id)
    status, body = await raw(
        finance, "GET", f"/api/v1/accounts/familiar_followers?id[]={frank.id}", pair.alice_token
    )
    assert (status, body) == (200, [])

    # Bad input and no token.
    status, body = await raw(
        finance, "GET", "/api/v1/accounts/familiar_followers?id[]=abc", pair.alice_token
    )
    assert status == 422 and "error" in body
    status, _ = await raw(finance, "GET", f"/api/v1/accounts/familiar_followers?id[]={frank.id}")
    assert status == 401
