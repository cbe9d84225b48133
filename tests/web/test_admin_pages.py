"""The admin pages over HTTP (issue 6; SECURITY.md rows 20, 22; ASVS 4.1.1, 4.2.2).

Only admins get in: anyone else gets 403 on every page and every form, and nothing changes.
Each form is driven with bad input (422, the message beside its field, nothing saved), a
forged CSRF token (403, nothing saved) and the good case.
"""

from __future__ import annotations

import asyncio
import re
import sys
from html import unescape
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, update

from node.appkeys import SETTINGS
from node.auth.tokens import issue_token
from node.auth.totp import totp
from node.auth.two_factor import begin_setup, confirm_setup, is_enabled
from node.db.models import Account, Delivery, OutboxActivity, Peer, SiteLink
from node.federation.delivery import now_utc
from node.ids import new_id
from node.services.site import get_links
from tests.conftest import Node
from tests.mastodon.conftest import raw
from tests.mastodon.oauth_rig import register
from tests.web.conftest import PASSWORD, Browser, BrowserFactory, csrf_of, password_grant
from tests.web.test_settings_pages import account, field_error, first

NEW_PASSWORD = "a brand new passphrase"
ADMIN_PAGES = ("/admin/users", "/admin/federation", "/admin/moderation", "/admin/node")


@pytest.fixture
async def admin(node: Node, alice: Browser) -> Browser:
    """Alice, signed in, made an admin."""
    async with node.ctx.sessions() as session, session.begin():
        await session.execute(
            update(Account).where(Account.username == "alice").values(role="admin")
        )
    return alice


async def _count(node: Node, table: type[Account] | type[Peer] | type[SiteLink]) -> int:
    async with node.ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_admin_pages_are_for_admins_only(
    node: Node, admin: Browser, browser_factory: BrowserFactory
) -> None:
    for path in ADMIN_PAGES:
        html = await admin.page(path)
        assert f'href="{path}" aria-current="page"' in html
    bob = await browser_factory(node)
    assert (await bob.login("bob")).status == 303
    for path in (*ADMIN_PAGES, "/admin"):
        status, _ = await bob.get(path)
        assert status == 403, path
    # Bob's forms carry his own valid CSRF token, and still change nothing.
    token = csrf_of(await bob.page("/settings/profile"))
    carol_before = await _count(node, Account)
    alice = await account(node, "alice")
    attempts = [
        ("/admin/users", {"username": "carol", "role": "admin", "password": NEW_PASSWORD}),
        (f"/admin/users/{alice.id}/suspend", {}),
        (f"/admin/users/{alice.id}/role", {"role": "member"}),
        (f"/admin/users/{alice.id}/reset-link", {}),
        (f"/admin/users/{alice.id}/two-factor/remove", {}),
        ("/admin/federation/peers", {"host": "evil.example", "decision": "allow"}),
        ("/admin/federation/retry", {"host": "evil.example"}),
        ("/admin/node", {"description": "pwned", "link_label": "x", "link_url": "https://x.example"}),
    ]  # fmt: skip
    for path, data in attempts:
        response = await bob.post(path, data, csrf=token)
        assert response.status == 403, path
    assert await _count(node, Account) == carol_before
    assert await _count(node, Peer) == 0 and await _count(node, SiteLink) == 0
    after = await account(node, "alice")
    assert after.role == "admin" and after.suspended_at is None
    status, instance = await raw(node, "GET", "/api/v1/instance")
    assert status == 200 and instance["description"] != "pwned"


async def test_create_user_form(node: Node, admin: Browser) -> None:
    token = csrf_of(await admin.page("/admin/users"))
    before = await _count(node, Account)
    cases = [
        ({"username": "", "role": "member"}, "username", "Enter a user name."),
        ({"username": "Bad Name!", "role": "member"}, "username", "Use 1 to 30 characters: a–z, 0–9 and _."),
        ({"username": "bob", "role": "member"}, "username", "That user name is taken."),
        ({"username": "carol", "role": "boss"}, "role", "Choose one of the roles offered."),
        ({"username": "carol", "role": "member", "password": "kort"}, "password", "Use at least 12 characters."),
    ]  # fmt: skip
    for data, name, message in cases:
        response = await admin.post("/admin/users", data, csrf=token)
        assert response.status == 422, data
        assert field_error(await response.text(), name) == message
    forged = await admin.post(
        "/admin/users", {"username": "carol", "role": "member"}, csrf="forged"
    )
    assert forged.status == 403
    assert await _count(node, Account) == before
    ok = await admin.post(
        "/admin/users",
        {
            "username": "carol",
            "display_name": "Carol",
            "role": "moderator",
            "password": NEW_PASSWORD,
        },
        csrf=token,
    )
    assert ok.status == 303
    carol = await account(node, "carol")
    assert carol.role == "moderator" and carol.display_name == "Carol"
    assert 'id="user-carol"' in await admin.page("/admin/users")


