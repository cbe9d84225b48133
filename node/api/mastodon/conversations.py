"""Direct-message conversations: list, mark read, remove (Mastodon's ``/api/v1/conversations``).

A conversation is one person's (``node.services.conversations``); another person's is 404.
Pages go by the last status's id, as Mastodon pages them, with ``Link`` headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select

from node.api.mastodon.access import context_of, path_id, render_statuses, signed_in
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, link_header, page
from node.api.mastodon.entities import account_entity
from node.api.mastodon.queries import Viewer, account_select, paged, status_select
from node.db.engine import AsyncSession
from node.db.models import Account, Conversation, Status
from node.services.context import NodeContext

__all__ = ["conversation_entities", "routes"]

routes = ApiRoutes()


async def conversation_entities(
    session: AsyncSession, ctx: NodeContext, viewer: Viewer, rows: Sequence[Conversation]
) -> list[dict[str, Any]]:
    """Conversation entities (``id``, ``unread``, ``accounts``, ``last_status``): one query
    for the participants and one for the last statuses the viewer may still see."""
    people = {int(p) for row in rows for p in row.participants.split(",") if p}
    accounts = {}
    if people:
        found = await session.execute(account_select().where(Account.id.in_(people)))
        accounts = {r["a_id"]: account_entity(r, ctx) for r in found.mappings()}
    last_ids = [row.last_status_id for row in rows if row.last_status_id is not None]
    statuses: dict[str, dict[str, Any]] = {}
    if last_ids:
        found = await session.execute(status_select(viewer).where(Status.id.in_(last_ids)))
        rendered = await render_statuses(session, ctx, viewer, list(found.mappings()))
        statuses = {entity["id"]: entity for entity in rendered}
    return [
        {
            "id": str(row.id),
            "unread": bool(row.unread),
            "accounts": [
                accounts[int(p)] for p in row.participants.split(",") if p and int(p) in accounts
            ],
            "last_status": statuses.get(str(row.last_status_id)),
        }
        for row in rows
    ]


async def _own(session: AsyncSession, conversation_id: int, viewer: Viewer) -> Conversation:
    found = await session.get(Conversation, conversation_id)
    if found is None or found.account_id != viewer.id:
        raise ApiError(404, "Record not found")
    return found


@routes.get("/api/v1/conversations")
async def conversations(request: web.Request) -> web.StreamResponse:
    """The caller's conversations, the most recently active first (20 a page, at most 40)."""
    viewer = await signed_in(request, "read:statuses")
    wanted = page(request)
    ctx = context_of(request)
    query = select(Conversation).where(
        Conversation.account_id == viewer.id, Conversation.last_status_id.is_not(None)
    )
    async with ctx.sessions() as session:
        found = (await session.scalars(paged(query, Conversation.last_status_id, wanted))).all()
        rows = sorted(found, key=lambda row: row.last_status_id or 0, reverse=True)
        entities = await conversation_entities(session, ctx, viewer, rows)
    cursors = [row.last_status_id for row in rows if row.last_status_id is not None]
    return json_response(entities, headers=link_header(request, cursors))


@routes.post("/api/v1/conversations/{id}/read")
async def read(request: web.Request) -> web.StreamResponse:
    """Mark one of the caller's conversations as read; answers with it."""
    viewer = await signed_in(request, "write:conversations")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        found = await _own(session, path_id(request), viewer)
        found.unread = False
    async with ctx.sessions() as session:
        found = await _own(session, found.id, viewer)
        return json_response((await conversation_entities(session, ctx, viewer, [found]))[0])


@routes.delete("/api/v1/conversations/{id}")
async def remove(request: web.Request) -> web.StreamResponse:
    """Remove a conversation from the caller's list (a new message brings it back)."""
    viewer = await signed_in(request, "write:conversations")
    async with context_of(request).sessions() as session, session.begin():
        found = await _own(session, path_id(request), viewer)
        await session.execute(delete(Conversation).where(Conversation.id == found.id))
    return json_response({})
