"""The ingest benchmark's lean sender delivers every request whole and reads every answer."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from bench.sender import build_request, send_raw


async def _server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/inbox", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/inbox"


async def test_every_request_arrives_once_with_its_headers_and_every_status_is_counted() -> None:
    """Content-Length and chunked answers, keep-alive, and a server that closes after an
    answer: 60 distinct bodies arrive whole, each with its own headers, and each answer's
    status is counted once."""
    seen: list[tuple[str, str, bytes]] = []

    async def inbox(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append((request.headers["Signature"], request.headers["Host"], body))
        n = int(body.split(b":")[0])
        if n % 3 == 1:  # chunked
            response = web.StreamResponse(status=202)
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b'{"status":')
            await response.write(b'"accepted"}')
            await response.write_eof()
            return response
        if n % 10 == 7:  # an error answer that closes the connection
            return web.json_response({"error": "no"}, status=401, headers={"Connection": "close"})
        return web.json_response({"status": "accepted"}, status=202)

    runner, url = await _server(inbox)
    try:
        bodies = [f"{n}:".encode() + b"x" * (n * 97) for n in range(60)]
        requests = [
            build_request(url, {"Signature": hashlib.sha256(b).hexdigest()}, b) for b in bodies
        ]
        sent = await send_raw(url, requests, concurrency=4)
    finally:
        await runner.cleanup()
    assert sorted(body for _, _, body in seen) == sorted(bodies)
    assert all(sig == hashlib.sha256(body).hexdigest() for sig, _, body in seen)
    assert {host for _, host, _ in seen} == {url.split("/")[2]}
    closing = sum(1 for n in range(60) if n % 3 != 1 and n % 10 == 7)
    assert sent.statuses == {202: 60 - closing, 401: closing}
    assert len(sent.latencies) == 60


async def test_a_refused_connection_counts_as_no_answer() -> None:
    async def inbox(request: web.Request) -> web.StreamResponse:
        return web.Response(status=202)

    runner, url = await _server(inbox)
    await runner.cleanup()  # nothing listens there any more
    sent = await send_raw(url, [build_request(url, {}, b"{}")] * 3, concurrency=2)
    assert sent.statuses == {0: 3}
