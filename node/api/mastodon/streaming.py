"""The streaming API: one multiplexed WebSocket and the SSE endpoints (PROTOCOL.md C30–C32).

Every stream needs a user token with the stream's read scope, as Mastodon ≥ 4.2 requires
(CVE-2025-62176). The token comes as ``Authorization: Bearer``, ``?access_token=`` or, for
masto.js in a browser, as the ``Sec-WebSocket-Protocol``, which the 101 response echoes.
Events come from the bus (``node.services.streams``) and are rendered per viewer by
``channels.render``; a revoked token or suspended account ends the stream within about a
second (SECURITY.md row 20).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy.exc import SQLAlchemyError

from node.api.event_stream import serve_events
from node.api.mastodon.access import context_of
from node.api.mastodon.channels import Channel, Message, channel, render
from node.api.mastodon.common import ApiError, ApiRoutes
from node.api.mastodon.lists import owned_list
from node.api.mastodon.queries import Viewer
from node.appkeys import STREAMS
from node.auth.tokens import Grant, authenticate
from node.services.context import NodeContext
from node.services.streams import Listener, stop_tasks

__all__ = ["HEARTBEAT_SECONDS", "routes"]

log = logging.getLogger(__name__)

routes = ApiRoutes()

#: How often an idle SSE stream sends ``:thump`` (and a WebSocket a ping).
HEARTBEAT_SECONDS = 15.0

#: SSE paths and the stream each one opens (C32).
_SSE = {
    "user": "user",
    "user/notification": "user:notification",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "hashtag": "hashtag",
    "hashtag/local": "hashtag:local",
    "direct": "direct",
    "list": "list",
}


def _secret(request: web.Request) -> tuple[str, bool]:
    """The bearer token and whether it came as the WebSocket sub-protocol."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip():
        return header[7:].strip(), False
    if request.query.get("access_token"):
        return request.query["access_token"], False
    protocol = request.headers.get("Sec-WebSocket-Protocol", "").split(",")[0].strip()
    return protocol, bool(protocol)


async def _grant(request: web.Request, secret: str) -> tuple[Grant, Viewer]:
    """A user grant with the read scope, or 401/403 before any stream opens."""
    if not secret:
        raise ApiError(401, "Missing access token")
    async with context_of(request).sessions() as session:
        grant = await authenticate(session, secret)
    if grant is None:
        raise ApiError(401, "Invalid access token")
    if not (grant.allows("read:statuses") or grant.allows("read:notifications")):
        raise ApiError(403, "Access token does not have the required scopes")
    return grant, Viewer(grant.account.id, bool(grant.account.local))


def _allowed(grant: Grant, chan: Channel) -> Channel:
    if not grant.allows(chan.scope):
        raise ApiError(403, "Access token does not have the required scopes")
    return chan


async def _messages(
    ctx: NodeContext, viewer: Viewer, channels: set[Channel], listener: Listener
) -> list[Message]:
    """Wait for the next event and render it for *viewer* (possibly to nothing)."""
    item = await listener.queue.get()
    try:
        async with ctx.sessions() as session:
            return await render(session, ctx, viewer, channels, item)
    except SQLAlchemyError:  # the database was busy: this viewer misses one event, not the stream
        log.exception("stream event %s %d not rendered", item.kind, item.id)
        return []


@routes.get("/api/v1/streaming/health")
async def health(_request: web.Request) -> web.StreamResponse:
    """The streaming server is up (C32)."""
    return web.Response(text="OK")


