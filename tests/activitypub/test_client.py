"""FederationClient against real aiohttp peers on loopback (PROTOCOL S3/S6/A28, SECURITY 2/3/13/17).

Peers are named ``a.test`` and ``b.test``; a fake inner resolver maps every name to
127.0.0.1, so the guarded resolver, the connector and the HTTP exchange are all real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_aiohttp import AiohttpServer

from activitypub.client import AS2_ACCEPT, FederationClient, Signer, make_session
from activitypub.errors import FetchError, HostNotAllowedError
from activitypub.hosts import StaticHostPolicy
from activitypub.signatures import parse_signed_request
from tests.activitypub.resolvers import FixedResolver as FakeResolver

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AS2 = "application/activity+json"
LD_AS2 = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


@dataclass(frozen=True)
class Seen:
    """One request as the peer received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Peer:
    """A real aiohttp app on loopback that records every request it receives."""

    name: str
    server: TestServer
    seen: list[Seen] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"{self.name}:{self.server.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"


async def start_peer(aiohttp_server: AiohttpServer, name: str, routes: dict[str, Handler]) -> Peer:
    seen: list[Seen] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    server = await aiohttp_server(app)
    return Peer(name, server, seen)


def document(body: Any, content_type: str = AS2, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": content_type}
    )


def redirect(location: str, status: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


def build_client(
    sessions: list[aiohttp.ClientSession], *allowed: Peer, **options: Any
) -> FederationClient:
    """An allowlist client for ``allowed`` peers, over a session built by ``make_session``."""
    policy = StaticHostPolicy(mode="allowlist", allow=frozenset(p.host for p in allowed))
    session = make_session(
        policy=policy, open_mode=False, inner_resolver=FakeResolver(["127.0.0.1"])
    )
    sessions.append(session)
    return FederationClient(session, policy=policy, allow_http=True, **options)


async def test_signed_get_arrives_with_valid_signature(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], key: rsa.RSAPrivateKey
) -> None:
    verified: list[tuple[str, tuple[str, ...]]] = []

    async def actor(request: web.Request) -> web.StreamResponse:
        signed = parse_signed_request(
            method=request.method, url=str(request.url), headers=request.headers, body=None
        )
        signed.verify(key.public_key())
        verified.append((signed.key_id, signed.covered))
        return document({"id": str(request.url), "type": "Person"})

    a = await start_peer(aiohttp_server, "a.test", {"/users/alice": actor})
    client = build_client(sessions, a)
    signer = Signer(key_id="https://k.test/actor#main-key", private_key=key)

    doc = await client.fetch_json(a.url("/users/alice?page=1"), signer=signer)

    assert doc["type"] == "Person"
    assert verified == [(signer.key_id, ("(request-target)", "host", "date"))]
    assert a.seen[0].headers["Accept"] == AS2_ACCEPT
    assert "RSAPrivateKey" not in repr(signer)  # keys stay out of logs and tracebacks


async def test_unsigned_get_sends_no_signature(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    async def note(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url), "type": "Note"}, LD_AS2)

    a = await start_peer(aiohttp_server, "a.test", {"/n": note})
    assert (await build_client(sessions, a).fetch_json(a.url("/n")))["type"] == "Note"
    assert "Signature" not in a.seen[0].headers


async def test_host_not_allowed_makes_no_request(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], key: rsa.RSAPrivateKey
) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url)})

    a = await start_peer(aiohttp_server, "a.test", {"/x": ok})
    b = await start_peer(aiohttp_server, "b.test", {"/x": ok})
    client = build_client(sessions, a)

    with pytest.raises(HostNotAllowedError):
        await client.fetch_json(b.url("/x"))
    with pytest.raises(HostNotAllowedError):
        await client.fetch_jrd(b.url("/x"))
    with pytest.raises(HostNotAllowedError):
        await client.post(b.url("/x"), b"{}", signer=Signer("https://a.test/k", key))
    assert b.seen == []


