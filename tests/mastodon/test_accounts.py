"""Accounts through Mastodon.py: credentials, lookup by handle, posts, followers, relationships,
follow and block (PROTOCOL.md C6, C19, C34, C38)."""

from __future__ import annotations

import pytest
from mastodon import MastodonNotFoundError

from tests.mastodon.conftest import Pair, call, client, raw, settle


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