@routes.get("/api/v1/streaming")
async def websocket(request: web.Request) -> web.StreamResponse:
    """The multiplexed WebSocket: ``subscribe``/``unsubscribe`` messages, JSON text frames (C30)."""
    secret, as_protocol = _secret(request)
    grant, viewer = await _grant(request, secret)
    channels: set[Channel] = set()
    if request.query.get("stream"):
        chosen = channel(
            request.query["stream"], request.query.get("tag"), request.query.get("list")
        )
        channels.add(await _owned(request, viewer, _allowed(grant, chosen)))
    ws = web.WebSocketResponse(
        protocols=(secret,) if as_protocol else (), heartbeat=HEARTBEAT_SECONDS
    )
    await ws.prepare(request)
    bus = request.app[STREAMS]
    ctx = context_of(request)
    listener = bus.listen(grant.token_id)
    reader = asyncio.ensure_future(ws.receive())
    events = asyncio.ensure_future(_messages(ctx, viewer, channels, listener))
    revoked = asyncio.ensure_future(listener.revoked.wait())
    try:
        while True:
            done, _ = await asyncio.wait(
                {reader, events, revoked}, return_when=asyncio.FIRST_COMPLETED
            )
            if revoked in done:
                log.info("stream of token %d closed: token no longer valid", grant.token_id)
                break
            if events in done:
                for message in events.result():
                    await ws.send_str(_frame(message))
                events = asyncio.ensure_future(_messages(ctx, viewer, channels, listener))
            if reader in done:
                msg = reader.result()
                if msg.type != WSMsgType.TEXT:
                    break
                reply = await _control(request, grant, viewer, channels, msg.data)
                if reply is not None:
                    await ws.send_str(json.dumps(reply))
                reader = asyncio.ensure_future(ws.receive())
    except ConnectionResetError:
        pass  # the client went away
    finally:
        await stop_tasks(reader, events, revoked)
        bus.forget(listener)
        await ws.close(code=1008 if listener.revoked.is_set() else 1000)
    return ws


@routes.get("/api/v1/streaming/{path:.*}")
async def server_sent_events(request: web.Request) -> web.StreamResponse:
    """One stream as ``text/event-stream``: ``event:``/``data:`` pairs and ``:thump`` (C32)."""
    name = _SSE.get(request.match_info["path"].strip("/"))
    if name is None:
        raise ApiError(400, "Unknown channel requested")
    grant, viewer = await _grant(request, _secret(request)[0])
    chan = _allowed(grant, channel(name, request.query.get("tag"), request.query.get("list")))
    chan = await _owned(request, viewer, chan)
    ctx = context_of(request)
    return await serve_events(
        request,
        opening=b":)\n\n",
        token_id=grant.token_id,
        batch=lambda listener: _messages(ctx, viewer, {chan}, listener),
        frame=_event,
        heartbeat_seconds=HEARTBEAT_SECONDS,
    )


def _event(message: Message) -> bytes:
    """One ``event:``/``data:`` pair; a payload's line breaks continue as more ``data:`` lines."""
    data = message.payload.replace("\n", "\ndata: ")
    return f"event: {message.event}\ndata: {data}\n\n".encode()


async def _owned(request: web.Request, viewer: Viewer, chan: Channel) -> Channel:
    """A list stream only for the viewer's own list (another's is 404, as over REST)."""
    if chan.name == "list":
        async with context_of(request).sessions() as session:
            await owned_list(session, int(chan.tag), viewer)
    return chan


async def _control(
    request: web.Request, grant: Grant, viewer: Viewer, channels: set[Channel], data: str
) -> dict[str, Any] | None:
    """Apply one ``subscribe``/``unsubscribe`` message; an error to send back, or None."""
    try:
        message = json.loads(data)
        kind, name = message["type"], message["stream"]
        tag = message.get("tag")
        list_id = message.get("list")
    except (ValueError, KeyError, TypeError):
        return {"error": "Invalid message", "status": 400}
    if kind not in {"subscribe", "unsubscribe"}:
        return {"error": "Unknown message type", "status": 400}
    try:
        chan = channel(
            str(name),
            str(tag) if tag is not None else None,
            str(list_id) if list_id is not None else None,
        )
        if kind == "subscribe":
            channels.add(await _owned(request, viewer, _allowed(grant, chan)))
        else:
            channels.discard(chan)
    except ApiError as exc:
        return {"error": exc.message, "status": exc.status}
    return None


def _frame(message: Message) -> str:
    return json.dumps(
        {"stream": message.channel.stream, "event": message.event, "payload": message.payload},
        ensure_ascii=False,
    )
