"""Rig of the web pages' tests: a node, people with passwords, browsers (aiohttp sessions)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import raw

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Browser:
    """One browser (its own cookie jar) talking to one node, as a person would."""

    node: Node
    http: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return self.node.base + path

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.http.get(self.url(path), allow_redirects=False, **kw) as response:
            return response.status, await response.text()

    async def page(self, path: str) -> str:
        """The HTML of a page that must answer 200."""
        status, html = await self.get(path)
        assert status == 200, (path, status, html[:500])
        return html

    async def post(
        self, path: str, data: dict[str, str], *, csrf: str | None = None, form_page: str = "/"
    ) -> aiohttp.ClientResponse:
        """Submit a form with the CSRF token of *form_page* (or the *csrf* given)."""
        token = csrf if csrf is not None else csrf_of(await self.page(form_page))
        response = await self.http.post(
            self.url(path), data={"csrf_token": token, **data}, allow_redirects=False
        )
        await response.read()
        return response

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        return await self.post(
            "/login", {"username": username, "password": password}, form_page="/login"
        )


BrowserFactory = Callable[[Node], Awaitable[Browser]]


async def password_grant(node: Node, app: dict[str, Any], username: str) -> tuple[int, Any]:
    """Ask *app*'s token with *username*'s password (the OAuth password grant)."""
    return await raw(
        node,
        "POST",
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": username,
            "password": PASSWORD,
            "scope": "read",
        },
    )


@pytest.fixture
async def browser_factory() -> AsyncIterator[BrowserFactory]:
    """Browsers, each with its own cookies (``unsafe`` so cookies stick to IP hosts)."""
    sessions: list[aiohttp.ClientSession] = []

    async def make(node: Node) -> Browser:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(http)
        return Browser(node, http)

    yield make
    for http in sessions:
        await http.close()


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    """One node with two people: alice and bob (password :data:`PASSWORD`)."""
    started = await make_node("web", "127.0.0.1")
    await started.user("alice", password=PASSWORD)
    await started.user("bob", password=PASSWORD)
    return started


@pytest.fixture
async def alice(node: Node, browser_factory: BrowserFactory) -> Browser:
    """Alice, signed in."""
    browser = await browser_factory(node)
    response = await browser.login("alice")
    assert response.status == 303, await response.text()
    return browser
