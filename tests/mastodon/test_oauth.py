"""OAuth 2 as Mastodon apps use it (PROTOCOL.md C9–C14; SECURITY.md rows 19–21).

Driven with the real Mastodon.py where it has a call for the step, and over plain HTTP as a
browser would for the login page. Every refusal also checks that nothing was created.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp
import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonIllegalArgumentError, MastodonUnauthorizedError
from sqlalchemy import func, select, update

from node.db.models import AuthorizationCode, OAuthApp
from tests.conftest import Node, NodeFactory
from tests.mastodon.oauth_rig import (
    PASSWORD,
    Browser,
    app_token_rows,
    call,
    code_rows,
    pkce_pair,
    query_of,
    register,
)

REDIRECT = "https://app.example/callback"
ALL = ["read", "write", "follow", "push"]


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    node = await make_node("finance", "127.0.0.2")
    await node.user("alice", password=PASSWORD)
    return node


async def _post(node: Node, path: str, **kwargs: object) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.base + path, **kwargs) as response,  # type: ignore[arg-type]
    ):
        body: dict[str, object] = await response.json()
        return response.status, body


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def _get(node: Node, path: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(node.base + path, headers=headers) as r:
        return r.status


def _authorize_url(node: Node, app: dict[str, object], **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": str(app["client_id"]),
        "redirect_uri": REDIRECT,
        "scope": "read write",
        "state": "s-123",
    } | extra
    return f"{node.base}/oauth/authorize?{urlencode(query)}"


async def test_register_password_login_verify_and_revoke(node: Node) -> None:
    """Mastodon.py: create_app → log_in(password) → verify credentials → revoke → 401."""
    client_id, secret = await call(
        Mastodon.create_app, "Kantine test", scopes=ALL, api_base_url=node.base
    )
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=node.base)
    token = await call(api.log_in, "alice", PASSWORD, scopes=ALL, allow_http=True)
    assert token
    app = await call(api.app_verify_credentials)
    assert app["name"] == "Kantine test"
    assert await call(api.preferences)
    assert await _get(node, "/api/v1/preferences", token) == 200
    await call(api.revoke_access_token, allow_http=True)
    assert await _get(node, "/api/v1/preferences", token) == 401
    assert await _get(node, "/api/v1/apps/verify_credentials", token) == 401


async def test_oob_code_shown_and_exchanged_by_mastodon_py(node: Node) -> None:
    """The default out-of-band flow: the page shows the code, log_in(code=…) trades it."""
    client_id, secret = await call(Mastodon.create_app, "Oob", scopes=ALL, api_base_url=node.base)
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=node.base)
    url = await call(api.auth_request_url, scopes=ALL, state="xyz", allow_http=True)
    browser = Browser(node)
    try:
        page = await browser.authorize(url, "alice")
    finally:
        await browser.close()
    code = browser.fields.get("code") or page.split('id="code" class="code" value="')[1]
    code = code.split('"')[0]
    token = await call(api.log_in, code=code, scopes=ALL, allow_http=True)
    assert await _get(node, "/api/v1/preferences", token) == 200


async def test_authorization_code_with_pkce_and_refresh(node: Node) -> None:
    """Browser flow with PKCE S256 → 302 with code and state → token → refresh rotates it."""
    app = await register(node, redirect_uris=REDIRECT)
    verifier, challenge = pkce_pair()
    browser = Browser(node)
    try:
        status, page = await browser.open(
            _authorize_url(node, app, code_challenge=challenge, code_challenge_method="S256")
        )
        assert status == 200 and 'name="csrf"' in page and 'for="password"' in page
        status, page, _ = await browser.submit(username="alice", password=PASSWORD)
        assert status == 200 and "Authorize" in page and "write" in page
        status, _, headers = await browser.submit(decision="approve")
    finally:
        await browser.close()
    assert status == 302
    location = headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == "s-123"
    status, body = await _post(
        node,
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    first = str(body["access_token"])
    assert await _get(node, "/api/v1/preferences", first) == 200

    # Refresh, with client authentication by HTTP Basic this time.
    status, body = await _post(
        node,
        "/oauth/token",
        json={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=_basic(str(app["client_id"]), str(app["client_secret"])),
    )
    assert status == 200, body
    assert await _get(node, "/api/v1/preferences", str(body["access_token"])) == 200
    assert await _get(node, "/api/v1/preferences", first) == 401


async def test_client_credentials_token_is_the_apps_own(node: Node) -> None:
    app = await register(node)
    status, body = await _post(
        node,
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read",
        },
    )
    assert status == 200, body
    token = str(body["access_token"])
    assert await _get(node, "/api/v1/apps/verify_credentials", token) == 200
    assert await _get(node, "/api/v1/preferences", token) == 401  # speaks for no user


async def test_metadata_offers_password_grant(node: Node) -> None:
    api = Mastodon(api_base_url=node.base)
    info = await call(api.oauth_authorization_server_info)
    assert "password" in info["grant_types_supported"]
    assert info["code_challenge_methods_supported"] == ["S256"]
    assert info["token_endpoint"] == node.base + "/oauth/token"


# --- refusals: each asserts that nothing was created -------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://app.example/callback/../evil",
        "https://app.example/callback?next=//evil.example",
        "//evil.example",
        "/%2F/evil.example",
        "\\\\evil.example",
        "https://APP.example/callback",
    ],
)
async def test_oauth_redirect_uri_exact_match(node: Node, redirect_uri: str) -> None:
    """SECURITY.md row 19: an unregistered redirect_uri gets an error page, never a redirect."""
    app = await register(node, redirect_uris=REDIRECT)
    browser = Browser(node)
    try:
        status, page = await browser.open(_authorize_url(node, app, redirect_uri=redirect_uri))
    finally:
        await browser.close()
    assert status == 400 and "redirect URI is not registered" in page
    assert "csrf" not in browser.fields
    assert await code_rows(node) == 0


@pytest.mark.parametrize(
    "redirect_uris",
    ["javascript:alert(1)", "https://app.example/cb#frag", "http://[::1", "https:///nohost", ""],
)
async def test_app_registration_refuses_bad_redirect_uris(node: Node, redirect_uris: str) -> None:
    status, body = await _post(
        node,
        "/api/v1/apps",
        data={"client_name": "Bad", "redirect_uris": redirect_uris, "scopes": "read"},
    )
    assert status == 422 and str(body["error"]).startswith("Validation failed")
    status, body = await _post(
        node,
        "/api/v1/apps",
        data={"client_name": "Bad", "redirect_uris": REDIRECT, "scopes": "read nonsense"},
    )
    assert status == 422
    async with node.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OAuthApp)) == 0


async def test_unknown_client_gets_an_error_page(node: Node) -> None:
    browser = Browser(node)
    try:
        status, page = await browser.open(
            _authorize_url(node, {"client_id": "nope"}, redirect_uri="https://evil.example/")
        )
    finally:
        await browser.close()
    assert status == 400 and "not known" in page


async def test_wrong_client_secret_is_invalid_client(node: Node) -> None:
    app = await register(node)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    status, body = await _post(
        node, "/oauth/token", data=form | {"client_id": app["client_id"], "client_secret": "x"}
    )
    assert (status, body["error"]) == (401, "invalid_client")
    headers = _basic(str(app["client_id"]), "wrong")
    status, body = await _post(node, "/oauth/token", data=form, headers=headers)
    assert (status, body["error"]) == (401, "invalid_client")
    assert await app_token_rows(node) == 0


async def _code(node: Node, app: dict[str, object], **extra: str) -> str:
    browser = Browser(node)
    try:
        location = await browser.authorize(_authorize_url(node, app, **extra), "alice")
    finally:
        await browser.close()
    return query_of(location)["code"]


def _exchange(app: dict[str, object], code: str, **extra: str) -> dict[str, object]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    } | extra


async def test_code_is_single_use_and_reuse_revokes(node: Node) -> None:
    """SECURITY.md row 20: a second exchange fails and kills the token of the first."""
    app = await register(node, redirect_uris=REDIRECT)
    code = await _code(node, app)
    status, body = await _post(node, "/oauth/token", data=_exchange(app, code))
    assert status == 200
    token = str(body["access_token"])
    status, body = await _post(node, "/oauth/token", data=_exchange(app, code))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await app_token_rows(node) == 1
    assert await _get(node, "/api/v1/preferences", token) == 401


async def test_wrong_pkce_verifier_or_redirect_is_invalid_grant(node: Node) -> None:
    app = await register(node, redirect_uris=REDIRECT)
    verifier, challenge = pkce_pair()
    code = await _code(node, app, code_challenge=challenge, code_challenge_method="S256")
    for extra in (
        {"code_verifier": pkce_pair()[0]},
        {},
        {"code_verifier": verifier, "redirect_uri": "https://evil.example/callback"},
    ):
        status, body = await _post(node, "/oauth/token", data=_exchange(app, code, **extra))
        assert (status, body["error"]) == (400, "invalid_grant")
    assert await app_token_rows(node) == 0


async def test_expired_code_is_invalid_grant(node: Node) -> None:
    app = await register(node, redirect_uris=REDIRECT)
    code = await _code(node, app)
    async with node.ctx.sessions() as session, session.begin():
        await session.execute(
            update(AuthorizationCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    status, body = await _post(node, "/oauth/token", data=_exchange(app, code))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await app_token_rows(node) == 0


async def test_scope_beyond_the_app_is_invalid_scope(node: Node) -> None:
    app = await register(node, redirect_uris=REDIRECT, scopes="read")
    browser = Browser(node)
    try:
        status, _ = await browser.open(_authorize_url(node, app, scope="read write"))
    finally:
        await browser.close()
    assert status == 302  # to the registered URI, with error=invalid_scope
    api = Mastodon(
        client_id=str(app["client_id"]),
        client_secret=str(app["client_secret"]),
        api_base_url=node.base,
    )
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_scope"):
        await call(api.log_in, "alice", PASSWORD, scopes=["read", "write"], allow_http=True)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    form |= {"scope": "read write", "client_id": app["client_id"]}
    status, body = await _post(
        node, "/oauth/token", data=form | {"client_secret": app["client_secret"]}
    )
    assert (status, body["error"]) == (400, "invalid_scope")
    assert await app_token_rows(node) == 0
    assert await code_rows(node) == 0


async def test_authorize_redirects_invalid_scope_to_the_registered_uri(node: Node) -> None:
    app = await register(node, redirect_uris=REDIRECT, scopes="read")
    async with (
        aiohttp.ClientSession() as http,
        http.get(_authorize_url(node, app, scope="write"), allow_redirects=False) as response,
    ):
        assert response.status == 302
        location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    assert query_of(location) | {"error_description": ""} == {
        "error": "invalid_scope",
        "error_description": "",
        "state": "s-123",
    }


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
async def test_login_form_without_valid_csrf_is_refused(node: Node, csrf: str | None) -> None:
    """ASVS 4.2.2: a login POST without the page's token → 403, no ticket, no code, no token."""
    app = await register(node, redirect_uris=REDIRECT)
    browser = Browser(node)
    try:
        await browser.open(_authorize_url(node, app))
        if csrf is None:
            del browser.fields["csrf"]
        else:
            browser.fields["csrf"] = csrf
        status, page, headers = await browser.submit(username="alice", password=PASSWORD)
    finally:
        await browser.close()
    assert status == 403 and "expired" in page
    assert "ticket" not in browser.fields and "Set-Cookie" not in headers
    assert await code_rows(node) == 0
    assert await app_token_rows(node) == 0


