"""Bookmarks, pins and mutes, and the lists of bookmarks, favourites, mutes and blocks
(PROTOCOL.md C19, C20, C21; C6 paging by hidden ids through ``Link`` only).

Bookmarks and mutes are private to the person and never federate. A pin is a public
statement: only one's own public or unlisted posts can be pinned, and they make up the
``featured`` collection peers read (``node.api.federation``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import Select, delete, func, select, update

from node.api.mastodon.access import (
    account_by_id,
    account_page,
    acted_on_status,
    context_of,
    flag,
    path_id,
    render_statuses,
    signed_in,
    status_json,
)
from node.api.mastodon.accounts import relationships_for
from node.api.mastodon.common import (
    ApiError,
    ApiRoutes,
    json_response,
    link_header,
    page,
    params,
)
from node.api.mastodon.queries import account_select, read_page, status_select
from node.db.models import Account, Block, Bookmark, Favourite, Mute, Pin, Status
from node.ids import new_id
from node.services.graph import insert_ignore, set_mark

__all__ = ["MAX_PINS", "routes"]

routes = ApiRoutes()

#: As ``configuration.accounts.max_pinned_statuses`` tells clients (``instance``).
MAX_PINS = 5


async def _mark(
    request: web.Request, scopes: tuple[str, ...], table: Any, on: bool
) -> web.StreamResponse:
    """Add or remove the viewer's bookmark or pin of a status they may see; answer with it."""
    viewer = await signed_in(request, *scopes)
    ctx = context_of(request)
    status_id = path_id(request)
    async with ctx.sessions() as session, session.begin():
        status = await acted_on_status(session, status_id, viewer)
        if table is Pin and on:
            if status.account_id != viewer.id or status.visibility not in {"public", "unlisted"}:
                raise ApiError(422, "Only your own public or unlisted posts can be pinned")
            pins = await session.scalar(
                select(func.count()).select_from(Pin).where(Pin.account_id == viewer.id)
            )
            if (pins or 0) >= MAX_PINS:
                raise ApiError(422, f"You can pin at most {MAX_PINS} posts")
        await set_mark(session, table, viewer.id, status.id, on=on)
        answer = status.id
    async with ctx.sessions() as session:
        return json_response(await status_json(session, ctx, viewer, answer))


@routes.post("/api/v1/statuses/{id}/bookmark")
async def bookmark(request: web.Request) -> web.StreamResponse:
    """Bookmark a status; answers with it, ``bookmarked: true`` (C20)."""
    return await _mark(request, ("write:bookmarks",), Bookmark, True)


@routes.post("/api/v1/statuses/{id}/unbookmark")
async def unbookmark(request: web.Request) -> web.StreamResponse:
    """Remove a bookmark."""
    return await _mark(request, ("write:bookmarks",), Bookmark, False)


@routes.post("/api/v1/statuses/{id}/pin")
async def pin(request: web.Request) -> web.StreamResponse:
    """Pin one's own public or unlisted post to the profile (422 otherwise, as Mastodon)."""
    return await _mark(request, ("write:accounts",), Pin, True)


@routes.post("/api/v1/statuses/{id}/unpin")
async def unpin(request: web.Request) -> web.StreamResponse:
    """Unpin a post."""
    return await _mark(request, ("write:accounts",), Pin, False)


async def _marked_statuses(request: web.Request, scope: str, table: Any) -> web.StreamResponse:
    """The viewer's bookmarked or liked statuses they may still see, newest mark first."""
    viewer = await signed_in(request, scope)
    ctx = context_of(request)
    wanted = page(request)
    query = status_select(viewer, table.id.label("cursor")).join(
        table, (table.status_id == Status.id) & (table.account_id == viewer.id)
    )
    async with ctx.sessions() as session:
        rows = await read_page(session, query, table.id, wanted, "cursor")
        entities = await render_statuses(session, ctx, viewer, list(rows))
    return json_response(entities, headers=link_header(request, [row["cursor"] for row in rows]))


@routes.get("/api/v1/bookmarks")
async def bookmarks(request: web.Request) -> web.StreamResponse:
    """Bookmarked statuses, paged by the bookmark's hidden id through ``Link`` (C21, C6)."""
    return await _marked_statuses(request, "read:bookmarks", Bookmark)


@routes.get("/api/v1/favourites")
async def favourites(request: web.Request) -> web.StreamResponse:
    """Liked statuses, paged by the like's hidden id through ``Link`` (C21, C6)."""
    return await _marked_statuses(request, "read:favourites", Favourite)


async def _account_list(
    request: web.Request, scopes: tuple[str, ...], table: Any
) -> web.StreamResponse:
    viewer = await signed_in(request, *scopes)
    ctx = context_of(request)
    wanted = page(request, default=40, maximum=80)
    query: Select[Any] = account_select(table.id.label("cursor")).join(
        table, (table.target_account_id == Account.id) & (table.account_id == viewer.id)
    )
    async with ctx.sessions() as session:
        rows = await read_page(session, query, table.id, wanted, "cursor")
    return account_page(request, ctx, rows)


@routes.get("/api/v1/mutes")
async def mutes(request: web.Request) -> web.StreamResponse:
    """Muted accounts, paged through ``Link`` (C19)."""
    return await _account_list(request, ("read:mutes", "follow"), Mute)


@routes.get("/api/v1/blocks")
async def blocks(request: web.Request) -> web.StreamResponse:
    """Blocked accounts, paged through ``Link`` (C19)."""
    return await _account_list(request, ("read:blocks", "follow"), Block)


async def _mute(request: web.Request, on: bool) -> web.StreamResponse:
    viewer = await signed_in(request, "write:mutes", "follow")
    ctx = context_of(request)
    target_id = path_id(request)
    raw = (await params(request)).get("notifications") if on else None
    # Mastodon's ``notifications`` option: hide their notifications too (the default).
    hide_notifications = True if raw is None else flag(raw, "notifications")
    async with ctx.sessions() as session, session.begin():
        target = await account_by_id(session, target_id)
        if target.id == viewer.id:
            raise ApiError(422, "You cannot mute yourself")
        if on:
            now = datetime.now(UTC)
            await session.execute(
                insert_ignore(session, Mute).values(
                    id=new_id(now),
                    account_id=viewer.id,
                    target_account_id=target.id,
                    created_at=now,
                    hide_notifications=hide_notifications,
                )
            )
            await session.execute(
                update(Mute)
                .where(Mute.account_id == viewer.id, Mute.target_account_id == target.id)
                .values(hide_notifications=hide_notifications)
            )
        else:
            await session.execute(
                delete(Mute).where(
                    Mute.account_id == viewer.id, Mute.target_account_id == target.id
                )
            )
    async with ctx.sessions() as session:
        return json_response((await relationships_for(session, viewer, [target_id]))[0])


@routes.post("/api/v1/accounts/{id}/mute")
async def mute(request: web.Request) -> web.StreamResponse:
    """Mute: their posts leave the caller's home timeline; nobody is told (C19)."""
    return await _mute(request, True)


@routes.post("/api/v1/accounts/{id}/unmute")
async def unmute(request: web.Request) -> web.StreamResponse:
    """Lift a mute."""
    return await _mute(request, False)