async def test_plain_http_refused_unless_allowed(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url)})

    a = await start_peer(aiohttp_server, "a.test", {"/x": ok})
    client = build_client(sessions, a)
    strict = FederationClient(
        sessions[0], policy=StaticHostPolicy("allowlist", frozenset({a.host}))
    )

    with pytest.raises(FetchError, match="scheme"):
        await strict.fetch_json(a.url("/x"))
    with pytest.raises(FetchError, match="scheme"):
        await client.fetch_json(f"ftp://{a.host}/x")
    assert a.seen == []


async def test_cross_host_redirect_refused(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    async def target(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url)})

    b = await start_peer(aiohttp_server, "b.test", {"/y": target})
    a = await start_peer(aiohttp_server, "a.test", {"/x": redirect(b.url("/y"))})
    # Even with both hosts allowlisted, a hop to another host is refused.
    client = build_client(sessions, a, b)

    with pytest.raises(HostNotAllowedError, match="cross-host"):
        await client.fetch_json(a.url("/x"))
    assert b.seen == []


async def test_redirect_to_disallowed_scheme_refused(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    a = await start_peer(aiohttp_server, "a.test", {"/x": redirect("file:///etc/passwd")})
    with pytest.raises(FetchError, match="scheme"):
        await build_client(sessions, a).fetch_json(a.url("/x"))


async def test_redirect_chain_longer_than_max_refused(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    async def final(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url)})

    routes: dict[str, Handler] = {f"/r{i}": redirect(f"/r{i + 1}", 301 + i) for i in range(3)}
    routes["/r3"] = final
    a = await start_peer(aiohttp_server, "a.test", routes)
    client = build_client(sessions, a, max_redirects=2)

    # Two hops are fine (A28: follow up to 2), a third is not.
    assert (await client.fetch_json(a.url("/r1")))["id"].endswith("/r3")
    a.seen.clear()
    with pytest.raises(FetchError, match="too many redirects"):
        await client.fetch_json(a.url("/r0"))
    assert [s.path for s in a.seen] == ["/r0", "/r1", "/r2"]


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_oversize_body_refused(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], with_length: bool
) -> None:
    padding = "x" * 64 * 1024

    async def big(request: web.Request) -> web.StreamResponse:
        body = json.dumps({"id": str(request.url), "padding": padding}).encode()
        if with_length:
            return web.Response(body=body, headers={"Content-Type": AS2})
        response = web.StreamResponse(headers={"Content-Type": AS2})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(body), 1024):
                await response.write(body[start : start + 1024])
        except ConnectionResetError:
            pass  # the client hung up once it had seen enough, as it should
        return response

    a = await start_peer(aiohttp_server, "a.test", {"/big": big})
    client = build_client(sessions, a, max_response_bytes=4096)

    with pytest.raises(FetchError, match="too large"):
        await client.fetch_json(a.url("/big"))


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/html; charset=utf-8",
        "text/plain",
        "image/png",
        "application/ld+json",
        'application/ld+json; profile="https://example.org/other"',
        "",
    ],
)
async def test_fetch_rejects_non_as2_content_type(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], content_type: str
) -> None:
    """SECURITY row 2 (CVE-2024-25623): an uploaded JSON file must not pass as an actor."""

    async def upload(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url), "type": "Person"}, content_type)

    a = await start_peer(aiohttp_server, "a.test", {"/media/evil.json": upload})
    with pytest.raises(FetchError, match="content type"):
        await build_client(sessions, a).fetch_json(a.url("/media/evil.json"))


@pytest.mark.parametrize(
    "content_type",
    [
        AS2,
        "application/activity+json; charset=utf-8",
        LD_AS2,
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams https://x.test/p"',
    ],
)
async def test_fetch_accepts_as2_content_types(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], content_type: str
) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url)}, content_type)

    a = await start_peer(aiohttp_server, "a.test", {"/x": ok})
    assert await build_client(sessions, a).fetch_json(a.url("/x")) == {"id": a.url("/x")}


