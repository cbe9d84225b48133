"""SSRF guard: names and literals that reach internal addresses are refused before any connect.

SECURITY.md row 13 (Mastodon CVE-2026-22245, CVE-2026-46348; Lemmy CVE-2026-33693; Fedify
CVE-2026-50131 and #903).  A fake *inner* resolver plays a hostile DNS server; the
``GuardedResolver`` around it, the connector and a loopback peer that counts requests
are real.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_aiohttp import AiohttpServer

from activitypub.client import FederationClient, Signer, make_session
from activitypub.errors import HostNotAllowedError
from activitypub.hosts import GuardedResolver, StaticHostPolicy, address_allowed, literal_address
from activitypub.webfinger import resolve_handle
from tests.activitypub.resolvers import FixedResolver as HostileResolver

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",  # noqa: S104 - a target we must refuse, not a bind address
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    "224.0.0.1",
]

OPEN = StaticHostPolicy(mode="open", allow=frozenset())
SEEN = web.AppKey("seen", list[str])


@pytest.fixture
async def victim(aiohttp_server: AiohttpServer) -> TestServer:
    """An internal service on loopback that must never see a request."""
    seen: list[str] = []

    async def anything(request: web.Request) -> web.StreamResponse:
        seen.append(request.path_qs)
        body = json.dumps({"id": str(request.url), "type": "Person"}).encode()
        return web.Response(body=body, headers={"Content-Type": "application/activity+json"})

    app = web.Application()
    app[SEEN] = seen
    app.router.add_route("*", "/{tail:.*}", anything)
    return await aiohttp_server(app)


def seen_by(server: TestServer) -> list[str]:
    assert server.app is not None
    return server.app[SEEN]


def open_client(
    sessions: list[aiohttp.ClientSession], resolver: AbstractResolver
) -> FederationClient:
    session = make_session(policy=OPEN, open_mode=True, inner_resolver=resolver)
    sessions.append(session)
    return FederationClient(session, policy=OPEN, allow_http=True)


@pytest.mark.parametrize("address", BLOCKED)
async def test_ssrf_targets_blocked(
    victim: TestServer,
    sessions: list[aiohttp.ClientSession],
    key: rsa.RSAPrivateKey,
    address: str,
) -> None:
    resolver = HostileResolver([address])
    client = open_client(sessions, resolver)
    url = f"http://evil.test:{victim.port}/users/x"

    with pytest.raises(HostNotAllowedError) as caught:
        await client.fetch_json(url)
    assert caught.value.url == url
    with pytest.raises(HostNotAllowedError):
        await client.fetch_jrd(url)
    with pytest.raises(HostNotAllowedError):
        await client.post(url, b"{}", signer=Signer("https://k.test/a#main-key", key))
    with pytest.raises(HostNotAllowedError):
        await resolve_handle(client, f"x@evil.test:{victim.port}", allow_http=True)

    assert resolver.asked  # the name was looked up: refusal came from the address check
    assert seen_by(victim) == []


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal 127.0.0.1
        "0177.0.0.1",  # octal
        "0x7f.0.0.1",  # hex
        "0x7f000001",
        "127.1",  # short form
        "017700000001",
        "127.0.0.1",
        "0.0.0.0",  # noqa: S104 - a target we must refuse, not a bind address
        "[::1]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "169.254.169.254",
    ],
)
async def test_ssrf_ip_literals_blocked(
    victim: TestServer, sessions: list[aiohttp.ClientSession], host: str
) -> None:
    # aiohttp dials literal hosts without asking a resolver, so the client checks them.
    resolver = HostileResolver(["127.0.0.1"])
    client = open_client(sessions, resolver)
    with pytest.raises(HostNotAllowedError):
        await client.fetch_json(f"http://{host}:{victim.port}/users/x")
    assert resolver.asked == []
    assert seen_by(victim) == []


async def test_public_to_private_redirect_blocked(
    aiohttp_server: AiohttpServer, victim: TestServer, sessions: list[aiohttp.ClientSession]
) -> None:
    """A reachable peer redirects to an internal address: every hop is re-checked (Fedify #903)."""
    targets = [
        f"http://127.0.0.1:{victim.port}/admin",
        f"http://2130706433:{victim.port}/admin",
        f"http://internal.test:{victim.port}/admin",
    ]

    async def bounce(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": targets[int(request.query["i"])]})

    app = web.Application()
    app.router.add_get("/go", bounce)
    public = await aiohttp_server(app)
    public_host = f"public.test:{public.port}"
    # Stand-in for a public peer: trusted by the resolver, so loopback is dialled for it only.
    resolver = GuardedResolver(
        trusted_hosts=lambda h: h == public_host, inner=HostileResolver(["127.0.0.1"])
    )
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver))
    sessions.append(session)
    client = FederationClient(session, policy=OPEN, allow_http=True)

    for index in range(len(targets)):
        with pytest.raises(HostNotAllowedError):
            await client.fetch_json(f"http://{public_host}/go?i={index}")
    assert seen_by(victim) == []