async def test_csrf_token_is_tied_to_the_cookie(node: Node) -> None:
    """A token lifted from another browser's page does not work with this browser's cookie."""
    app = await register(node, redirect_uris=REDIRECT)
    victim, attacker = Browser(node), Browser(node)
    try:
        await victim.open(_authorize_url(node, app))
        await attacker.open(_authorize_url(node, app))
        victim.fields["csrf"] = attacker.fields["csrf"]
        status, _, _ = await victim.submit(username="alice", password=PASSWORD)
    finally:
        await victim.close()
        await attacker.close()
    assert status == 403
    assert await code_rows(node) == 0


async def test_password_grant_throttle_trips(node: Node) -> None:
    """SECURITY.md row 21: per account, the 11th attempt after 10 failures gets 429."""
    app = await register(node)
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    form = {"grant_type": "password", "username": "alice"} | creds
    for _ in range(10):
        status, body = await _post(node, "/oauth/token", data=form | {"password": "wrong" * 3})
        assert (status, body["error"]) == (400, "invalid_grant")
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.base + "/oauth/token", data=form | {"password": PASSWORD}) as response,
    ):
        assert response.status == 429
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert response.headers["X-RateLimit-Reset"].endswith("Z")
    assert await app_token_rows(node) == 0


async def test_address_throttle_trips_across_user_names(node: Node) -> None:
    """Per client address: 30 attempts with any names, then 429 even for a right password."""
    app = await register(node)
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    for i in range(30):
        form = {"grant_type": "password", "username": f"nobody{i}", "password": "x" * 12}
        status, _ = await _post(node, "/oauth/token", data=form | creds)
        assert status == 400
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    status, body = await _post(node, "/oauth/token", data=form | creds)
    assert status == 429 and body["error"] == "Too many requests"


