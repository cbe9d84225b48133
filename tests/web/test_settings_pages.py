"""The settings pages over HTTP, as a browser uses them (issue 6; SECURITY.md rows 20, 21; ASVS 3.3, 4.2.2).

Every form is driven three ways: bad input (422, the message beside its field, nothing
saved), a forged or missing CSRF token (403, nothing saved), and the good case.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from html import unescape
from urllib.parse import parse_qs, urlsplit

import aiohttp
from PIL import Image
from sqlalchemy import select

from node.auth.tokens import authenticate, issue_token
from node.auth.totp import totp
from node.auth.two_factor import is_enabled
from node.db.models import (
    Account,
    AccountPreference,
    MediaAttachment,
    NotificationOptOut,
    Token,
)
from tests.conftest import Node
from tests.mastodon.conftest import raw
from tests.mastodon.oauth_rig import register
from tests.web.conftest import PASSWORD, Browser, BrowserFactory, csrf_of, password_grant

NEW_PASSWORD = "a much better passphrase"
SETTINGS_PAGES = (
    "/settings/profile",
    "/settings/password",
    "/settings/two-factor",
    "/settings/apps",
    "/settings/sessions",
    "/settings/language",
    "/settings/notifications",
    "/settings/export",
)


def field_error(html: str, name: str) -> str:
    """The error shown beside field *name* (linked to it with aria-describedby)."""
    found = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    assert re.search(rf'aria-describedby="[^"]*{name}-error', html), f"{name} is not linked to it"
    return unescape(found.group(1))


def first(pattern: str, text: str) -> str:
    """The first group of *pattern*'s first match in *text* (which must match)."""
    found = re.search(pattern, text)
    assert found, pattern
    return found.group(1)


async def account(node: Node, username: str) -> Account:
    async with node.ctx.sessions() as session:
        row = await session.scalar(select(Account).where(Account.username == username))
    assert row is not None
    return row


async def test_every_settings_page_opens_for_a_signed_in_person(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    anonymous = await browser_factory(node)
    for path in SETTINGS_PAGES:
        html = await alice.page(path)
        assert f'href="{path}" aria-current="page"' in html, path
        status, _ = await anonymous.get(path)
        assert status == 303, path  # to the login page
    status, _ = await alice.get("/settings")
    assert status == 303


async def test_profile_form(node: Node, alice: Browser, db_kind: str) -> None:
    page = await alice.page("/settings/profile")
    assert 'value="alice"' in page
    token = csrf_of(page)
    # Validation: nothing is saved, and the message sits beside its field.
    response = await alice.post(
        "/settings/profile", {"display_name": " ", "note": "x" * 2001}, csrf=token
    )
    assert response.status == 422
    html = await response.text()
    assert field_error(html, "display_name") == "Enter the name people see."
    assert field_error(html, "note") == "At most 2000 characters."
    # A forged token: 403 and nothing changes.
    forged = await alice.post(
        "/settings/profile", {"display_name": "Mallory", "note": "pwned"}, csrf="forged"
    )
    assert forged.status == 403
    assert (await account(node, "alice")).display_name == "alice"
    # The good case goes through the same service as update_credentials: Update(Person) too.
    ok = await alice.post(
        "/settings/profile",
        {"display_name": "Alice <b>Jansen</b>", "note": "Controller.\nVraag me over #budget"},
        csrf=token,
    )
    assert ok.status == 303 and ok.headers["Location"] == "/settings/profile?saved=1"
    saved = await account(node, "alice")
    assert saved.display_name == "Alice Jansen"
    assert "/tags/budget" in saved.summary and "<b>" not in saved.display_name
    html = await alice.page("/settings/profile?saved=1")
    assert "Your changes are saved." in html and "Vraag me over #budget" in html
    status, me = await raw(node, "GET", f"/api/v1/accounts/{saved.id}")
    assert status == 200 and me["display_name"] == "Alice Jansen"

    # The who-is-who fields go through the one profile service: a bad value is refused
    # beside its field and nothing of the form is saved.
    who = {
        "display_name": "Alice Jansen",
        "note": "Controller.",
        "job_title": "Controller",
        "department": "",
        "location": "Utrecht",
        "phone": "call me maybe",
        "email": "alice@finance.example",
        "expertise": "subsidies, AVG",
        "languages": "nl, en",
        "manager": "",
    }
    bad = await alice.post("/settings/profile", who, csrf=token)
    assert bad.status == 422
    html = await bad.text()
    assert field_error(html, "phone") == "Use digits, spaces and + ( ) - . / only."
    assert 'value="Utrecht"' in html  # what was typed comes back
    status, me = await raw(node, "GET", f"/api/v1/accounts/{saved.id}")
    assert me["note"] != "<p>Controller.</p>" and not any(
        f["value"] == "Utrecht" for f in me["fields"]
    )
    unknown = await alice.post(
        "/settings/profile", who | {"phone": "+31 30 123 4567", "manager": "nobody"}, csrf=token
    )
    assert unknown.status == 422 and field_error(await unknown.text(), "manager")
    ok = await alice.post(
        "/settings/profile", who | {"phone": "+31 30 123 4567", "manager": "bob"}, csrf=token
    )
    assert ok.status == 303
    html = await alice.page("/settings/profile")
    assert 'value="+31 30 123 4567"' in html and 'value="subsidies, AVG"' in html
    assert 'value="bob"' in html
    async with (
        aiohttp.ClientSession() as http,
        http.get(saved.uri, headers={"Accept": "application/activity+json"}) as response,
    ):
        actor = await response.json(content_type=None)
    assert actor["schema:telephone"] == "+31 30 123 4567"
    assert actor["schema:knowsAbout"] == ["subsidies", "AVG"]
    assert actor["org:reportsTo"]["id"].endswith("/users/bob")


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (31, 95, 139)).save(out, format="PNG")
    return out.getvalue()


