"""Live updates of the pages: ``GET /stream/{name}`` as server-sent events (issue 6).

The browser's session authenticates the stream (no token in the URL); the stream bus of the
client API (:class:`node.services.streams.StreamBus`) brings committed events, and
:func:`node.api.mastodon.channels.render` decides, with the same visibility rules as the
API's streams, what this viewer sees on which channel. Posts arrive as the HTML of
``partials/status.html``; the bus closes the stream when the session ends (logout,
suspension).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from node.api.event_stream import serve_events
from node.api.mastodon.channels import Channel, Message, channel, render
from node.api.mastodon.queries import Viewer
from node.appkeys import CONTEXT
from node.services.streams import Listener
from node.services.web_sessions import SignedIn
from web.current import require_user
from web.render import render_text

__all__ = ["HEARTBEAT_SECONDS", "routes"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: A comment line this often keeps proxies from closing a quiet stream.
HEARTBEAT_SECONDS = 25.0
_NAMES = {"user": "user", "public": "public", "local": "public:local"}


def _channel(name: str) -> Channel:
    if name.startswith("tag:"):
        return channel("hashtag", name[4:])
    if name not in _NAMES:
        raise web.HTTPNotFound()
    return channel(_NAMES[name])


def _frame(request: web.Request, message: Message) -> bytes | None:
    if message.event == "delete":
        data: dict[str, Any] = {"id": message.payload}
        event = "delete"
    elif message.event == "notification":
        entity = json.loads(message.payload)
        html = render_text(request, "partials/notification.html", {"note": entity})
        data, event = {"id": entity["id"], "html": html}, "notification"
    else:  # update, status.update
        entity = json.loads(message.payload)
        html = render_text(request, "partials/status.html", {"status": entity})
        data, event = {"id": entity["id"], "html": html}, "post"
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


async def _next(
    request: web.Request, viewer: Viewer, chan: Channel, listener: Listener
) -> list[Message]:
    item = await listener.queue.get()
    channels = [chan, Channel("user:notification")] if chan.name == "user" else [chan]
    try:
        async with request.app[CONTEXT].sessions() as session:
            messages = await render(session, request.app[CONTEXT], viewer, channels, item)
    except SQLAlchemyError:  # the database was busy: this viewer misses one event
        log.exception("web stream event %s %d not rendered", item.kind, item.id)
        return []
    if chan.name == "user":  # one copy of each notification (user and user:notification)
        seen: set[tuple[str, str]] = set()
        unique = []
        for message in messages:
            if (message.event, message.payload) not in seen:
                seen.add((message.event, message.payload))
                unique.append(message)
        return unique
    return messages


@routes.get("/stream/{name}")
async def stream(request: web.Request) -> web.StreamResponse:
    """``user`` (home and notifications), ``public``, ``local`` or ``tag:NAME``."""
    user: SignedIn = require_user(request)
    chan = _channel(request.match_info["name"])
    viewer = Viewer(user.account_id, True)
    return await serve_events(
        request,
        opening=b"retry: 3000\n\n",
        token_id=0,
        web_session_id=user.session_id,
        batch=lambda listener: _next(request, viewer, chan, listener),
        frame=lambda message: _frame(request, message),
        heartbeat_seconds=HEARTBEAT_SECONDS,
    )
