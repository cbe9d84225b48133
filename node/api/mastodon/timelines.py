"""Home, public and hashtag timelines (PROTOCOL.md C21, C6; PERFORMANCE.md).

Each page is one Core select (``queries.status_select``) paged by status id, plus one query
for the viewer's flags. The home timeline reads the fan-out table ``home_feed`` by its
primary key; public and hashtag timelines carry public posts, and Kantine's local-only
posts for this node's own people.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Select, false

from node.api.mastodon.access import context_of, flag, maybe_viewer, render_statuses
from node.api.mastodon.common import ApiRoutes, json_response, link_header, page
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.home import home_timeline
from node.api.mastodon.queries import Viewer, public_posts, read_page, status_select, unmuted
from node.db.models import Status, StatusTag, Tag
from node.services.text import normalise_tag

__all__ = ["routes"]

routes = ApiRoutes()


async def _respond(
    request: web.Request,
    viewer: Viewer | None,
    query: Select[Any],
    column: Any,
    context: str = "public",
) -> web.StreamResponse:
    wanted = page(request)
    ctx = context_of(request)
    async with ctx.sessions() as session:
        rows = await read_page(session, query, column, wanted, "s_id")
        entities = await render_statuses(session, ctx, viewer, rows)
        entities = await apply_filters(session, viewer, context, entities)
    return json_response(entities, headers=link_header(request, [row["s_id"] for row in rows]))


def _public(query: Select[Any], request: web.Request, viewer: Viewer | None) -> Select[Any]:
    """Public posts (and local-only ones for this node's people), ``local``/``remote`` applied.

    As in Mastodon, boosts and replies to others stay out of the public timelines.
    """
    if viewer is not None:  # as Mastodon, muted people stay out of the public timelines too
        query = query.where(unmuted(viewer))
    query = public_posts(query, viewer)
    local = flag(request.query.get("local"), "local")
    remote = flag(request.query.get("remote"), "remote")
    if local and remote:
        return query.where(false())
    if local:
        query = query.where(Status.local.is_(True))
    if remote:
        query = query.where(Status.local.is_(False))
    if flag(request.query.get("only_media"), "only_media"):
        query = query.where(Status.attachments_json != "[]")
    return query


@routes.get("/api/v1/timelines/home")
async def home(request: web.Request) -> web.StreamResponse:
    """The caller's home timeline: what was fanned out to them, newest first, muted people left out."""
    return await home_timeline(request)


@routes.get("/api/v1/timelines/public")
async def public(request: web.Request) -> web.StreamResponse:
    """The organisation-wide timeline, or this node's (``local``) or the peers' (``remote``)."""
    viewer = await maybe_viewer(request, "read:statuses")
    return await _respond(
        request, viewer, _public(status_select(viewer), request, viewer), Status.id
    )


@routes.get("/api/v1/timelines/tag/{hashtag}")
async def tag(request: web.Request) -> web.StreamResponse:
    """Public posts with a hashtag (matched as hashtags are stored: folded, lower case)."""
    viewer = await maybe_viewer(request, "read:statuses")
    name = normalise_tag(request.match_info["hashtag"].lstrip("#"))[:255]
    query = (
        status_select(viewer)
        .join(StatusTag, StatusTag.status_id == Status.id)
        .join(Tag, Tag.id == StatusTag.tag_id)
        .where(Tag.name == name)
    )
    return await _respond(request, viewer, _public(query, request, viewer), Status.id)
