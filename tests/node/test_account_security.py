"""Two-factor, reset links, notification opt-outs and the data archive, through the node's services.

The pages that drive these over HTTP are tested in ``tests/web/test_settings_pages.py``; here
the rules themselves: a code works once, a link works once and not after a day, a kind turned
off is never created (whoever causes it), and the archive holds what it says.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from node.auth.password_changes import (
    PasswordChangeError,
    change_password,
    complete_reset,
    find_reset,
    issue_reset,
)
from node.auth.passwords import verify_password
from node.auth.tokens import authenticate
from node.auth.totp import STEP_SECONDS, totp
from node.auth.two_factor import (
    TwoFactorError,
    begin_setup,
    check_code,
    confirm_setup,
    disable,
    is_enabled,
    state_of,
)
from node.db.models import Account, Notification, PasswordReset
from node.services.archive import MediaFile, write_archive
from node.services.preferences import PreferenceError, set_notifications_off
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import raw

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse"
NOW = 1_900_000_000.0


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node("finance", "127.0.0.2")


async def test_two_factor_lifecycle(node: Node) -> None:
    alice, _ = await node.user("alice", password=PASSWORD)
    sessions = node.ctx.sessions
    async with sessions() as session, session.begin():
        secret = await begin_setup(session, alice.id)
    # A wrong code switches nothing on.
    async with sessions() as session:
        with pytest.raises(TwoFactorError):
            async with session.begin():
                await confirm_setup(session, alice.id, "000000", at=NOW)
        assert not await is_enabled(session, alice.id)
        assert (await state_of(session, alice.id)).pending_secret == secret
    async with sessions() as session, session.begin():
        codes = await confirm_setup(session, alice.id, totp(secret, at=NOW), at=NOW)
    assert len(codes) == 10 and len(set(codes)) == 10
    async with sessions() as session, session.begin():
        state = await state_of(session, alice.id)
        assert state.enabled and state.pending_secret is None and state.recovery_codes_left == 10
        # The code that confirmed the set-up cannot sign in (replay), the next one can, once.
        assert not await check_code(session, alice.id, totp(secret, at=NOW), at=NOW)
        later = NOW + STEP_SECONDS
        assert await check_code(session, alice.id, totp(secret, at=later), at=later)
        assert not await check_code(session, alice.id, totp(secret, at=later), at=later)
        # A recovery code works once, typed in any case and with or without dashes.
        assert await check_code(session, alice.id, codes[0].upper().replace("-", ""), at=later)
        assert not await check_code(session, alice.id, codes[0], at=later)
        assert (await state_of(session, alice.id)).recovery_codes_left == 9
        with pytest.raises(TwoFactorError):
            await begin_setup(session, alice.id)  # already on: a new secret would lock them out
    async with sessions() as session:
        with pytest.raises(TwoFactorError):
            async with session.begin():
                await disable(session, alice.id, "123456", at=NOW + 10 * STEP_SECONDS)
        assert await is_enabled(session, alice.id)
    async with sessions() as session, session.begin():
        await disable(session, alice.id, codes[1], at=NOW)
    async with sessions() as session:
        assert not await is_enabled(session, alice.id)
        assert not await check_code(session, alice.id, codes[2], at=NOW)


async def test_reset_link_works_once_and_ends_every_sign_in(node: Node) -> None:
    alice, token = await node.user("alice", password=PASSWORD)
    sessions = node.ctx.sessions
    async with sessions() as session, session.begin():
        first = await issue_reset(session, alice)
        second = await issue_reset(session, alice)
        # Only the digest is stored.
        digests = set(await session.scalars(select(PasswordReset.digest)))
        assert first not in digests and second not in digests and len(digests) == 2
        assert await find_reset(session, first) is None  # a newer link voids the older one
        assert (await find_reset(session, second)) is not None
    async with sessions() as session:
        with pytest.raises(PasswordChangeError) as mismatch:
            async with session.begin():
                await complete_reset(session, second, NEW_PASSWORD, NEW_PASSWORD + "x")
        assert mismatch.value.field == "confirmation"
        with pytest.raises(PasswordChangeError) as short:
            async with session.begin():
                await complete_reset(session, second, "kort", "kort")
        assert short.value.field == "password"
    async with sessions() as session:
        assert await find_reset(session, second) is not None  # still usable after a bad try
    async with sessions() as session, session.begin():
        assert await complete_reset(session, second, NEW_PASSWORD, NEW_PASSWORD) == alice.id
    async with sessions() as session:
        account = await session.get(Account, alice.id)
        assert account is not None and verify_password(account.password_hash, NEW_PASSWORD)
        assert await authenticate(session, token) is None  # the app token was revoked
    async with sessions() as session:
        with pytest.raises(PasswordChangeError):
            async with session.begin():
                await complete_reset(session, second, PASSWORD, PASSWORD)
        account = await session.get(Account, alice.id)
        assert account is not None and verify_password(account.password_hash, NEW_PASSWORD)


async def test_reset_link_expires_after_a_day(node: Node) -> None:
    alice, _ = await node.user("alice", password=PASSWORD)
    async with node.ctx.sessions() as session, session.begin():
        link = await issue_reset(session, alice, now=datetime.now(UTC) - timedelta(hours=25))
        assert await find_reset(session, link) is None
        with pytest.raises(PasswordChangeError):
            await complete_reset(session, link, NEW_PASSWORD, NEW_PASSWORD)


async def test_change_password_needs_the_current_one(node: Node) -> None:
    alice, token = await node.user("alice", password=PASSWORD)
    async with node.ctx.sessions() as session:
        with pytest.raises(PasswordChangeError) as wrong:
            async with session.begin():
                await change_password(
                    session, alice.id, "not it at all", NEW_PASSWORD, NEW_PASSWORD
                )
        assert wrong.value.field == "current"
    async with node.ctx.sessions() as session:
        assert await authenticate(session, token) is not None
    async with node.ctx.sessions() as session, session.begin():
        await change_password(session, alice.id, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    async with node.ctx.sessions() as session:
        assert await authenticate(session, token) is None


async def test_a_kind_turned_off_is_never_created(node: Node) -> None:
    alice, alice_token = await node.user("alice", password=PASSWORD)
    _, bob_token = await node.user("bob", password=PASSWORD)
    async with node.ctx.sessions() as session:
        with pytest.raises(PreferenceError):
            async with session.begin():
                await set_notifications_off(session, alice.id, ["favourite", "poke"])
    async with node.ctx.sessions() as session, session.begin():
        await set_notifications_off(session, alice.id, ["favourite"])
    status, post = await raw(
        node, "POST", "/api/v1/statuses", alice_token, json={"status": "Koffie?"}
    )
    assert status == 200, post
    status, _ = await raw(node, "POST", f"/api/v1/statuses/{post['id']}/favourite", bob_token)
    assert status == 200
    status, _ = await raw(
        node, "POST", "/api/v1/statuses", bob_token, json={"status": "@alice ja graag"}
    )
    assert status == 200
    async with node.ctx.sessions() as session:
        kinds = list(
            await session.scalars(
                select(Notification.type).where(Notification.account_id == alice.id)
            )
        )
    assert kinds == ["mention"]


async def test_archive_holds_posts_follows_bookmarks_and_media(node: Node, tmp_path: Path) -> None:
    alice, alice_token = await node.user("alice", password=PASSWORD)
    bob, bob_token = await node.user("bob", password=PASSWORD)
    status, _ = await raw(node, "POST", f"/api/v1/accounts/{bob.id}/follow", alice_token)
    assert status == 200
    status, _ = await raw(node, "POST", f"/api/v1/accounts/{alice.id}/follow", bob_token)
    assert status == 200
    _, mine = await raw(
        node, "POST", "/api/v1/statuses", alice_token, json={"status": "Hallo #kantine"}
    )
    _, private = await raw(
        node,
        "POST",
        "/api/v1/statuses",
        alice_token,
        json={"status": "alleen volgers", "visibility": "private"},
    )
    _, theirs = await raw(node, "POST", "/api/v1/statuses", bob_token, json={"status": "Van Bob"})
    for action in ("bookmark", "favourite", "reblog"):
        status, _ = await raw(
            node, "POST", f"/api/v1/statuses/{theirs['id']}/{action}", alice_token
        )
        assert status == 200, action
    picture = tmp_path / "abc.png"
    picture.write_bytes(b"\x89PNG fake")
    out = io.BytesIO()
    async with node.ctx.sessions() as session:
        account = await session.get(Account, alice.id)
        assert account is not None
        await write_archive(
            session,
            account,
            node.ctx.urls,
            out,
            media=[MediaFile("../../abc.png", picture), MediaFile("gone.png", tmp_path / "x")],
        )
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    assert sorted(archive.namelist()) == [
        "actor.json",
        "bookmarks.csv",
        "bookmarks.json",
        "followers.csv",
        "following_accounts.csv",
        "likes.json",
        "media/abc.png",
        "outbox.json",
    ]
    outbox = json.loads(archive.read("outbox.json"))
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 3
    kinds = [
        (item["type"], item["object"] if item["type"] == "Announce" else item["object"]["id"])
        for item in outbox["orderedItems"]
    ]
    assert kinds == [
        ("Create", mine["uri"]),
        ("Create", private["uri"]),
        ("Announce", theirs["uri"]),
    ]
    create = outbox["orderedItems"][0]
    assert create["actor"] == alice.uri and create["object"]["attributedTo"] == alice.uri
    assert {"type": "Hashtag", "href": node.ctx.urls.tag("kantine"), "name": "#kantine"} in create[
        "object"
    ]["tag"]
    handle = f"bob@{node.ctx.domain}"
    following = list(csv.reader(io.StringIO(archive.read("following_accounts.csv").decode())))
    assert following == [
        ["Account address", "Show boosts", "Notify on new posts", "Languages"],
        [handle, "true", "false", ""],
    ]
    followers = list(csv.reader(io.StringIO(archive.read("followers.csv").decode())))
    assert followers == [["Account address"], [handle]]
    assert archive.read("bookmarks.csv").decode() == theirs["uri"] + "\n"
    assert json.loads(archive.read("likes.json"))["orderedItems"] == [theirs["uri"]]
    assert json.loads(archive.read("actor.json"))["id"] == alice.uri
    assert archive.read("media/abc.png") == b"\x89PNG fake"
