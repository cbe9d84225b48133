"""The department's and the organisation's timelines, and hashtag pages (issue 6)."""

from __future__ import annotations

from aiohttp import web

from node.api.mastodon.queries import Viewer
from node.appkeys import CONTEXT
from node.services.text import normalise_tag
from web.current import gettext, require_user
from web.feeds import public_feed, tag_feed
from web.forms import cursor
from web.render import render
from web.runtime import WEB

__all__ = ["routes"]

routes = web.RouteTableDef()


async def _public_page(
    request: web.Request, *, local: bool, stream: str, heading: str, intro: str
) -> web.StreamResponse:
    """The department's or the organisation's timeline, as the signed-in person may read it."""
    user = require_user(request)
    feed = await public_feed(
        request.app[CONTEXT],
        request.app[WEB].queries,
        Viewer(user.account_id, True),
        cursor(request, "max_id"),
        local=local,
    )
    return render(
        request,
        "timeline.html",
        {"feed": feed, "stream": stream, "heading": heading, "intro": intro},
    )


@routes.get("/local")
async def local(request: web.Request) -> web.StreamResponse:
    """This department's (node's) public and department-only posts."""
    _ = gettext(request)
    return await _public_page(
        request,
        local=True,
        stream="local",
        heading=_("Department"),
        intro=_("Posts by the people of this department."),
    )


@routes.get("/public")
async def public(request: web.Request) -> web.StreamResponse:
    """Public posts from the whole organisation (every node this one knows)."""
    _ = gettext(request)
    return await _public_page(
        request,
        local=False,
        stream="public",
        heading=_("Organisation"),
        intro=_("Public posts from every department."),
    )


@routes.get("/tags/{tag}")
async def hashtag(request: web.Request) -> web.StreamResponse:
    """Public posts with one hashtag."""
    user = require_user(request)
    name = normalise_tag(request.match_info["tag"].lstrip("#"))[:255]
    if not name:
        raise web.HTTPNotFound()
    feed = await tag_feed(
        request.app[CONTEXT],
        Viewer(user.account_id, True),
        name,
        cursor(request, "max_id"),
    )
    return render(
        request,
        "timeline.html",
        {"feed": feed, "stream": f"tag:{name}", "heading": f"#{name}", "intro": ""},
    )
