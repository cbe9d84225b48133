"""Notifications: list, show, dismiss, clear (PROTOCOL.md C22, C36).

A page is one Core select: the notification, its sender and, when it has one, the status
with everything a Status entity needs; the viewer's flags are one more query.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Select, delete, select
from sqlalchemy.orm import aliased

from node.api.mastodon.access import context_of, path_id, signed_in
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, link_header, page
from node.api.mastodon.entities import notification_entity
from node.api.mastodon.filtering import apply_to_notifications
from node.api.mastodon.muting import quiet
from node.api.mastodon.queries import (
    ORIGINAL,
    ORIGINAL_AUTHOR,
    Viewer,
    account_columns,
    read_page,
    status_columns,
    viewer_flags,
    visible_to,
)
from node.db.engine import AsyncSession
from node.db.models import Account, Notification, Status

__all__ = ["TYPES", "notification_select", "routes"]

routes = ApiRoutes()

#: The notification types Kantine makes; clients skip types they do not know (C36).
TYPES = ("mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update")

_SENDER = aliased(Account, name="sender")


def notification_select(viewer: Viewer) -> Select[Any]:
    """The viewer's notifications with sender and status; a status the viewer can no longer
    see is not shown (the notification stays hidden with it)."""
    return (
        select(
            Notification.id.label("n_id"),
            Notification.type.label("n_type"),
            Notification.created_at.label("n_created_at"),
            *account_columns(_SENDER, "na_"),
            *status_columns(Status, "s_"),
            *account_columns(Account, "a_"),
            *status_columns(ORIGINAL, "o_"),
            *account_columns(ORIGINAL_AUTHOR, "oa_"),
        )
        .select_from(Notification)
        .join(_SENDER, _SENDER.id == Notification.from_account_id)
        .outerjoin(Status, Status.id == Notification.status_id)
        .outerjoin(Account, Account.id == Status.account_id)
        .outerjoin(ORIGINAL, ORIGINAL.id == Status.reblog_of_id)
        .outerjoin(ORIGINAL_AUTHOR, ORIGINAL_AUTHOR.id == ORIGINAL.account_id)
        .where(
            Notification.account_id == viewer.id,
            Notification.type.in_(TYPES),
            quiet(viewer),
            (Notification.status_id.is_(None)) | visible_to(Status, viewer),
        )
    )


async def _render(
    session: AsyncSession, request: web.Request, rows: list[Any], viewer: Viewer
) -> list[dict[str, Any]]:
    ids = [row["s_id"] for row in rows if row["s_id"]] + [
        row["o_id"] for row in rows if row["o_id"]
    ]
    flags = await viewer_flags(session, viewer, ids)
    ctx = context_of(request)
    entities = [notification_entity(row, ctx, flags) for row in rows]
    return await apply_to_notifications(session, viewer, entities)


def _types(request: web.Request, name: str) -> list[str]:
    values = request.query.getall(f"{name}[]", []) + request.query.getall(name, [])
    return [v for value in values for v in value.split(",") if v]


@routes.get("/api/v1/notifications")
async def list_notifications(request: web.Request) -> web.StreamResponse:
    """The caller's notifications, newest first: ``types[]``, ``exclude_types[]``,
    ``account_id`` and paging (40 by default, at most 80)."""
    viewer = await signed_in(request, "read:notifications")
    wanted = page(request, default=40, maximum=80)
    query = notification_select(viewer)
    types = _types(request, "types")
    if types:
        query = query.where(Notification.type.in_(types))
    excluded = _types(request, "exclude_types")
    if excluded:
        query = query.where(Notification.type.not_in(excluded))
    sender = request.query.get("account_id", "")
    if sender:
        if not sender.isdigit() or len(sender) > 19:
            raise ApiError(422, "account_id must be an id")
        query = query.where(Notification.from_account_id == int(sender))
    ctx = context_of(request)
    async with ctx.sessions() as session:
        rows = await read_page(session, query, Notification.id, wanted, "n_id")
        entities = await _render(session, request, rows, viewer)
    return json_response(entities, headers=link_header(request, [row["n_id"] for row in rows]))


@routes.get("/api/v1/notifications/{id}")
async def show_notification(request: web.Request) -> web.StreamResponse:
    """One of the caller's notifications, or 404."""
    viewer = await signed_in(request, "read:notifications")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        query = notification_select(viewer).where(Notification.id == path_id(request))
        rows = list((await session.execute(query)).mappings().all())
        shown = await _render(session, request, rows, viewer) if rows else []
        if not shown:  # unknown, another's, or hidden by a filter
            raise ApiError(404, "Record not found")
        return json_response(shown[0])


@routes.post("/api/v1/notifications/clear")
async def clear(request: web.Request) -> web.StreamResponse:
    """Dismiss all of the caller's notifications."""
    viewer = await signed_in(request, "write:notifications")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        await session.execute(delete(Notification).where(Notification.account_id == viewer.id))
    return json_response({})


@routes.post("/api/v1/notifications/{id}/dismiss")
async def dismiss(request: web.Request) -> web.StreamResponse:
    """Dismiss one of the caller's notifications; another person's is 404."""
    viewer = await signed_in(request, "write:notifications")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        result = await session.execute(
            delete(Notification).where(
                Notification.id == path_id(request), Notification.account_id == viewer.id
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise ApiError(404, "Record not found")
    return json_response({})
