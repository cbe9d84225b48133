"""Server-sent events (HTML Living Standard §9.2) for the client API and the web pages.

The Mastodon SSE endpoints (PROTOCOL.md C32) and the pages' live updates open their
``text/event-stream`` the same way: a listener on the stream bus, its messages relayed until
the client leaves or its token or session is revoked (:func:`node.services.streams.relay`),
and a ``:thump`` comment when nothing came for a while, so that proxies keep it open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiohttp import web

from node.appkeys import STREAMS
from node.services.streams import Listener, relay

__all__ = ["serve_events"]

T = TypeVar("T")


async def serve_events(
    request: web.Request,
    *,
    opening: bytes,
    token_id: int,
    web_session_id: int | None = None,
    batch: Callable[[Listener], Awaitable[Sequence[T]]],
    frame: Callable[[T], bytes | None],
    heartbeat_seconds: float,
) -> web.StreamResponse:
    """Answer with ``text/event-stream``: *opening*, then the *frame* of each item of each
    *batch* the listener gets (``None`` sends nothing), ``:thump`` after a quiet while."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(opening)
    bus = request.app[STREAMS]
    listener = bus.listen(token_id, web_session_id=web_session_id)

    async def send(item: T) -> None:
        data = frame(item)
        if data:
            await response.write(data)

    async def heartbeat() -> None:
        await response.write(b":thump\n\n")

    try:
        await relay(listener, lambda: batch(listener), send, heartbeat, heartbeat_seconds)
    finally:
        bus.forget(listener)
    return response
