"""Logging in and out of the web pages (issue 6; SECURITY.md rows 21, 24)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from node.db.models import WebSession
from tests.conftest import Node
from tests.web.conftest import PASSWORD, Browser, BrowserFactory, csrf_of


async def _sessions(node: Node) -> int:
    async with node.ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(WebSession)) or 0)


async def test_pages_send_anonymous_people_to_login(
    node: Node, browser_factory: BrowserFactory
) -> None:
    browser = await browser_factory(node)
    status, _ = await browser.get("/")
    assert status == 303
    async with browser.http.get(browser.url("/"), allow_redirects=False) as response:
        assert response.headers["Location"] == "/login?next=/"


async def test_login_opens_a_session_with_safe_cookies(
    node: Node, browser_factory: BrowserFactory, db_kind: str
) -> None:
    browser = await browser_factory(node)
    response = await browser.login("alice")
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = response.cookies["kantine_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert await _sessions(node) == 1
    html = await browser.page("/")
    assert "@alice" in html


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    node: Node, browser_factory: BrowserFactory
) -> None:
    browser = await browser_factory(node)
    wrong = await browser.login("alice", "not the password at all")
    unknown = await browser.login("nobody", PASSWORD)
    assert wrong.status == unknown.status == 401
    assert "kantine_session" not in wrong.cookies
    assert await _sessions(node) == 0
    status, _ = await browser.get("/")
    assert status == 303


async def test_login_is_rate_limited(node: Node, browser_factory: BrowserFactory) -> None:
    browser = await browser_factory(node)
    statuses = [(await browser.login("alice", "wrong password!!")).status for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # Even the right password is refused while over the limit, and no session opens.
    assert (await browser.login("alice")).status == 429
    assert await _sessions(node) == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/notifications", "/notifications"),
        ("/statuses/1?x=1", "/statuses/1?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/a\r\nSet-Cookie:x=1", "/"),
    ],
)
async def test_next_goes_only_to_local_paths(
    node: Node, browser_factory: BrowserFactory, target: str, expected: str
) -> None:
    browser = await browser_factory(node)
    token = csrf_of(await browser.page("/login"))
    response = await browser.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": target}, csrf=token
    )
    assert response.status == 303
    assert response.headers["Location"] == expected


async def test_login_without_csrf_token_changes_nothing(
    node: Node, browser_factory: BrowserFactory
) -> None:
    browser = await browser_factory(node)
    await browser.page("/login")  # has the anonymous CSRF cookie
    response = await browser.post("/login", {"username": "alice", "password": PASSWORD}, csrf="x")
    assert response.status == 403
    assert "kantine_session" not in response.cookies
    assert await _sessions(node) == 0


async def test_logout_ends_the_session(node: Node, alice: Browser) -> None:
    response = await alice.post("/logout", {})
    assert response.status == 303
    async with node.ctx.sessions() as session:
        revoked = await session.scalar(select(WebSession.revoked_at))
    assert revoked is not None
    status, _ = await alice.get("/")
    assert status == 303


async def test_logout_needs_the_csrf_token(node: Node, alice: Browser) -> None:
    response = await alice.post("/logout", {}, csrf="forged")
    assert response.status == 403
    async with node.ctx.sessions() as session:
        assert await session.scalar(select(WebSession.revoked_at)) is None
    assert "@alice" in await alice.page("/")
