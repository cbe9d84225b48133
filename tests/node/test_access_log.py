"""The access log of ``kantine serve``: an inbox's accepted POSTs only at DEBUG, all else at INFO."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from node.accesslog import NodeAccessLogger


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "ok"}, status=int(request.query.get("status", "202")))


async def _requests(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _answer)
    runner = web.AppRunner(app, access_log_class=NodeAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    caplog.set_level(level, logger="aiohttp.access")
    try:
        async with aiohttp.ClientSession() as http:
            for method, path in [
                ("POST", "/inbox"),
                ("POST", "/users/alice/inbox"),
                ("POST", "/actor/inbox"),
                ("POST", "/inbox?status=401"),
                ("POST", "/users/alice/inbox?status=413"),
                ("GET", "/users/alice/inbox"),
                ("POST", "/users/alice/outbox"),
                ("GET", "/health"),
            ]:
                async with http.request(method, base + path, data=b"{}") as response:
                    await response.read()
    finally:
        await runner.cleanup()
    return [r for r in caplog.records if r.name == "aiohttp.access"]


async def test_accepted_inbox_posts_are_left_out_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """Refused inbox POSTs, other methods and other paths keep their line; the 202s of the
    three inboxes do not (the inbox logs one line per stored group instead)."""
    lines = [r.getMessage() for r in await _requests(caplog, logging.INFO)]
    assert len(lines) == 5, lines
    assert any('"POST /inbox?status=401 ' in line and " 401 " in line for line in lines)
    assert any('"POST /users/alice/inbox?status=413 ' in line for line in lines)
    assert any('"GET /users/alice/inbox ' in line for line in lines)
    assert any('"POST /users/alice/outbox ' in line for line in lines)
    assert any('"GET /health ' in line for line in lines)
    assert not any('"POST /inbox ' in line or '"POST /actor/inbox ' in line for line in lines)


async def test_debug_logs_every_request(caplog: pytest.LogCaptureFixture) -> None:
    lines = [r.getMessage() for r in await _requests(caplog, logging.DEBUG)]
    assert len(lines) == 8, lines
    assert any('"POST /inbox ' in line and " 202 " in line for line in lines)