async def test_suspend_blocks_every_way_in(
    node: Node, admin: Browser, browser_factory: BrowserFactory
) -> None:
    bob = await account(node, "bob")
    async with node.ctx.sessions() as session, session.begin():
        row = await session.get(Account, bob.id)
        assert row is not None
        bob_token = await issue_token(session, row, "read")
    bob_browser = await browser_factory(node)
    assert (await bob_browser.login("bob")).status == 303
    token = csrf_of(await admin.page("/admin/users"))
    forged = await admin.post(f"/admin/users/{bob.id}/suspend", {}, csrf="x")
    assert forged.status == 403
    assert (await account(node, "bob")).suspended_at is None
    missing = await admin.post("/admin/users/999999/suspend", {}, csrf=token)
    assert missing.status == 404
    me = await account(node, "alice")
    itself = await admin.post(f"/admin/users/{me.id}/suspend", {}, csrf=token)
    assert itself.status == 422
    assert "You cannot suspend yourself." in await itself.text()
    assert (await account(node, "alice")).suspended_at is None

    assert (await admin.post(f"/admin/users/{bob.id}/suspend", {}, csrf=token)).status == 303
    assert (await account(node, "bob")).suspended_at is not None
    # Web: the open session ended, and a new login fails.
    status, _ = await bob_browser.get("/")
    assert status == 303
    fresh = await browser_factory(node)
    assert (await fresh.login("bob")).status == 401
    # API token: 401.
    status, _ = await raw(node, "GET", "/api/v1/accounts/verify_credentials", bob_token)
    assert status == 401
    # OAuth: the login page refuses the password too.
    app = await register(node, scopes="read")
    status, body = await password_grant(node, app, "bob")
    assert status == 400 and body["error"] == "invalid_grant"
    query = (
        f"?response_type=code&client_id={app['client_id']}"
        "&redirect_uri=urn:ietf:wg:oauth:2.0:oob&scope=read"
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(node.base + "/oauth/authorize" + query) as response:
            form = await response.text()
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
        async with http.post(
            node.base + "/oauth/authorize",
            data={k: unescape(v) for k, v in hidden.items()}
            | {"username": "bob", "password": PASSWORD},
        ) as response:
            assert response.status == 401
            assert 'name="ticket"' not in await response.text()
    # The reset link is refused for a suspended person.
    refused = await admin.post(f"/admin/users/{bob.id}/reset-link", {}, csrf=token)
    assert refused.status == 422
    # Unsuspended, bob signs in again and his token works again.
    assert (await admin.post(f"/admin/users/{bob.id}/unsuspend", {}, csrf=token)).status == 303
    assert (await fresh.login("bob")).status == 303
    status, _ = await raw(node, "GET", "/api/v1/accounts/verify_credentials", bob_token)
    assert status == 200


async def test_role_and_two_factor_forms(node: Node, admin: Browser) -> None:
    bob = await account(node, "bob")
    me = await account(node, "alice")
    token = csrf_of(await admin.page("/admin/users"))
    bad = await admin.post(f"/admin/users/{bob.id}/role", {"role": "king"}, csrf=token)
    assert bad.status == 422
    assert (await account(node, "bob")).role == "member"
    forged = await admin.post(f"/admin/users/{bob.id}/role", {"role": "admin"}, csrf="x")
    assert forged.status == 403
    demote_self = await admin.post(f"/admin/users/{me.id}/role", {"role": "member"}, csrf=token)
    assert demote_self.status == 422
    assert (await account(node, "alice")).role == "admin"
    ok = await admin.post(f"/admin/users/{bob.id}/role", {"role": "communications"}, csrf=token)
    assert ok.status == 303
    assert (await account(node, "bob")).role == "communications"

    # Someone lost phone and recovery codes: the admin turns their two-factor sign-in off.
    async with node.ctx.sessions() as session, session.begin():
        secret = await begin_setup(session, bob.id)
        await confirm_setup(session, bob.id, totp(secret))
    page = await admin.page("/admin/users")
    assert f'action="/admin/users/{bob.id}/two-factor/remove"' in page
    forged = await admin.post(f"/admin/users/{bob.id}/two-factor/remove", {}, csrf="x")
    assert forged.status == 403
    async with node.ctx.sessions() as session:
        assert await is_enabled(session, bob.id)
    ok = await admin.post(f"/admin/users/{bob.id}/two-factor/remove", {}, csrf=csrf_of(page))
    assert ok.status == 303
    async with node.ctx.sessions() as session:
        assert not await is_enabled(session, bob.id)


async def _reset_through(browser: Browser, link: str, node: Node) -> None:
    path = link.removeprefix(node.base)
    page = await browser.page(path)
    assert "For bob." in page and page.count('type="password"') == 2
    token = csrf_of(page)
    mismatch = await browser.post(
        path, {"password": NEW_PASSWORD, "confirmation": "other"}, csrf=token
    )
    assert mismatch.status == 422
    assert field_error(await mismatch.text(), "confirmation") == "The two passwords differ."
    short = await browser.post(path, {"password": "kort", "confirmation": "kort"}, csrf=token)
    assert short.status == 422
    assert field_error(await short.text(), "password") == "Use at least 12 characters."
    forged = await browser.post(
        path, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}, csrf="x"
    )
    assert forged.status == 403
    done = await browser.post(
        path, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}, csrf=token
    )
    assert done.status == 200 and "Your new password is set" in await done.text()
    used = await browser.post(
        path, {"password": PASSWORD + "!", "confirmation": PASSWORD + "!"}, csrf=token
    )
    assert used.status == 404
    status, _ = await browser.get(path)
    assert status == 404