async def _post_photo(
    browser: Browser, token: str, data: bytes, name: str
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("display_name", "Alice")
    form.add_field("note", "")
    form.add_field("avatar", data, filename=name, content_type="application/octet-stream")
    response = await browser.http.post(
        browser.url("/settings/profile"), data=form, allow_redirects=False
    )
    await response.read()
    return response


async def test_profile_photo(node: Node, alice: Browser, db_kind: str) -> None:
    token = csrf_of(await alice.page("/settings/profile"))
    bad = await _post_photo(alice, token, b"<svg onload=alert(1)>", "x.svg")
    assert bad.status == 422
    assert "not a picture we can use" in field_error(await bad.text(), "avatar")
    forged = await _post_photo(alice, "forged", png(), "me.png")
    assert forged.status == 403
    async with node.ctx.sessions() as session:
        assert list(await session.scalars(select(MediaAttachment))) == []
    assert (await account(node, "alice")).avatar_url is None
    ok = await _post_photo(alice, token, png(), "../../me.png")
    assert ok.status == 303
    me = await account(node, "alice")
    assert me.avatar_url is not None and me.avatar_url.startswith(node.base + "/media/")
    assert "me.png" not in me.avatar_url  # a name of ours, never the uploader's
    async with aiohttp.ClientSession() as http, http.get(me.avatar_url) as picture:
        assert picture.status == 200 and picture.content_type.startswith("image/")
    assert f'src="{me.avatar_url}"' in await alice.page("/settings/profile")
    status, entity = await raw(node, "GET", f"/api/v1/accounts/{me.id}")
    assert status == 200 and entity["avatar"] == me.avatar_url


async def test_password_form(node: Node, browser_factory: BrowserFactory, alice: Browser) -> None:
    phone = await browser_factory(node)
    assert (await phone.login("alice")).status == 303
    _, app_token = await node.user("carol", password=PASSWORD)
    alice_token = None
    async with node.ctx.sessions() as session, session.begin():
        me = await session.scalar(select(Account).where(Account.username == "alice"))
        assert me is not None
        alice_token = await issue_token(session, me, "read")
    token = csrf_of(await alice.page("/settings/password"))
    cases = [
        ({"current": "", "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}, "current"),
        ({"current": "wrong password!!", "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}, "current"),
        ({"current": PASSWORD, "password": NEW_PASSWORD, "confirmation": "something else"}, "confirmation"),
        ({"current": PASSWORD, "password": "kort", "confirmation": "kort"}, "password"),
    ]  # fmt: skip
    for data, wrong in cases:
        response = await alice.post("/settings/password", data, csrf=token)
        assert response.status == 422, data
        assert field_error(await response.text(), wrong)
    forged = await alice.post(
        "/settings/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
        csrf="",
    )
    assert forged.status == 403
    # Nothing changed so far: the old password still signs in, the phone is still signed in.
    assert "@alice" in await phone.page("/")
    ok = await alice.post(
        "/settings/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
        csrf=token,
    )
    assert ok.status == 303
    assert "@alice" in await alice.page("/settings/password")  # this browser stays in
    status, _ = await phone.get("/")
    assert status == 303  # the other session ended
    async with node.ctx.sessions() as session:
        assert await authenticate(session, alice_token) is None  # and the app's token
        assert await authenticate(session, app_token) is not None  # not someone else's
    fresh = await browser_factory(node)
    assert (await fresh.login("alice")).status == 401
    assert (await fresh.login("alice", NEW_PASSWORD)).status == 303


async def _enable_two_factor(browser: Browser) -> tuple[str, list[str]]:
    page = await browser.page("/settings/two-factor")
    setup = await browser.post("/settings/two-factor/setup", {}, csrf=csrf_of(page))
    assert setup.status == 303
    page = await browser.page("/settings/two-factor")
    assert "<svg" in page  # the QR code, drawn on the server
    uri = unescape(first(r'id="totp-uri">([^<]+)<', page))
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    secret = parse_qs(parts.query)["secret"][0]
    shown = first(r'id="totp-secret">([^<]+)<', page)
    assert shown.replace(" ", "") == secret
    confirm = await browser.post(
        "/settings/two-factor/confirm", {"code": totp(secret)}, csrf=csrf_of(page)
    )
    assert confirm.status == 200
    html = await confirm.text()
    assert confirm.headers["Cache-Control"] == "no-store"
    codes = re.findall(
        r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>", html
    )
    assert len(codes) == 10
    return secret, codes


async def test_two_factor_setup_form(node: Node, alice: Browser) -> None:
    page = await alice.page("/settings/two-factor")
    forged = await alice.post("/settings/two-factor/setup", {}, csrf="forged")
    assert forged.status == 403
    async with node.ctx.sessions() as session:
        assert (await session.get(Account, (await account(node, "alice")).id)) is not None
    setup = await alice.post("/settings/two-factor/setup", {}, csrf=csrf_of(page))
    assert setup.status == 303
    page = await alice.page("/settings/two-factor")
    token = csrf_of(page)
    empty = await alice.post("/settings/two-factor/confirm", {"code": ""}, csrf=token)
    assert empty.status == 422
    assert field_error(await empty.text(), "confirm") == "Enter the code from your app."
    wrong = await alice.post("/settings/two-factor/confirm", {"code": "000000"}, csrf=token)
    assert wrong.status == 422
    assert "That code is not right" in field_error(await wrong.text(), "confirm")
    secret = parse_qs(urlsplit(unescape(first(r'id="totp-uri">([^<]+)<', page))).query)["secret"][0]
    forged = await alice.post("/settings/two-factor/confirm", {"code": totp(secret)}, csrf="x")
    assert forged.status == 403
    me = await account(node, "alice")
    async with node.ctx.sessions() as session:
        assert not await is_enabled(session, me.id)


async def test_two_factor_login_then_disable(
    node: Node, browser_factory: BrowserFactory, alice: Browser
) -> None:
    secret, codes = await _enable_two_factor(alice)
    me = await account(node, "alice")
    # The password alone no longer opens a session: the code page comes instead.
    laptop = await browser_factory(node)
    step = await laptop.login("alice")
    assert step.status == 200 and "kantine_session" not in step.cookies
    page = await step.text()
    assert 'action="/login/code"' in page
    ticket = first(r'name="ticket" value="([^"]+)"', page)
    token = csrf_of(page)
    wrong = await laptop.post("/login/code", {"ticket": ticket, "code": "123456"}, csrf=token)
    assert wrong.status == 401 and "kantine_session" not in wrong.cookies
    assert field_error(await wrong.text(), "code") == "That code is not right."
    forged = await laptop.post(
        "/login/code", {"ticket": "forged.x", "code": totp(secret)}, csrf=token
    )
    assert forged.status == 403 and "kantine_session" not in forged.cookies
    # A ticket is bound to the browser that got it: another browser cannot use it.
    thief = await browser_factory(node)
    stolen = await thief.post(
        "/login/code",
        {"ticket": ticket, "code": totp(secret)},
        csrf=csrf_of(await thief.page("/login")),
    )
    assert stolen.status == 403 and "kantine_session" not in stolen.cookies
    # A recovery code signs in, once.
    ok = await laptop.post("/login/code", {"ticket": ticket, "code": codes[0]}, csrf=token)
    assert ok.status == 303 and "kantine_session" in ok.cookies
    assert "@alice" in await laptop.page("/")
    again = await browser_factory(node)
    page = await (await again.login("alice")).text()
    reused = await again.post(
        "/login/code",
        {"ticket": first(r'name="ticket" value="([^"]+)"', page), "code": codes[0]},
        csrf=csrf_of(page),
    )
    assert reused.status == 401
    # The OAuth password grant cannot ask for a code, so it is refused.
    app = await register(node, scopes="read")
    status, body = await password_grant(node, app, "alice")
    assert status == 400 and body["error"] == "invalid_grant"
    # Turning it off needs a code; a wrong one changes nothing.
    token = csrf_of(await alice.page("/settings/two-factor"))
    bad = await alice.post("/settings/two-factor/disable", {"code": "999999"}, csrf=token)
    assert bad.status == 422 and field_error(await bad.text(), "disable")
    forged_off = await alice.post("/settings/two-factor/disable", {"code": codes[1]}, csrf="no")
    assert forged_off.status == 403
    async with node.ctx.sessions() as session:
        assert await is_enabled(session, me.id)
    off = await alice.post("/settings/two-factor/disable", {"code": codes[1]}, csrf=token)
    assert off.status == 303
    async with node.ctx.sessions() as session:
        assert not await is_enabled(session, me.id)
    plain = await browser_factory(node)
    assert (await plain.login("alice")).status == 303


async def test_two_factor_on_the_oauth_login_page(node: Node, alice: Browser) -> None:
    secret, _ = await _enable_two_factor(alice)
    _, app = await raw(
        node,
        "POST",
        "/api/v1/apps",
        data={
            "client_name": "Tusky",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read",
        },
    )
    query = f"?response_type=code&client_id={app['client_id']}&redirect_uri=urn:ietf:wg:oauth:2.0:oob&scope=read"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:

        async def submit(page: str, extra: dict[str, str]) -> tuple[int, str]:
            hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
            async with http.post(
                node.base + "/oauth/authorize",
                data={k: unescape(v) for k, v in hidden.items()} | extra,
                allow_redirects=False,
            ) as response:
                return response.status, await response.text()

        async with http.get(node.base + "/oauth/authorize" + query) as response:
            login = await response.text()
        status, page = await submit(login, {"username": "alice", "password": PASSWORD})
        assert status == 200 and 'name="otp_ticket"' in page and 'name="ticket"' not in page
        status, wrong = await submit(page, {"code": "000000"})
        assert status == 401 and 'name="ticket"' not in wrong
        status, consent = await submit(wrong, {"code": totp(secret, at=time.time() + 30)})
        assert status == 200 and 'name="ticket"' in consent, consent[:2000]
        status, shown = await submit(consent, {"decision": "approve"})
        assert status == 200 and "Authorization code" in shown


async def test_apps_page_revokes_only_ones_own_tokens(node: Node, alice: Browser) -> None:
    me = await account(node, "alice")
    async with node.ctx.sessions() as session, session.begin():
        alice_token = await issue_token(session, me, "read", name="backup script")
    bob = await account(node, "bob")
    async with node.ctx.sessions() as session, session.begin():
        bob_token = await issue_token(session, bob, "read", name="bobs script")
    page = await alice.page("/settings/apps")
    assert "backup script" in page and "bobs script" not in page
    async with node.ctx.sessions() as session:
        ids = {t.name: t.id for t in await session.scalars(select(Token))}
    token = csrf_of(page)
    forged = await alice.post(f"/settings/apps/{ids['backup script']}/revoke", {}, csrf="x")
    assert forged.status == 403
    others = await alice.post(f"/settings/apps/{ids['bobs script']}/revoke", {}, csrf=token)
    assert others.status == 404
    async with node.ctx.sessions() as session:
        assert await authenticate(session, alice_token) is not None
        assert await authenticate(session, bob_token) is not None
    ok = await alice.post(f"/settings/apps/{ids['backup script']}/revoke", {}, csrf=token)
    assert ok.status == 303
    status, _ = await raw(node, "GET", "/api/v1/accounts/verify_credentials", alice_token)
    assert status == 401
    async with node.ctx.sessions() as session:
        assert await authenticate(session, bob_token) is not None


async def test_sessions_page(node: Node, browser_factory: BrowserFactory, alice: Browser) -> None:
    phone = await browser_factory(node)
    assert (await phone.login("alice")).status == 303
    bob = await browser_factory(node)
    assert (await bob.login("bob")).status == 303
    page = await alice.page("/settings/sessions")
    ids = [int(i) for i in re.findall(r'action="/settings/sessions/(\d+)/revoke"', page)]
    assert len(ids) == 2 and "This browser" in page
    bob_ids = re.findall(
        r'action="/settings/sessions/(\d+)/revoke"', await bob.page("/settings/sessions")
    )
    token = csrf_of(page)
    assert (
        await alice.post(f"/settings/sessions/{bob_ids[0]}/revoke", {}, csrf=token)
    ).status == 404
    assert (await alice.post(f"/settings/sessions/{ids[1]}/revoke", {}, csrf="x")).status == 403
    assert "@bob" in await bob.page("/") and "@alice" in await phone.page("/")
    ended = await alice.post("/settings/sessions/revoke-others", {}, csrf=token)
    assert ended.status == 303
    status, _ = await phone.get("/")
    assert status == 303
    assert "@alice" in await alice.page("/") and "@bob" in await bob.page("/")


async def test_language_form(node: Node, browser_factory: BrowserFactory, alice: Browser) -> None:
    token = csrf_of(await alice.page("/settings/language"))
    bad = await alice.post("/settings/language", {"language": "fr"}, csrf=token)
    assert bad.status == 422 and field_error(await bad.text(), "language")
    forged = await alice.post("/settings/language", {"language": "nl"}, csrf="x")
    assert forged.status == 403
    me = await account(node, "alice")
    async with node.ctx.sessions() as session:
        assert await session.get(AccountPreference, me.id) is None
    ok = await alice.post("/settings/language", {"language": "nl"}, csrf=token)
    assert ok.status == 303 and ok.cookies["kantine_lang"].value == "nl"
    dutch = await alice.page("/settings/language")
    assert '<html lang="nl">' in dutch and "Taal van deze pagina" in dutch
    # Another browser of the same person gets Dutch from the sign-in on.
    other = await browser_factory(node)
    signed_in = await other.login("alice")
    assert signed_in.cookies["kantine_lang"].value == "nl"
    assert '<html lang="nl">' in await other.page("/")


async def test_notifications_form(node: Node, alice: Browser) -> None:
    page = await alice.page("/settings/notifications")
    assert page.count('name="receive"') == 5 and page.count(" checked") == 5
    token = csrf_of(page)
    bad = await alice.post("/settings/notifications", {"receive": "poke"}, csrf=token)
    assert bad.status == 422 and field_error(await bad.text(), "receive")
    forged = await alice.post("/settings/notifications", {"receive": "mention"}, csrf="x")
    assert forged.status == 403
    me = await account(node, "alice")
    async with node.ctx.sessions() as session:
        assert list(await session.scalars(select(NotificationOptOut.type))) == []
    response = await alice.http.post(
        alice.url("/settings/notifications"),
        data=[("csrf_token", token), ("receive", "mention"), ("receive", "follow")],
        allow_redirects=False,
    )
    assert response.status == 303
    async with node.ctx.sessions() as session:
        off = set(
            await session.scalars(
                select(NotificationOptOut.type).where(NotificationOptOut.account_id == me.id)
            )
        )
    assert off == {"follow_request", "favourite", "reblog"}
    assert (await alice.page("/settings/notifications")).count(" checked") == 2


async def test_export_form(node: Node, alice: Browser) -> None:
    me = await account(node, "alice")
    async with node.ctx.sessions() as session, session.begin():
        api = await issue_token(session, me, "read write")
    status, _ = await raw(node, "POST", "/api/v1/statuses", api, json={"status": "Mijn post"})
    assert status == 200
    token = csrf_of(await alice.page("/settings/export"))
    forged = await alice.post("/settings/export", {}, csrf="x")
    assert forged.status == 403 and forged.content_type == "text/html"
    response = await alice.http.post(
        alice.url("/settings/export"), data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    assert "outbox.json" in archive.namelist()
    assert b"Mijn post" in archive.read("outbox.json")
    # A photo uploaded through the API is in the archive under media/.
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="x.png", content_type="image/png")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            node.base + "/api/v2/media", data=form, headers={"Authorization": f"Bearer {api}"}
        ) as uploaded,
    ):
        assert uploaded.status in (200, 202), await uploaded.text()
        picture = (await uploaded.json())["url"]
    response = await alice.http.post(
        alice.url("/settings/export"), data={"csrf_token": token}, allow_redirects=False
    )
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    name = picture.rsplit("/", 1)[1]
    assert f"media/{name}" in archive.namelist()
    assert archive.read(f"media/{name}")[:3] in (b"\x89PN", b"RIF", b"\xff\xd8\xff")