async def test_fetch_id_must_match_final_url_origin(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    """SECURITY row 3: the id must sit on the origin of the URL the body finally came from."""
    b = await start_peer(aiohttp_server, "b.test", {})

    async def forged(request: web.Request) -> web.StreamResponse:
        return document({"id": b.url("/users/mallory"), "type": "Person"})

    async def honest(request: web.Request) -> web.StreamResponse:
        return document({"id": str(request.url).replace("/moved", "/canonical")})

    async def no_id(request: web.Request) -> web.StreamResponse:
        return document({"type": "Person"})

    a = await start_peer(
        aiohttp_server,
        "a.test",
        {
            "/x": redirect("/forged"),
            "/forged": forged,
            "/y": redirect("/moved"),
            "/moved": honest,
            "/no-id": no_id,
        },
    )
    client = build_client(sessions, a, b)

    with pytest.raises(FetchError, match="origin"):
        await client.fetch_json(a.url("/x"))
    with pytest.raises(FetchError, match="origin"):
        await client.fetch_json(a.url("/forged"))
    with pytest.raises(FetchError, match="no id"):
        await client.fetch_json(a.url("/no-id"))
    # Same origin after a same-host redirect is fine even if the path differs.
    assert (await client.fetch_json(a.url("/y")))["id"] == a.url("/canonical")


async def test_redirect_to_other_origin_claiming_original_id_refused(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    """SECURITY row 3 as written: GET a/x → 302 → b/y whose body says ``id: a/x``."""
    holder: list[str] = []

    async def claims_a(request: web.Request) -> web.StreamResponse:
        return document({"id": holder[0], "type": "Person"})

    b = await start_peer(aiohttp_server, "b.test", {"/y": claims_a})
    a = await start_peer(aiohttp_server, "a.test", {"/x": redirect(b.url("/y"))})
    holder.append(a.url("/x"))

    with pytest.raises(FetchError):
        await build_client(sessions, a, b).fetch_json(a.url("/x"))
    assert b.seen == []


@pytest.mark.parametrize("status", [404, 410, 500])
async def test_non_2xx_raises_with_status(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], status: int
) -> None:
    async def fail(request: web.Request) -> web.StreamResponse:
        return document({"error": "no"}, status=status)

    a = await start_peer(aiohttp_server, "a.test", {"/x": fail})
    with pytest.raises(FetchError) as caught:
        await build_client(sessions, a).fetch_json(a.url("/x"))
    assert caught.value.status == status
    assert caught.value.url == a.url("/x")


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"a string"', b"[" * 100_000 + b"]" * 100_000]
)
async def test_invalid_json_or_not_an_object_refused(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], body: bytes
) -> None:
    async def bad(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Type": AS2})

    a = await start_peer(aiohttp_server, "a.test", {"/x": bad})
    with pytest.raises(FetchError, match="JSON"):
        await build_client(sessions, a, max_response_bytes=1 << 20).fetch_json(a.url("/x"))


async def test_timeouts_raise_fetch_error(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], key: rsa.RSAPrivateKey
) -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return document({"id": str(request.url)})

    a = await start_peer(aiohttp_server, "a.test", {"/slow": stall})
    client = build_client(sessions, a, timeout=0.2)
    try:
        with pytest.raises(FetchError, match="timed out") as caught:
            await client.fetch_json(a.url("/slow"))
        assert caught.value.status is None
        with pytest.raises(FetchError, match="timed out"):
            await client.post(a.url("/slow"), b"{}", signer=Signer("https://a.test/k", key))
    finally:
        release.set()


