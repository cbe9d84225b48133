"""Scheduled posts: ``scheduled_at`` on ``POST /api/v1/statuses`` and
``/api/v1/scheduled_statuses`` (list, show, move, cancel).

A scheduled post is one person's: another person's is 404. Publishing is the node's
worker's job (``node.services.scheduling.Scheduler``, under :data:`SCHEDULER`).
"""

from __future__ import annotations

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
from node.api.mastodon.queries import Viewer, paged
from node.db.engine import AsyncSession
from node.db.models import ScheduledStatus
from node.services.scheduling import (
    PostParams,
    ScheduleError,
    Scheduler,
    reschedule,
    schedule_post,
)

__all__ = ["SCHEDULER", "parse_time", "routes", "schedule", "scheduled_entity"]

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


def scheduled_entity(row: ScheduledStatus) -> dict[str, Any]:
    """A ScheduledStatus entity (``params`` as Mastodon fills them)."""
    post = PostParams.from_json(row.params_json)
    return {
        "id": str(row.id),
        "scheduled_at": datetime_json(row.scheduled_at),
        "params": {
            "text": post.text,
            "poll": None,
            "media_ids": None,
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
        "media_attachments": [],
    }


async def schedule(request: web.Request, viewer: Viewer, post: PostParams) -> web.StreamResponse:
    """Answer ``POST /api/v1/statuses`` with ``scheduled_at``: the ScheduledStatus, or 422."""
    values = await params(request)
    if values.getall("media_ids[]", []) or values.getall("media_ids", []):
        raise ApiError(422, "scheduled posts with media are not supported yet")
    when = parse_time(values.get("scheduled_at"))
    grant = await require(request)
    post = replace(post, application_id=getattr(grant, "app_id", None) or grant.token_id)
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        if post.in_reply_to_id is not None:
            await visible_status(session, post.in_reply_to_id, viewer)
        try:
            row = await schedule_post(session, viewer.id, when, post)
        except ScheduleError as exc:
            raise ApiError(422, str(exc)) from None
        answer = scheduled_entity(row)
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
    return json_response(
        [scheduled_entity(row) for row in rows],
        headers=link_header(request, [row.id for row in rows]),
    )


@routes.get("/api/v1/scheduled_statuses/{id}")
async def show_scheduled(request: web.Request) -> web.StreamResponse:
    """One of the caller's waiting posts."""
    viewer = await signed_in(request, "read:statuses")
    async with context_of(request).sessions() as session:
        return json_response(scheduled_entity(await _own(session, path_id(request), viewer)))


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
        answer = scheduled_entity(row)
    request.app[SCHEDULER].wake()
    return json_response(answer)


@routes.delete("/api/v1/scheduled_statuses/{id}")
async def cancel_scheduled(request: web.Request) -> web.StreamResponse:
    """Cancel a waiting post."""
    viewer = await signed_in(request, "write:statuses")
    async with context_of(request).sessions() as session, session.begin():
        await session.delete(await _own(session, path_id(request), viewer))
    return json_response({})
