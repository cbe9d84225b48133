"""WebFinger (RFC 7033 §4, PROTOCOL.md D3-D5): resource parsing, JRD shape, handle resolution."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from activitypub.client import FederationClient, make_session
from activitypub.errors import FetchError, HostNotAllowedError
from activitypub.hosts import StaticHostPolicy
from activitypub.webfinger import (
    PROFILE_PAGE_REL,
    SUBSCRIBE_REL,
    build_jrd,
    parse_handle,
    parse_resource,
    resolve_handle,
)
from tests.activitypub.resolvers import FixedResolver as LoopbackResolver

LD_AS2 = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
REQUESTS = web.AppKey("requests", list[dict[str, str]])


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("acct:alice@hr.example.org", ("alice", "hr.example.org")),
        ("ACCT:alice@HR.Example.org", ("alice", "hr.example.org")),
        ("alice@hr.example.org", ("alice", "hr.example.org")),
        ("@alice@hr.example.org", ("alice", "hr.example.org")),
        ("  acct:Alice_B@hr.example.org  ", ("Alice_B", "hr.example.org")),
        ("acct:first.last-1@hr.example.org", ("first.last-1", "hr.example.org")),
        ("acct:alice@localhost:3000", ("alice", "localhost:3000")),
        ("acct:alice@hr.example.org:443", ("alice", "hr.example.org")),
        ("acct:hr.example.org@hr.example.org", ("hr.example.org", "hr.example.org")),
    ],
)
def test_parse_resource_forms(resource: str, expected: tuple[str, str]) -> None:
    assert parse_resource(resource) == expected


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "alice",
        "@alice",
        "acct:@hr.example.org",
        "acct:alice@",
        "alice@hr.example.org/path",
        "al ice@hr.example.org",
        "alice@@hr.example.org",
        "acct:.alice@hr.example.org",
        "https://hr.example.org/users/alice",
        "mailto:alice@hr.example.org",
    ],
)
def test_parse_resource_rejects_malformed(resource: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_resource(resource)


def test_parse_handle_rejects_acct_scheme_and_urls() -> None:
    assert parse_handle("@bob@it.example.org") == ("bob", "it.example.org")
    with pytest.raises(ValueError):
        parse_handle("https://it.example.org/@bob")


def test_build_jrd_shape() -> None:
    jrd = build_jrd(
        username="alice",
        domain="hr.example.org",
        actor_url="https://hr.example.org/users/alice",
        profile_url="https://hr.example.org/@alice",
        subscribe_template="https://hr.example.org/authorize_interaction?uri={uri}",
    )
    assert jrd == {
        "subject": "acct:alice@hr.example.org",
        "aliases": ["https://hr.example.org/@alice", "https://hr.example.org/users/alice"],
        "links": [
            {
                "rel": PROFILE_PAGE_REL,
                "type": "text/html",
                "href": "https://hr.example.org/@alice",
            },
            {
                "rel": "self",
                "type": "application/activity+json",
                "href": "https://hr.example.org/users/alice",
            },
            {
                "rel": SUBSCRIBE_REL,
                "template": "https://hr.example.org/authorize_interaction?uri={uri}",
            },
        ],
    }
    bare = build_jrd(username="a", domain="d.test", actor_url="https://d.test/u/a", profile_url="p")
    assert [link["rel"] for link in bare["links"]] == [PROFILE_PAGE_REL, "self"]


async def start_webfinger_peer(
    aiohttp_server: AiohttpServer, answer: dict[str, Any], content_type: str
) -> TestServer:
    requests: list[dict[str, str]] = []

    async def webfinger(request: web.Request) -> web.StreamResponse:
        requests.append(dict(request.query))
        return web.Response(
            body=json.dumps(answer).encode(), headers={"Content-Type": content_type}
        )

    app = web.Application()
    app[REQUESTS] = requests
    app.router.add_get("/.well-known/webfinger", webfinger)
    return await aiohttp_server(app)


def client_for(sessions: list[aiohttp.ClientSession], *hosts: str) -> FederationClient:
    policy = StaticHostPolicy(mode="allowlist", allow=frozenset(hosts))
    session = make_session(policy=policy, open_mode=False, inner_resolver=LoopbackResolver())
    sessions.append(session)
    return FederationClient(session, policy=policy, allow_http=True)


def requests_of(server: TestServer) -> list[dict[str, str]]:
    assert server.app is not None
    return server.app[REQUESTS]


@pytest.mark.parametrize("self_type", ["application/activity+json", LD_AS2])
async def test_resolve_handle_over_loopback(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], self_type: str
) -> None:
    answer = {
        "subject": "acct:alice@hr.test",
        "links": [
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": "https://hr.test/@alice"},
            {"rel": "self", "type": self_type, "href": "https://hr.test/users/alice"},
        ],
    }
    server = await start_webfinger_peer(aiohttp_server, answer, "application/jrd+json")
    host = f"hr.test:{server.port}"

    actor = await resolve_handle(client_for(sessions, host), f"@alice@{host}", allow_http=True)

    assert actor == "https://hr.test/users/alice"
    assert requests_of(server) == [{"resource": f"acct:alice@{host}"}]


@pytest.mark.parametrize(
    "links",
    [
        [],
        [{"rel": PROFILE_PAGE_REL, "type": "text/html", "href": "https://hr.test/@alice"}],
        [{"rel": "self", "type": "text/html", "href": "https://hr.test/users/alice"}],
        [{"rel": "self", "type": "application/ld+json", "href": "https://hr.test/users/alice"}],
        [{"rel": "self", "type": "application/activity+json"}],
        [{"rel": "self", "type": "application/activity+json", "href": "/users/alice"}],
        [{"rel": "self", "type": "application/activity+json", "href": "ftp://hr.test/a"}],
        "not-a-list",
    ],
)
async def test_resolve_handle_without_usable_self_link_fails(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], links: Any
) -> None:
    server = await start_webfinger_peer(
        aiohttp_server, {"subject": "acct:alice@hr.test", "links": links}, "application/json"
    )
    host = f"hr.test:{server.port}"
    with pytest.raises(FetchError, match="self link"):
        await resolve_handle(client_for(sessions, host), f"alice@{host}", allow_http=True)


async def test_resolve_handle_refuses_html_answer(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    server = await start_webfinger_peer(aiohttp_server, {"links": []}, "text/html")
    host = f"hr.test:{server.port}"
    with pytest.raises(FetchError, match="content type"):
        await resolve_handle(client_for(sessions, host), f"alice@{host}", allow_http=True)


async def test_resolve_handle_host_not_allowed_makes_no_request(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    server = await start_webfinger_peer(aiohttp_server, {"links": []}, "application/jrd+json")
    client = client_for(sessions, "hr.test")
    with pytest.raises(HostNotAllowedError):
        await resolve_handle(client, f"alice@evil.test:{server.port}", allow_http=True)
    assert requests_of(server) == []


async def test_resolve_handle_rejects_malformed_handle(
    sessions: list[aiohttp.ClientSession],
) -> None:
    with pytest.raises(FetchError):
        await resolve_handle(client_for(sessions, "hr.test"), "not a handle")


async def test_resolve_handle_uses_https_by_default(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    """Without allow_http the query goes to https://; a plain-HTTP peer is never asked."""
    server = await start_webfinger_peer(aiohttp_server, {"links": []}, "application/jrd+json")
    host = f"hr.test:{server.port}"
    with pytest.raises(FetchError):
        await resolve_handle(client_for(sessions, host), f"alice@{host}")
    assert requests_of(server) == []
