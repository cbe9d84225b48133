"""The start page: the front door's links, the composer and the home timeline (issue 6)."""

from __future__ import annotations

from aiohttp import web

from node.api.mastodon.home import FAST_READS
from node.api.mastodon.queries import Viewer
from node.appkeys import CONTEXT
from node.services.site import Link, get_links, links_select
from web.current import require_user
from web.feeds import home_feed
from web.forms import cursor
from web.render import render
from web.runtime import WEB

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/")
async def start(request: web.Request) -> web.StreamResponse:
    """Links, composer, home timeline (``?max_id=`` pages back: the plain "older" link)."""
    user = require_user(request)
    ctx = request.app[CONTEXT]
    reads = request.app.get(FAST_READS)
    feed = await home_feed(
        ctx,
        request.app[WEB].queries,
        Viewer(user.account_id, True),
        cursor(request, "max_id"),
        reads=reads,
    )
    if reads is not None:  # SQLite: plain sqlite3, as the timeline above
        links = [Link(**row) for row in reads.rows("site_links", links_select)]
    else:
        async with ctx.sessions() as session:
            links = await get_links(session)
    return render(
        request,
        "home.html",
        {"feed": feed, "links": links, "stream": "user", "reply_to": None},
    )
