"""Follow requests of a locked account: list, authorize, reject (PROTOCOL.md C19; A8, A9).

Authorizing a remote follower sends ``Accept(Follow)``; rejecting one sends
``Reject(Follow)``, so the follower's node drops its pending follow (SECURITY.md row 10:
until then nothing followers-only reaches it).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from node.api.mastodon.access import account_by_id, account_page, context_of, path_id, signed_in
from node.api.mastodon.accounts import relationships_for
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, page
from node.api.mastodon.queries import account_select, read_page
from node.db.models import Account, Follow
from node.services import actions
from node.services.graph import remove_follow

__all__ = ["routes"]

routes = ApiRoutes()


@routes.get("/api/v1/follow_requests")
async def follow_requests(request: web.Request) -> web.StreamResponse:
    """Accounts waiting for the caller's approval, newest first, paged through ``Link`` (C6)."""
    viewer = await signed_in(request, "read:follows", "follow")
    ctx = context_of(request)
    wanted = page(request, default=40, maximum=80)
    query = account_select(Follow.id.label("cursor")).join(
        Follow,
        (Follow.account_id == Account.id)
        & (Follow.target_account_id == viewer.id)
        & (Follow.state == "pending"),
    )
    async with ctx.sessions() as session:
        rows = await read_page(session, query, Follow.id, wanted, "cursor")
    return account_page(request, ctx, rows)


async def _answer(request: web.Request, *, accept: bool) -> web.StreamResponse:
    viewer = await signed_in(request, "write:follows", "follow")
    ctx = context_of(request)
    follower_id = path_id(request)
    async with ctx.sessions() as session, session.begin():
        follower = await account_by_id(session, follower_id)
        pending = (
            await session.execute(
                select(Follow).where(
                    Follow.account_id == follower.id,
                    Follow.target_account_id == viewer.id,
                    Follow.state == "pending",
                )
            )
        ).scalar_one_or_none()
        if pending is None:
            raise ApiError(404, "Record not found")
        me = await session.get(Account, viewer.id)
        assert me is not None  # the token's account
        if accept:
            await actions.accept_follow_request(ctx, session, me, follower)
        else:
            await actions.send_reject(ctx, session, me, follower, pending)
            await remove_follow(session, follower.id, me.id)
    async with ctx.sessions() as session:
        return json_response((await relationships_for(session, viewer, [follower_id]))[0])


@routes.post("/api/v1/follow_requests/{id}/authorize")
async def authorize(request: web.Request) -> web.StreamResponse:
    """Accept a pending follower (*id* is their account) → Relationship."""
    return await _answer(request, accept=True)


@routes.post("/api/v1/follow_requests/{id}/reject")
async def reject(request: web.Request) -> web.StreamResponse:
    """Turn a pending follower away → Relationship."""
    return await _answer(request, accept=False)
