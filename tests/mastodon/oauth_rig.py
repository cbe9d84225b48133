"""Helpers for the OAuth tests: a tiny browser for the login page, PKCE, row counts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import aiohttp
from sqlalchemy import func, select

from node.db.models import AuthorizationCode, Token
from tests.conftest import Node

__all__ = [
    "Browser",
    "app_token_rows",
    "call",
    "code_rows",
    "pkce_pair",
    "query_of",
    "register",
]

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous Mastodon.py call in a thread, off the loop that serves the node."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, S256 code_challenge)``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect target."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def register(
    node: Node, *, redirect_uris: str = "urn:ietf:wg:oauth:2.0:oob", scopes: str = "read write"
) -> dict[str, Any]:
    """Register an app over HTTP (as masto.js does, with JSON)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            node.base + "/api/v1/apps",
            json={"client_name": "Rig", "redirect_uris": redirect_uris, "scopes": scopes},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def _count(node: Node, statement: Any) -> int:
    async with node.ctx.sessions() as session:
        return int(await session.scalar(statement) or 0)


async def app_token_rows(node: Node) -> int:
    """Tokens issued to OAuth apps (``Node.user`` makes app-less ones)."""
    stmt = select(func.count()).select_from(Token).where(Token.app_id.is_not(None))
    return await _count(node, stmt)


async def code_rows(node: Node) -> int:
    """Authorization codes ever created."""
    return await _count(node, select(func.count()).select_from(AuthorizationCode))


class Browser:
    """Just enough of a browser: cookies, forms with hidden fields, no redirects followed."""

    def __init__(self, node: Node) -> None:
        self.node = node
        # Nodes in tests live on IP addresses, whose cookies aiohttp keeps only when "unsafe".
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.fields: dict[str, str] = {}

    async def close(self) -> None:
        await self.http.close()

    def _remember(self, page: str) -> None:
        self.fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}

    async def open(self, url: str) -> tuple[int, str]:
        async with self.http.get(url, allow_redirects=False) as response:
            page = await response.text()
        self._remember(page)
        return response.status, page

    async def submit(self, **values: str) -> tuple[int, str, dict[str, str]]:
        """POST the current form with its hidden fields plus *values*; (status, page, headers)."""
        data = {**self.fields, **values}
        async with self.http.post(
            self.node.base + "/oauth/authorize", data=data, allow_redirects=False
        ) as response:
            page = await response.text()
            headers = {str(k): v for k, v in response.headers.items()}
        self._remember(page)
        return response.status, page, headers

    async def authorize(self, url: str, username: str, password: str = PASSWORD) -> str:
        """The whole flow: open, sign in, approve; returns the ``Location`` (or the oob page)."""
        status, _ = await self.open(url)
        assert status == 200
        status, page, _ = await self.submit(username=username, password=password)
        assert status == 200, page
        assert "ticket" in self.fields
        status, page, headers = await self.submit(decision="approve")
        if status == 302:
            return headers["Location"]
        assert status == 200, page
        return page
