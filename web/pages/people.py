"""Notifications, bookmarks and search (issue 6), over the client API's selects and search."""

from __future__ import annotations

from aiohttp import web

from node.api.mastodon.access import render_statuses
from node.api.mastodon.common import Page
from node.api.mastodon.entities import notification_entity
from node.api.mastodon.filtering import apply_to_notifications
from node.api.mastodon.notifications import notification_select
from node.api.mastodon.queries import Viewer, read_page, status_select, viewer_flags
from node.api.mastodon.search import run_search
from node.appkeys import CONTEXT
from node.db.models import Bookmark, Notification, Status
from web.current import require_user
from web.feeds import PAGE_SIZE, Feed
from web.forms import cursor
from web.render import render

__all__ = ["routes"]

routes = web.RouteTableDef()

_MAX_QUERY = 512


@routes.get("/notifications")
async def notifications(request: web.Request) -> web.StreamResponse:
    """Mentions, likes, boosts and follows, newest first, with "older" paging."""
    user = require_user(request)
    viewer = Viewer(user.account_id, True)
    wanted = Page(max_id=cursor(request, "max_id"), since_id=None, min_id=None, limit=PAGE_SIZE)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        rows = await read_page(
            session, notification_select(viewer), Notification.id, wanted, "n_id"
        )
        ids = [row["s_id"] for row in rows if row["s_id"]] + [
            row["o_id"] for row in rows if row["o_id"]
        ]
        flags = await viewer_flags(session, viewer, ids)
        notes = [notification_entity(row, ctx, flags) for row in rows]
        notes = await apply_to_notifications(session, viewer, notes)
    older = min(row["n_id"] for row in rows) if len(rows) >= PAGE_SIZE else None
    return render(request, "notifications.html", {"notes": notes, "older": older})


@routes.get("/bookmarks")
async def bookmarks(request: web.Request) -> web.StreamResponse:
    """The posts one saved, newest bookmark first."""
    user = require_user(request)
    viewer = Viewer(user.account_id, True)
    wanted = Page(max_id=cursor(request, "max_id"), since_id=None, min_id=None, limit=PAGE_SIZE)
    ctx = request.app[CONTEXT]
    query = status_select(viewer, Bookmark.id.label("cursor")).join(
        Bookmark, (Bookmark.status_id == Status.id) & (Bookmark.account_id == viewer.id)
    )
    async with ctx.sessions() as session:
        rows = await read_page(session, query, Bookmark.id, wanted, "cursor")
        statuses = await render_statuses(session, ctx, viewer, rows)
    cursors = [row["cursor"] for row in rows]
    feed = Feed(statuses, min(cursors) if len(cursors) >= PAGE_SIZE else None, None)
    return render(request, "bookmarks.html", {"feed": feed, "stream": None})


@routes.get("/search")
async def search(request: web.Request) -> web.StreamResponse:
    """People, posts and hashtags for ``q``; a handle ``user@host`` is looked up on its node."""
    user = require_user(request)
    q = request.query.get("q", "").strip()[:_MAX_QUERY]
    result: dict[str, list[object]] = {"accounts": [], "statuses": [], "hashtags": []}
    if q:
        ctx = request.app[CONTEXT]
        async with ctx.sessions() as session, session.begin():
            result = await run_search(
                ctx, session, Viewer(user.account_id, True), q, resolve=True, limit=20
            )
    directory_url = request.app[CONTEXT].directory_url
    return render(
        request, "search.html", {"q": q, "result": result, "directory_url": directory_url}
    )
