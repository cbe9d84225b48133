"""A locked account's follow requests across nodes, profile edits that federate, and read
markers, through Mastodon.py (PROTOCOL.md C19, C28, C34; A5, A8, A9; SECURITY.md row 10)."""

from __future__ import annotations

import asyncio

import pytest
from mastodon import MastodonNotFoundError

from node.db.models import Marker
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.shapes import check


async def test_locked_account_authorizes_and_rejects_remote_followers(pair: Pair) -> None:
    finance, hr = pair.finance, pair.hr
    _dave, dave_token = await finance.user("dave")
    bob = client(hr, pair.bob_token)
    locked = await call(bob.account_update_credentials, locked=True)
    assert locked.locked
    alice = client(finance, pair.alice_token)
    dave = client(finance, dave_token)
    bob_there = await call(alice.account_lookup, f"bob@{hr.domain}")
    for follower in (alice, dave):
        assert (await call(follower.account_follow, bob_there.id)).requested
    await settle(finance, hr)
    (waiting,) = await call(alice.account_relationships, [bob_there.id])
    assert waiting.requested and not waiting.following  # not accepted by hr yet

    status, requests = await raw(hr, "GET", "/api/v1/follow_requests", pair.bob_token)
    assert status == 200
    assert [a["acct"] for a in requests] == [f"dave@{finance.domain}", f"alice@{finance.domain}"]
    check("Account", requests[0])
    assert (await call(bob.account_verify_credentials)).source.follow_requests_count == 2
    alice_here, dave_here = requests[1]["id"], requests[0]["id"]

    accepted = await call(bob.follow_request_authorize, alice_here)
    assert accepted.followed_by and not accepted.requested_by
    rejected = await call(bob.follow_request_reject, dave_here)
    assert not rejected.followed_by and not rejected.requested_by
    with pytest.raises(MastodonNotFoundError):
        await call(bob.follow_request_authorize, dave_here)  # nothing pending any more
    assert await call(bob.follow_requests) == []
    await settle(finance, hr)

    (now,) = await call(alice.account_relationships, [bob_there.id])
    assert now.following and not now.requested
    (turned_away,) = await call(dave.account_relationships, [bob_there.id])
    assert not turned_away.following and not turned_away.requested


async def test_profile_update_federates_to_followers(pair: Pair) -> None:
    finance, hr = pair.finance, pair.hr
    alice = client(finance, pair.alice_token)
    bob = client(hr, pair.bob_token)
    bob_there = await call(alice.account_lookup, f"bob@{hr.domain}")
    await call(alice.account_follow, bob_there.id)
    await settle(finance, hr)

    me = await call(
        bob.account_update_credentials,
        display_name="Bob de Vries",
        note="Personeelszaken.\n\nVragen? Bel <1234>",
        bot=False,
        discoverable=True,
        fields=[("Afdeling", "HR"), ("Kamer", "3.14 & 3.15")],
    )
    assert me.display_name == "Bob de Vries"
    assert me.note == "<p>Personeelszaken.</p><p>Vragen? Bel &lt;1234&gt;</p>"
    assert me.source.note == "Personeelszaken.\nVragen? Bel <1234>"
    assert [(f.name, f.value) for f in me.fields] == [
        ("Afdeling", "HR"),
        ("Kamer", "3.14 &amp; 3.15"),
    ]
    status, raw_me = await raw(hr, "GET", "/api/v1/accounts/verify_credentials", pair.bob_token)
    assert status == 200
    check("Account", raw_me)

    await settle(finance, hr)
    seen = await call(alice.account, bob_there.id)
    assert seen.display_name == "Bob de Vries"
    assert "Personeelszaken" in seen.note
    assert [f.name for f in seen.fields] == ["Afdeling", "Kamer"]

    status, body = await raw(
        hr, "PATCH", "/api/v1/accounts/update_credentials", pair.bob_token,
        data={"display_name": "x" * 101},
    )  # fmt: skip
    assert status == 422 and "error" in body


async def test_markers_saved_and_versioned(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    post = await call(alice.status_post, "Gelezen")
    assert await call(alice.markers_get, ["home", "notifications"]) == {}
    saved = await call(alice.markers_set, ["home"], [post.id])
    assert saved.home.last_read_id == str(post.id) and saved.home.version == 1
    await call(alice.markers_set, ["home", "notifications"], [post.id, post.id])
    both = await call(alice.markers_get, ["home", "notifications"])
    assert (both.home.version, both.notifications.version) == (2, 1)
    status, body = await raw(
        pair.finance, "GET", "/api/v1/markers?timeline[]=home", pair.alice_token
    )
    assert status == 200 and set(body) == {"home"}
    check("Marker", body["home"])
    status, _ = await raw(
        pair.finance, "POST", "/api/v1/markers", pair.alice_token,
        data={"home[last_read_id]": "abc"},
    )  # fmt: skip
    assert status == 422


async def test_concurrent_first_marker_is_a_conflict(pair: Pair, db_kind: str) -> None:
    """Two apps saving the first marker at once: the second gets Mastodon's 409, not a 500,
    and the marker that won stays as it was (C28)."""
    if db_kind != "postgresql":
        pytest.skip("SQLite runs one writer at a time: two saves cannot race")
    node = pair.finance
    async with node.ctx.sessions() as session, session.begin():
        # The other app's save, still open while ours arrives.
        session.add(Marker(account_id=pair.alice.id, timeline="home", last_read_id="7", version=1))
        await session.flush()
        ours = asyncio.create_task(
            raw(node, "POST", "/api/v1/markers", pair.alice_token, data={"home[last_read_id]": "9"})
        )
        await asyncio.sleep(0.5)
    status, body = await ours
    assert (status, body) == (409, {"error": "Conflict during update, please try again"})
    async with node.ctx.sessions() as session:
        marker = await session.get(Marker, (pair.alice.id, "home"))
    assert marker is not None and (marker.last_read_id, marker.version) == ("7", 1)
    # Tried again, it is saved.
    status, body = await raw(
        node, "POST", "/api/v1/markers", pair.alice_token, data={"home[last_read_id]": "9"}
    )
    assert status == 200 and body["home"]["last_read_id"] == "9" and body["home"]["version"] == 2
