"""Scheduled posts: ``scheduled_at`` on ``POST /api/v1/statuses`` and
``/api/v1/scheduled_statuses`` (list, show, move, cancel).

A scheduled post is one person's: another person's is 404. Publishing is the node's
worker's job (``node.services.scheduling.Scheduler``, under :data:`SCHEDULER`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from node.api.mastodon.access import context_of, path_id, signed_in, visible_status
from node.api.mastodon.common import (
    ApiError,
    ApiRoutes,
    datetime_json,
    json_response,
    link_header,
    page,
    params,
    require,
)
from node.api.mastodon.media import media_entity
from node.api.mastodon.queries import Viewer, paged
from node.appkeys import MEDIA
from node.db.engine import AsyncSession
from node.db.models import MediaAttachment, ScheduledStatus
from node.services.media import MediaStore
from node.services.scheduling import (
    PostParams,
    ScheduleError,
    Scheduler,
    check_media,
    reschedule,
    schedule_post,
)

__all__ = ["SCHEDULER", "parse_time", "routes", "schedule", "scheduled_entities"]

routes = ApiRoutes()

#: The application's scheduler (the composition root makes it; its task runs with workers).
SCHEDULER = web.AppKey("scheduler", Scheduler)


def parse_time(value: Any) -> datetime:
    """An ISO 8601 time as clients send ``scheduled_at``, or 422."""
    if not isinstance(value, str) or len(value) > 64:
        raise ApiError(422, "scheduled_at must be an ISO 8601 time")
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "scheduled_at must be an ISO 8601 time") from None


async def scheduled_entities(
    session: AsyncSession, store: MediaStore, rows: Sequence[ScheduledStatus]
) -> list[dict[str, Any]]:
    """ScheduledStatus entities, their uploads loaded in one query."""
    posts = [PostParams.from_json(row.params_json) for row in rows]
    wanted = {i for post in posts for i in post.media_ids}
    media = {}
    if wanted:
        found = await session.scalars(select(MediaAttachment).where(MediaAttachment.id.in_(wanted)))
        media = {m.id: media_entity(store, m) for m in found}
    return [
        scheduled_entity(row, post, [media[i] for i in post.media_ids if i in media])
        for row, post in zip(rows, posts, strict=True)
    ]


def scheduled_entity(
    row: ScheduledStatus, post: PostParams, media: list[dict[str, Any]]
) -> dict[str, Any]:
    """A ScheduledStatus entity (``params`` as Mastodon fills them)."""
    return {
        "id": str(row.id),
        "scheduled_at": datetime_json(row.scheduled_at),
        "params": {
            "text": post.text,
            "poll": None,
            "media_ids": [str(i) for i in post.media_ids] or None,
            "sensitive": post.sensitive,
            "spoiler_text": post.spoiler_text,
            "visibility": post.visibility,
            "scheduled_at": None,
            "in_reply_to_id": None if post.in_reply_to_id is None else str(post.in_reply_to_id),
            "language": post.language,
            "application_id": None if post.application_id is None else str(post.application_id),
            "idempotency": post.idempotency,
            "with_rate_limit": False,
            "allowed_mentions": None,
        },
        "media_attachments": media,
    }


async def schedule(request: web.Request, viewer: Viewer, post: PostParams) -> web.StreamResponse:
    """Answer ``POST /api/v1/statuses`` with ``scheduled_at``: the ScheduledStatus, or 422."""
    values = await params(request)
    when = parse_time(values.get("scheduled_at"))
    grant = await require(request)
    post = replace(post, application_id=getattr(grant, "app_id", None) or grant.token_id)
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        if post.in_reply_to_id is not None:
            await visible_status(session, post.in_reply_to_id, viewer)
        store = request.app[MEDIA]
        try:
            await check_media(session, store, viewer.id, post.media_ids)
            row = await schedule_post(session, viewer.id, when, post)
        except ScheduleError as exc:
            raise ApiError(422, str(exc)) from None
        (answer,) = await scheduled_entities(session, store, [row])
    request.app[SCHEDULER].wake()
    return json_response(answer)


async def _own(session: AsyncSession, row_id: int, viewer: Viewer) -> ScheduledStatus:
    found = await session.get(ScheduledStatus, row_id)
    if found is None or found.account_id != viewer.id:
        raise ApiError(404, "Record not found")
    return found


@routes.get("/api/v1/scheduled_statuses")
async def all_scheduled(request: web.Request) -> web.StreamResponse:
    """The caller's waiting posts, newest scheduling first (20 a page, at most 40)."""
    viewer = await signed_in(request, "read:statuses")
    wanted = page(request)
    query = select(ScheduledStatus).where(ScheduledStatus.account_id == viewer.id)
    async with context_of(request).sessions() as session:
        found = (await session.scalars(paged(query, ScheduledStatus.id, wanted))).all()
        rows = sorted(found, key=lambda row: row.id, reverse=True)
        entities = await scheduled_entities(session, request.app[MEDIA], rows)
    return json_response(entities, headers=link_header(request, [row.id for row in rows]))


@routes.get("/api/v1/scheduled_statuses/{id}")
async def show_scheduled(request: web.Request) -> web.StreamResponse:
    """One of the caller's waiting posts."""
    viewer = await signed_in(request, "read:statuses")
    async with context_of(request).sessions() as session:
        row = await _own(session, path_id(request), viewer)
        (answer,) = await scheduled_entities(session, request.app[MEDIA], [row])
    return json_response(answer)


@routes.put("/api/v1/scheduled_statuses/{id}")
async def move_scheduled(request: web.Request) -> web.StreamResponse:
    """Move a waiting post to another ``scheduled_at`` (≥ 5 minutes ahead)."""
    viewer = await signed_in(request, "write:statuses")
    values = await params(request)
    async with context_of(request).sessions() as session, session.begin():
        row = await _own(session, path_id(request), viewer)
        when = parse_time(values.get("scheduled_at"))
        try:
            await reschedule(session, row, when)
        except ScheduleError as exc:
            raise ApiError(422, str(exc)) from None
        (answer,) = await scheduled_entities(session, request.app[MEDIA], [row])
    request.app[SCHEDULER].wake()
    return json_response(answer)


@routes.delete("/api/v1/scheduled_statuses/{id}")
async def cancel_scheduled(request: web.Request) -> web.StreamResponse:
    """Cancel a waiting post."""
    viewer = await signed_in(request, "write:statuses")
    async with context_of(request).sessions() as session, session.begin():
        await session.delete(await _own(session, path_id(request), viewer))
    return json_response({})