async def test_resolver_keeps_only_global_addresses() -> None:
    resolver = GuardedResolver(
        trusted_hosts=lambda _h: False,
        inner=HostileResolver(["127.0.0.1", "93.184.215.14", "::1", "2606:4700::6810:85e5"]),
    )
    results = await resolver.resolve("mixed.test", 443)
    assert [r["host"] for r in results] == ["93.184.215.14", "2606:4700::6810:85e5"]


async def test_resolver_trusts_explicit_hosts_only() -> None:
    resolver = GuardedResolver(
        trusted_hosts=lambda h: h in {"hr.corp.test", "it.corp.test:8443"},
        inner=HostileResolver(["10.1.2.3"]),
    )
    assert [r["host"] for r in await resolver.resolve("hr.corp.test", 443)] == ["10.1.2.3"]
    assert [r["host"] for r in await resolver.resolve("it.corp.test", 8443)] == ["10.1.2.3"]
    with pytest.raises(HostNotAllowedError):
        await resolver.resolve("it.corp.test", 22)
    with pytest.raises(HostNotAllowedError):
        await resolver.resolve("other.corp.test", 443)


async def test_allowlisted_loopback_peer_is_reachable(
    victim: TestServer, sessions: list[aiohttp.ClientSession]
) -> None:
    """Intranet twist: an allowlisted peer on a private address IS reachable."""
    peer = f"peer.test:{victim.port}"
    policy = StaticHostPolicy(mode="allowlist", allow=frozenset({peer}))
    session = make_session(
        policy=policy, open_mode=False, inner_resolver=HostileResolver(["127.0.0.1"])
    )
    sessions.append(session)
    client = FederationClient(session, policy=policy, allow_http=True)

    assert (await client.fetch_json(f"http://{peer}/users/alice"))["type"] == "Person"
    assert seen_by(victim) == ["/users/alice"]
    with pytest.raises(HostNotAllowedError):
        await client.fetch_json(f"http://other.test:{victim.port}/users/alice")
    assert seen_by(victim) == ["/users/alice"]


async def test_allowlisted_literal_peer_needs_trust(
    victim: TestServer, sessions: list[aiohttp.ClientSession]
) -> None:
    peer = f"127.0.0.1:{victim.port}"
    policy = StaticHostPolicy(mode="allowlist", allow=frozenset({peer}))
    session = make_session(policy=policy, open_mode=False)
    sessions.append(session)

    untrusting = FederationClient(session, policy=policy, allow_http=True)
    with pytest.raises(HostNotAllowedError):
        await untrusting.fetch_json(f"http://{peer}/users/alice")
    assert seen_by(victim) == []

    trusting = FederationClient(
        session, policy=policy, allow_http=True, trusted_hosts=policy.allows
    )
    assert (await trusting.fetch_json(f"http://{peer}/users/alice"))["type"] == "Person"


@pytest.mark.parametrize("address", BLOCKED)
def test_address_allowed_rejects_blocked(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "::ffff:93.184.215.14", "2606:4700::1"])
def test_address_allowed_accepts_global(address: str) -> None:
    assert address_allowed(address)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", ("127.0.0.1", False)),
        ("0177.0.0.1", ("127.0.0.1", False)),
        ("0x7f.1", ("127.0.0.1", False)),
        ("10.1", ("10.0.0.1", False)),
        ("127.0.0.1", ("127.0.0.1", True)),
        ("[::1]", ("::1", True)),
        ("example.org", None),
        ("4294967296", None),
    ],
)
def test_literal_address_forms(host: str, expected: tuple[str, bool] | None) -> None:
    found = literal_address(host)
    assert (None if found is None else (str(found[0]), found[1])) == expected
