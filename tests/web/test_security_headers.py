"""Headers of the pages and their static files (issue 6; ASVS 14.4, SECURITY.md)."""

from __future__ import annotations

import re

from tests.conftest import Node
from tests.web.conftest import Browser, BrowserFactory


async def test_pages_carry_a_strict_policy(node: Node, alice: Browser) -> None:
    async with alice.http.get(alice.url("/")) as response:
        html = await response.text()
        headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in headers["Cache-Control"]
    # No inline script or style anywhere (the policy would block it).
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"<[^>]+\son[a-z]+=", html)  # no inline event handlers


async def test_static_files_are_fingerprinted_and_cached_for_a_year(
    node: Node, browser_factory: BrowserFactory
) -> None:
    browser = await browser_factory(node)
    html = await browser.page("/login")
    css = re.search(r'href="(/static/[0-9a-f]{16}/app\.css)"', html)
    js = re.search(r'src="(/static/[0-9a-f]{16}/app\.js)"', html)
    assert css and js
    async with browser.http.get(browser.url(css.group(1))) as response:
        assert response.status == 200
        assert response.content_type == "text/css"
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=31536000" in response.headers["Cache-Control"]
        assert "--accent" in await response.text()
    status, _ = await browser.get("/static/0000000000000000/app.css")
    assert status == 404
    status, _ = await browser.get("/static/0000000000000000/../../pyproject.toml")
    assert status == 404


async def test_the_api_keeps_its_own_rules(node: Node, alice: Browser) -> None:
    """The page middleware leaves the API alone: JSON errors, no page CSRF check."""
    async with alice.http.post(alice.url("/api/v1/statuses"), data={"status": "x"}) as response:
        assert response.status == 401
        assert (await response.json())["error"]


async def test_unknown_pages_are_404(node: Node, alice: Browser) -> None:
    assert (await alice.get("/statuses/99999999"))[0] == 404
    assert (await alice.get("/statuses/abc"))[0] == 404
    assert (await alice.get("/@nobody"))[0] == 404
    assert (await alice.get("/?max_id=abc"))[0] == 400
