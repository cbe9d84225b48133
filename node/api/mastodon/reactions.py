"""Favourites and boosts of a status, and who made them (PROTOCOL.md C20; SECURITY.md row 12).

Every route first checks that the caller may see the status (404 otherwise); boosting a
followers-only or direct post is refused with 422, as the service refuses it.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from node.api.mastodon.access import (
    account_page,
    acted_on_status,
    context_of,
    maybe_viewer,
    path_id,
    signed_in,
    status_json,
    visible_status,
)
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, page
from node.api.mastodon.queries import account_select, read_page
from node.db.models import Account, Favourite, Status
from node.services import actions
from node.services.actions import ActionError

__all__ = ["routes"]

routes = ApiRoutes()


async def _react(request: web.Request, scopes: tuple[str, ...], action: str) -> web.StreamResponse:
    viewer = await signed_in(request, *scopes)
    ctx = context_of(request)
    status_id = path_id(request)
    async with ctx.sessions() as session, session.begin():
        status = await acted_on_status(session, status_id, viewer)
        answer_id = status.id
        me = await session.get(Account, viewer.id)
        assert me is not None  # the token's account
        try:
            if action == "favourite":
                await actions.favourite(ctx, session, me, status)
            elif action == "unfavourite":
                await actions.unfavourite(ctx, session, me, status)
            elif action == "unreblog":
                await actions.unreblog(ctx, session, me, status)
            else:
                await actions.reblog(ctx, session, me, status)
                # Answer with the boost, whose ``reblog`` is the original (C20).
                answer_id = (
                    await session.scalar(
                        select(Status.id).where(
                            Status.account_id == me.id, Status.reblog_of_id == status.id
                        )
                    )
                    or status.id
                )
        except ActionError as exc:
            raise ApiError(exc.status, str(exc)) from None
    async with ctx.sessions() as session:
        return json_response(await status_json(session, ctx, viewer, answer_id))


@routes.post("/api/v1/statuses/{id}/favourite")
async def favourite(request: web.Request) -> web.StreamResponse:
    """Like a status; answers with it, ``favourited: true``."""
    return await _react(request, ("write:favourites",), "favourite")


@routes.post("/api/v1/statuses/{id}/unfavourite")
async def unfavourite(request: web.Request) -> web.StreamResponse:
    """Undo a like."""
    return await _react(request, ("write:favourites",), "unfavourite")


@routes.post("/api/v1/statuses/{id}/reblog")
async def reblog(request: web.Request) -> web.StreamResponse:
    """Boost a public or unlisted status; answers with the boost."""
    return await _react(request, ("write:statuses",), "reblog")


@routes.post("/api/v1/statuses/{id}/unreblog")
async def unreblog(request: web.Request) -> web.StreamResponse:
    """Undo a boost; answers with the original."""
    return await _react(request, ("write:statuses",), "unreblog")


async def _who(
    request: web.Request,
    cursor: InstrumentedAttribute[int],
    actor: InstrumentedAttribute[int],
    target: InstrumentedAttribute[int | None],
) -> web.StreamResponse:
    """Accounts who reacted to a status the caller may see, newest first, paged by the
    reaction's hidden id through ``Link`` only (C6): *cursor*, *actor* and *target* are
    the reaction table's id, account and status columns."""
    viewer = await maybe_viewer(request, "read:accounts")
    ctx = context_of(request)
    wanted = page(request, default=40, maximum=80)
    async with ctx.sessions() as session:
        status = await visible_status(session, path_id(request), viewer)
        query = account_select(cursor.label("cursor")).join(cursor.class_, actor == Account.id)
        rows = await read_page(session, query.where(target == status.id), cursor, wanted, "cursor")
    return account_page(request, ctx, rows)


@routes.get("/api/v1/statuses/{id}/favourited_by")
async def favourited_by(request: web.Request) -> web.StreamResponse:
    """Who liked a status the caller may see."""
    return await _who(request, Favourite.id, Favourite.account_id, Favourite.status_id)


@routes.get("/api/v1/statuses/{id}/reblogged_by")
async def reblogged_by(request: web.Request) -> web.StreamResponse:
    """Who boosted a status the caller may see."""
    return await _who(request, Status.id, Status.account_id, Status.reblog_of_id)