async def test_connection_refused_raises_fetch_error(
    sessions: list[aiohttp.ClientSession], unused_tcp_port: int
) -> None:
    policy = StaticHostPolicy("allowlist", frozenset({f"a.test:{unused_tcp_port}"}))
    session = make_session(
        policy=policy, open_mode=False, inner_resolver=FakeResolver(["127.0.0.1"])
    )
    sessions.append(session)
    client = FederationClient(session, policy=policy, allow_http=True)
    with pytest.raises(FetchError) as caught:
        await client.fetch_json(f"http://a.test:{unused_tcp_port}/x")
    assert caught.value.status is None


async def test_signed_post_with_digest(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], key: rsa.RSAPrivateKey
) -> None:
    verified: list[tuple[str, ...]] = []

    async def inbox(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        signed = parse_signed_request(
            method=request.method, url=str(request.url), headers=request.headers, body=body
        )
        signed.verify(key.public_key())
        verified.append(signed.covered)
        return web.Response(status=202, text="accepted")

    a = await start_peer(aiohttp_server, "a.test", {"/inbox": inbox})
    body = json.dumps({"type": "Create", "id": "https://k.test/a/1"}).encode()

    response = await build_client(sessions, a).post(
        a.url("/inbox"), body, signer=Signer("https://k.test/actor#main-key", key)
    )

    assert response.status == 202
    assert response.body == b"accepted"
    assert response.headers["content-type"].startswith("text/plain")
    assert verified == [("(request-target)", "host", "date", "digest")]
    assert a.seen[0].body == body
    assert a.seen[0].headers["Content-Type"] == AS2
    assert a.seen[0].headers["Digest"].startswith("SHA-256=")


async def test_post_returns_error_status_and_never_follows_redirects(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], key: rsa.RSAPrivateKey
) -> None:
    async def gone(request: web.Request) -> web.StreamResponse:
        return web.Response(status=410)

    a = await start_peer(
        aiohttp_server, "a.test", {"/inbox": redirect("/elsewhere", 307), "/gone": gone}
    )
    client = build_client(sessions, a, max_response_bytes=16)
    signer = Signer("https://k.test/actor#main-key", key)

    assert (await client.post(a.url("/inbox"), b"{}", signer=signer)).status == 307
    assert (await client.post(a.url("/gone"), b"{}", signer=signer)).status == 410
    assert [s.path for s in a.seen] == ["/inbox", "/gone"]


async def test_post_response_body_is_truncated_not_fatal(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession], key: rsa.RSAPrivateKey
) -> None:
    async def chatty(request: web.Request) -> web.StreamResponse:
        return web.Response(status=202, body=b"y" * 10_000)

    a = await start_peer(aiohttp_server, "a.test", {"/inbox": chatty})
    client = build_client(sessions, a, max_response_bytes=100)
    response = await client.post(a.url("/inbox"), b"{}", signer=Signer("https://k.test/k", key))
    assert response.status == 202
    assert response.body == b"y" * 100


async def test_fetch_jrd_accepts_json_but_fetch_json_does_not(
    aiohttp_server: AiohttpServer, sessions: list[aiohttp.ClientSession]
) -> None:
    async def jrd(request: web.Request) -> web.StreamResponse:
        return document({"subject": "acct:alice@a.test"}, "application/jrd+json")

    async def plain(request: web.Request) -> web.StreamResponse:
        return document({"links": []}, "application/json; charset=utf-8")

    async def html(request: web.Request) -> web.StreamResponse:
        return document({"links": []}, "text/html")

    a = await start_peer(aiohttp_server, "a.test", {"/jrd": jrd, "/plain": plain, "/html": html})
    client = build_client(sessions, a)

    assert (await client.fetch_jrd(a.url("/jrd")))["subject"] == "acct:alice@a.test"
    assert await client.fetch_jrd(a.url("/plain")) == {"links": []}
    with pytest.raises(FetchError, match="content type"):
        await client.fetch_jrd(a.url("/html"))
    with pytest.raises(FetchError, match="content type"):
        await client.fetch_json(a.url("/plain"))