async def test_login_form_throttle_trips(node: Node) -> None:
    app = await register(node, redirect_uris=REDIRECT)
    browser = Browser(node)
    try:
        await browser.open(_authorize_url(node, app))
        for _ in range(10):
            status, _, _ = await browser.submit(username="alice", password="wrong" * 3)
            assert status == 401
        status, page, headers = await browser.submit(username="alice", password=PASSWORD)
    finally:
        await browser.close()
    assert status == 429 and "Too many" in page
    assert headers["X-RateLimit-Remaining"] == "0"
    assert "ticket" not in browser.fields
    assert await code_rows(node) == 0


async def test_revoke_needs_the_owning_client(node: Node) -> None:
    app, other = await register(node), await register(node)
    api = Mastodon(
        client_id=str(app["client_id"]),
        client_secret=str(app["client_secret"]),
        api_base_url=node.base,
    )
    token = await call(api.log_in, "alice", PASSWORD, scopes=["read"], allow_http=True)
    status, _ = await _post(
        node,
        "/oauth/revoke",
        data={
            "token": token,
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert status == 403
    assert await _get(node, "/api/v1/preferences", token) == 200
    await call(api.revoke_access_token, allow_http=True)
    with pytest.raises(MastodonUnauthorizedError):
        await call(Mastodon(access_token=token, api_base_url=node.base).preferences)