async def test_reset_link_from_the_admin_page(
    node: Node, admin: Browser, browser_factory: BrowserFactory
) -> None:
    bob = await account(node, "bob")
    bob_before = await browser_factory(node)
    assert (await bob_before.login("bob")).status == 303
    token = csrf_of(await admin.page("/admin/users"))
    forged = await admin.post(f"/admin/users/{bob.id}/reset-link", {}, csrf="x")
    assert forged.status == 403
    response = await admin.post(f"/admin/users/{bob.id}/reset-link", {}, csrf=token)
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    link = unescape(first(r'id="reset-link" class="code" value="([^"]+)"', await response.text()))
    assert link.startswith(node.base + "/password/reset/")
    visitor = await browser_factory(node)
    await _reset_through(visitor, link, node)
    status, _ = await bob_before.get("/")
    assert status == 303  # the reset ended bob's other session
    again = await browser_factory(node)
    assert (await again.login("bob")).status == 401
    assert (await again.login("bob", NEW_PASSWORD)).status == 303


async def test_reset_link_from_the_command_line(
    node: Node, browser_factory: BrowserFactory, tmp_path: Path, db_kind: str
) -> None:
    """``kantine users reset-link NAME`` prints a link the node's page accepts."""
    settings = node.app[SETTINGS]
    config = tmp_path / "node.toml"
    config.write_text(
        f"""
[node]
domain = "{node.domain}"
base_url = "{node.base}"
name = "web"

[database]
url = "{settings.database_url}"

[federation]
allow_http = true
""",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "node.cli", "users", "reset-link", "bob", "--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err
    link = out.decode().strip()
    assert re.fullmatch(re.escape(node.base) + r"/password/reset/[A-Za-z0-9_-]{40,}", link), link
    assert "24 hours" in err.decode()
    await _reset_through(await browser_factory(node), link, node)
    nobody = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "node.cli", "users", "reset-link", "nobody", "--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(nobody.communicate(), timeout=60)
    assert nobody.returncode == 1 and out == b"" and "no user 'nobody'" in err.decode()


async def test_federation_allowlist_form(node: Node, admin: Browser) -> None:
    token = csrf_of(await admin.page("/admin/federation"))
    for data, name in (
        ({"host": "", "decision": "allow"}, "host"),
        ({"host": "not a host/x", "decision": "allow"}, "host"),
        ({"host": node.domain, "decision": "allow"}, "host"),
        ({"host": "hr.example.org", "decision": "maybe"}, "decision"),
    ):
        response = await admin.post("/admin/federation/peers", data, csrf=token)
        assert response.status == 422, data
        assert field_error(await response.text(), name)
    forged = await admin.post(
        "/admin/federation/peers", {"host": "hr.example.org", "decision": "allow"}, csrf="x"
    )
    assert forged.status == 403
    assert await _count(node, Peer) == 0
    assert not node.ctx.policy.allows("hr.example.org")
    ok = await admin.post(
        "/admin/federation/peers",
        {"host": "https://HR.example.org/", "decision": "allow"},
        csrf=token,
    )
    assert ok.status == 303
    assert node.ctx.policy.allows("hr.example.org")  # applied at once, by the CLI's code
    page = await admin.page("/admin/federation")
    assert "<code>hr.example.org</code>" in page
    deny = await admin.post(
        "/admin/federation/peers", {"host": "hr.example.org", "decision": "deny"}, csrf=token
    )
    assert deny.status == 303 and not node.ctx.policy.allows("hr.example.org")
    forged_remove = await admin.post(
        "/admin/federation/peers/remove", {"host": "hr.example.org"}, csrf="x"
    )
    assert forged_remove.status == 403 and await _count(node, Peer) == 1
    removed = await admin.post(
        "/admin/federation/peers/remove", {"host": "hr.example.org"}, csrf=token
    )
    assert removed.status == 303 and await _count(node, Peer) == 0


async def test_deliveries_and_retry_now(node: Node, admin: Browser) -> None:
    alice = await account(node, "alice")
    later = now_utc().replace(year=now_utc().year + 1)
    async with node.ctx.sessions() as session, session.begin():
        activity = OutboxActivity(
            id=new_id(),
            uri=f"{alice.uri}/activities/1",
            account_id=alice.id,
            type="Create",
            body="{}",
        )
        session.add(activity)
        await session.flush()
        session.add_all(
            [
                Delivery(
                    id=new_id(),
                    activity_id=activity.id,
                    inbox_url="http://hr.test/inbox",
                    host="hr.test",
                    state="pending",
                    attempts=3,
                    next_attempt_at=later,
                    last_error="connection refused",
                ),
                Delivery(
                    id=new_id(),
                    activity_id=activity.id,
                    inbox_url="http://hr.test/users/bob/inbox",
                    host="hr.test",
                    state="failed",
                    attempts=16,
                    last_error="gave up after 16 tries",
                ),
            ]
        )
    page = await admin.page("/admin/federation")
    row = first(r'(<th scope="row"><code>hr\.test</code>.*?</tr>)', page.replace("\n", " "))
    assert "<td>1" in row and "<td>1</td>" in row and "connection refused" in row
    token = csrf_of(page)
    forged = await admin.post("/admin/federation/retry", {"host": "hr.test"}, csrf="x")
    assert forged.status == 403
    async with node.ctx.sessions() as session:
        states = sorted(await session.scalars(select(Delivery.state)))
    assert states == ["failed", "pending"]
    ok = await admin.post("/admin/federation/retry", {"host": "hr.test"}, csrf=token)
    assert ok.status == 303
    async with node.ctx.sessions() as session:
        rows = list(await session.scalars(select(Delivery)))
    assert [r.state for r in rows] == ["pending", "pending"]
    assert all(r.next_attempt_at <= now_utc() for r in rows)


async def test_node_settings_form(node: Node, admin: Browser) -> None:
    page = await admin.page("/admin/node")
    assert page.count('name="link_url"') == 3
    token = csrf_of(page)
    bad_link = await admin.http.post(
        admin.url("/admin/node"),
        data=[
            ("csrf_token", token),
            ("description", "Financiën, derde verdieping"),
            ("link_label", "Rooster"),
            ("link_url", "https://rooster.example/"),
            ("link_description", ""),
            ("link_label", "Evil"),
            ("link_url", "javascript:alert(1)"),
            ("link_description", ""),
        ],
        allow_redirects=False,
    )
    assert bad_link.status == 422
    html = await bad_link.text()
    assert field_error(html, "link-2") == "Enter a web address starting with https:// or http://."
    assert 'value="Rooster"' in html  # what was typed comes back
    too_long = await admin.post("/admin/node", {"description": "x" * 2001}, csrf=token)
    assert too_long.status == 422 and field_error(await too_long.text(), "description")
    forged = await admin.post(
        "/admin/node",
        {"description": "pwned", "link_label": "x", "link_url": "https://x.example"},
        csrf="x",
    )
    assert forged.status == 403
    assert await _count(node, SiteLink) == 0
    _, instance = await raw(node, "GET", "/api/v2/instance")
    assert instance["description"] == ""
    ok = await admin.http.post(
        admin.url("/admin/node"),
        data=[
            ("csrf_token", token),
            ("description", "Financiën, derde verdieping"),
            ("link_label", "Rooster"),
            ("link_url", "https://rooster.example/"),
            ("link_description", "Je diensten"),
            ("link_label", ""),
            ("link_url", ""),
            ("link_description", ""),
        ],
        allow_redirects=False,
    )
    assert ok.status == 303
    async with node.ctx.sessions() as session:
        links = await get_links(session)
    assert [(link.label, link.url, link.description) for link in links] == [
        ("Rooster", "https://rooster.example/", "Je diensten")
    ]
    _, instance = await raw(node, "GET", "/api/v2/instance")
    assert instance["description"] == "Financiën, derde verdieping"
    _, v1 = await raw(node, "GET", "/api/v1/instance")
    assert v1["description"] == "Financiën, derde verdieping"
    _, nodeinfo = await raw(node, "GET", "/nodeinfo/2.1")
    assert nodeinfo["metadata"]["nodeDescription"] == "Financiën, derde verdieping"
