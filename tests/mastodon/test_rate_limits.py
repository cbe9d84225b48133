"""API rate limits as Mastodon sets them (PROTOCOL.md C7): headers on every API answer, 429
over the limit with nothing done, a tighter window for media uploads."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from config.settings import RateLimitSettings, SettingsError, settings_from_mapping
from node.api.mastodon.ratelimit import RATE_LIMITS, ApiLimits
from node.db.models import MediaAttachment, Status
from tests.conftest import Node, NodeFactory
from tests.mastodon.test_media import png

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limit(node: Node, clock: Clock, **settings: Any) -> None:
    """Give the running node tighter limits and a clock the test moves."""
    fresh = ApiLimits(RateLimitSettings(**settings), clock=clock)
    limits = node.app[RATE_LIMITS]
    limits.api, limits.media = fresh.api, fresh.media


async def _request(
    node: Node, method: str, path: str, token: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, node.base + path, headers=headers, **kwargs) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def _count(node: Node, model: Any) -> int:
    async with node.ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_every_api_answer_carries_the_headers(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    _, token = await node.user("alice")
    status, headers, _ = await _request(node, "GET", "/api/v1/accounts/verify_credentials", token)
    assert status == 200
    assert headers["X-RateLimit-Limit"] == "300"  # the default: 300 per 5 minutes
    assert headers["X-RateLimit-Remaining"] == "299"
    assert _ISO.fullmatch(headers["X-RateLimit-Reset"])
    assert "X-RateLimit-Remaining" in headers["Access-Control-Expose-Headers"]
    # Errors count and carry them too; without a token the client address is counted.
    status, headers, _ = await _request(node, "GET", "/api/v1/statuses/123", token)
    assert status == 404 and headers["X-RateLimit-Remaining"] == "298"
    status, headers, _ = await _request(node, "GET", "/api/v1/instance")
    assert status == 200 and headers["X-RateLimit-Remaining"] == "299"


async def test_over_the_limit_is_refused_and_nothing_is_created(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    _, alice = await node.user("alice")
    _, carol = await node.user("carol")
    clock = Clock()
    _limit(node, clock, api_requests=2, api_window_seconds=60)

    for left in ("1", "0"):
        status, headers, _ = await _request(
            node, "POST", "/api/v1/statuses", alice, data={"status": f"post {left}"}
        )
        assert (status, headers["X-RateLimit-Remaining"]) == (200, left)
    posts = await _count(node, Status)
    assert posts == 2

    clock.now += 15
    status, headers, body = await _request(
        node, "POST", "/api/v1/statuses", alice, data={"status": "one too many"}
    )
    assert status == 429 and body == {"error": "Too many requests"}
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["Retry-After"] == "45" and _ISO.fullmatch(headers["X-RateLimit-Reset"])
    assert await _count(node, Status) == posts  # nothing was created

    # Another token has its own count; after the window alice may post again.
    status, _, _ = await _request(node, "GET", "/api/v1/accounts/verify_credentials", carol)
    assert status == 200
    clock.now += 46
    status, headers, _ = await _request(
        node, "POST", "/api/v1/statuses", alice, data={"status": "later"}
    )
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "1")
    assert await _count(node, Status) == posts + 1

    # Without a token the client address is counted, on the same terms.
    for expected in (200, 200, 429):
        status, _, _ = await _request(node, "GET", "/api/v1/instance")
        assert status == expected


async def test_media_uploads_have_their_own_tighter_limit(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    _, alice = await node.user("alice")
    clock = Clock()
    _limit(node, clock, media_uploads=2, media_window_seconds=1800)

    async def upload(path: str) -> tuple[int, dict[str, str], Any]:
        form = aiohttp.FormData()
        form.add_field("file", png(8, 8), filename="a.png", content_type="image/png")
        return await _request(node, "POST", path, alice, data=form)

    assert (await upload("/api/v2/media"))[0] == 200
    assert (await upload("/api/v1/media"))[0] == 200
    stored = await _count(node, MediaAttachment)
    status, headers, body = await upload("/api/v2/media")
    assert status == 429 and body == {"error": "Too many requests"}
    assert headers["X-RateLimit-Limit"] == "2" and headers["Retry-After"] == "1800"
    assert await _count(node, MediaAttachment) == stored == 2
    # Other API calls are still within the general limit.
    status, headers, _ = await _request(node, "GET", "/api/v1/accounts/verify_credentials", alice)
    assert status == 200 and headers["X-RateLimit-Limit"] == "300"
    clock.now += 1800
    assert (await upload("/api/v2/media"))[0] == 200


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("api_window_seconds", 0),
        ("media_window_seconds", 0.5),
        ("api_requests", -1),
        ("media_uploads", "many"),
    ],
)
def test_bad_settings_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping({"rate_limits": {key: value}}, env={})
    assert f"rate_limits.{key}" in str(caught.value)
