"""Instance metadata as Mastodon.py reads it (PROTOCOL.md C15–C18, C29)."""

from __future__ import annotations

import warnings

import aiohttp
import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonUnauthorizedError

from node.services.statuses import post_status
from tests.conftest import Node, NodeFactory
from tests.mastodon.oauth_rig import call


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node("finance", "127.0.0.2", allow=("127.0.0.3", "127.0.0.4:8443"))


async def test_version_is_4_2_0_without_api_versions(node: Node) -> None:
    """C17/C18: Mastodon.py parses 4.2.0 and, seeing no 4.3 claim, does not warn."""
    api = Mastodon(api_base_url=node.base)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert await call(api.retrieve_mastodon_version) == "4.2.0"
    assert (await call(api.instance_v2))["api_versions"] is None  # Mastodon.py fills in None
    async with aiohttp.ClientSession() as http, http.get(node.base + "/api/v2/instance") as r:
        raw = await r.json()
    assert "api_versions" not in raw
    assert raw["version"] == "4.2.0 (compatible; Kantine 0.1.0)"


async def test_instance_v1_and_v2_with_real_counts(node: Node) -> None:
    alice, token = await node.user("alice")
    await node.user("bob")
    async with node.ctx.sessions() as session, session.begin():
        await post_status(node.ctx, session, alice, "Quarterly numbers are in")
    api = Mastodon(access_token=token, api_base_url=node.base)
    v1 = await call(api.instance_v1)
    assert v1["uri"] == node.domain
    assert v1["title"] == "finance"
    assert v1["urls"]["streaming_api"] == f"ws://{node.domain}"
    assert v1["stats"] == {"user_count": 2, "status_count": 1, "domain_count": 0}
    v2 = await call(api.instance_v2)
    assert v2["domain"] == node.domain
    assert v2["configuration"]["urls"]["streaming"] == f"ws://{node.domain}"
    assert v2["configuration"]["statuses"]["max_characters"] > 0
    assert v2["usage"]["users"]["active_month"] == 1
    assert v2["registrations"]["enabled"] is False
    async with (
        aiohttp.ClientSession() as http,
        http.get(v2["thumbnail"]["url"]) as response,
    ):
        assert response.status == 200 and response.content_type == "image/png"


@pytest.mark.parametrize("path", ["/api/v1/instance", "/api/v1/instance/", "/api/v2/instance/"])
async def test_trailing_slash_and_cors(node: Node, path: str) -> None:
    """C3, C4: both spellings answer, readable from a browser client."""
    async with aiohttp.ClientSession() as http, http.get(node.base + path) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert (await response.json())["version"].startswith("4.2.0 ")


async def test_peers_rules_emojis(node: Node) -> None:
    api = Mastodon(api_base_url=node.base)
    assert await call(api.instance_peers) == ["127.0.0.3", "127.0.0.4:8443"]
    assert await call(api.instance_rules) == []
    assert await call(api.custom_emojis) == []


async def test_preferences_need_a_token(node: Node) -> None:
    _, token = await node.user("alice")
    prefs = await call(Mastodon(access_token=token, api_base_url=node.base).preferences)
    assert prefs["posting:default:visibility"] == "public"
    with pytest.raises(MastodonUnauthorizedError):
        await call(Mastodon(api_base_url=node.base).preferences)
