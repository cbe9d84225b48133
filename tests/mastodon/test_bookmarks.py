"""Bookmarks, favourites, pins, mutes and blocks through Mastodon.py (PROTOCOL.md C6, C19–C21, C35)."""

from __future__ import annotations

import json

import pytest
from mastodon import MastodonAPIError

from tests.mastodon.conftest import Pair, call, client, raw
from tests.mastodon.shapes import check


async def test_bookmarks_and_favourites_page_through_link(pair: Pair) -> None:
    finance = pair.finance
    _carol, carol_token = await finance.user("carol")
    alice = client(finance, pair.alice_token)
    carol = client(finance, carol_token)
    posts = [await call(carol.status_post, f"Notitie {i}") for i in range(3)]
    # Marked in another order than posted: the lists follow the marks, newest first.
    for post in (posts[1], posts[0], posts[2]):
        marked = await call(alice.status_bookmark, post.id)
        assert marked.bookmarked and not marked.favourited
        await call(alice.status_favourite, post.id)
    status, body = await raw(finance, "GET", f"/api/v1/statuses/{posts[0].id}", pair.alice_token)
    assert status == 200 and body["bookmarked"] and body["favourited"] and not body["pinned"]
    check("Status", body)
    for listing in (alice.bookmarks, alice.favourites):
        first = await call(listing, limit=2)
        assert [s.id for s in first] == [posts[2].id, posts[0].id]
        rest = await call(alice.fetch_next, first)
        assert rest is not None and [s.id for s in rest] == [posts[1].id]
        back = await call(alice.fetch_previous, rest)
        assert back is not None and [s.id for s in back] == [posts[2].id, posts[0].id]
    unmarked = await call(alice.status_unbookmark, posts[2].id)
    assert not unmarked.bookmarked
    assert [s.id for s in await call(alice.bookmarks)] == [posts[0].id, posts[1].id]
    # Someone else's bookmarks are their own.
    assert await call(carol.bookmarks) == []


async def test_pin_own_public_posts_shows_in_featured(pair: Pair) -> None:
    finance = pair.finance
    _carol, carol_token = await finance.user("carol")
    alice = client(finance, pair.alice_token)
    post = await call(alice.status_post, "Lees dit eerst")
    hidden = await call(alice.status_post, "Alleen volgers", visibility="private")
    other = await call(client(finance, carol_token).status_post, "Van carol")

    pinned = await call(alice.status_pin, post.id)
    assert pinned.pinned
    for refused in (hidden.id, other.id):
        with pytest.raises(MastodonAPIError):
            await call(alice.status_pin, refused)
    shown = await call(alice.account_statuses, pair.alice.id, pinned=True)
    assert [s.id for s in shown] == [post.id]

    status, body = await raw(finance, "GET", "/users/alice/collections/featured")
    featured = json.loads(body)  # application/activity+json
    assert status == 200 and featured["totalItems"] == 1
    (note,) = featured["orderedItems"]
    assert (note["type"], note["id"]) == ("Note", post.uri)

    assert not (await call(alice.status_unpin, post.id)).pinned
    status, body = await raw(finance, "GET", "/users/alice/collections/featured")
    assert status == 200 and json.loads(body)["orderedItems"] == []


async def test_mute_hides_from_home_and_lists(pair: Pair) -> None:
    finance = pair.finance
    carol_account, carol_token = await finance.user("carol")
    dave_account, _dave_token = await finance.user("dave")
    alice = client(finance, pair.alice_token)
    await call(alice.account_follow, carol_account.id)
    post = await call(client(finance, carol_token).status_post, "Koffie in de kantine")
    assert post.id in {s.id for s in await call(alice.timeline_home)}

    muted = await call(alice.account_mute, carol_account.id)
    assert muted.muting and muted.following
    assert post.id not in {s.id for s in await call(alice.timeline_home)}
    (relationship,) = await call(alice.account_relationships, [carol_account.id])
    assert relationship.muting
    await call(alice.account_block, dave_account.id)
    status, mutes = await raw(finance, "GET", "/api/v1/mutes", pair.alice_token)
    assert status == 200 and [a["username"] for a in mutes] == ["carol"]
    check("Account", mutes[0])
    assert [a.username for a in await call(alice.blocks)] == ["dave"]

    assert not (await call(alice.account_unmute, carol_account.id)).muting
    assert post.id in {s.id for s in await call(alice.timeline_home)}
    assert await call(alice.mutes) == []
