"""Profile pages of this node's people and of people elsewhere, with follow/unfollow (issue 6).

``/@user`` is someone here, ``/@user@host`` someone on another node (looked up with
WebFinger the first time, as ``/api/v1/accounts/lookup`` does).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from activitypub.errors import ActivityPubError
from node.api.mastodon.access import account_row, render_statuses
from node.api.mastodon.accounts import relationships_for
from node.api.mastodon.common import Page
from node.api.mastodon.entities import account_entity
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.queries import Viewer, read_page, status_select
from node.appkeys import CONTEXT
from node.db.models import Account, Status
from node.services import actions
from node.services.actions import ActionError
from node.services.statuses import find_account
from web.current import require_user, safe_next
from web.feeds import PAGE_SIZE, Feed
from web.forms import cursor, field
from web.render import render

__all__ = ["routes"]

routes = web.RouteTableDef()


def _handle(raw: str) -> tuple[str, str | None]:
    user, _, host = raw.lstrip("@").partition("@")
    if not user or len(raw) > 320:
        raise web.HTTPNotFound()
    return user, host or None


@routes.get("/@{acct}")
async def profile(request: web.Request) -> web.StreamResponse:
    """Someone's profile: name, bio, counts, follow button, their posts."""
    user = require_user(request)
    viewer = Viewer(user.account_id, True)
    name, host = _handle(request.match_info["acct"])
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        if host is not None and host.lower() == ctx.domain:
            host = None
        try:
            account = await find_account(ctx, session, name, host)
        except ActivityPubError:
            account = None
        if account is None or account.suspended_at is not None:
            raise web.HTTPNotFound()
        account_id = account.id
    wanted = Page(max_id=cursor(request, "max_id"), since_id=None, min_id=None, limit=PAGE_SIZE)
    async with ctx.sessions() as session:
        entity: dict[str, Any] = account_entity(await account_row(session, account_id), ctx)
        query = status_select(viewer).where(Status.account_id == account_id)
        rows = await read_page(session, query, Status.id, wanted, "s_id")
        statuses = await render_statuses(session, ctx, viewer, rows)
        statuses = await apply_filters(session, viewer, "account", statuses)
        relationship = (await relationships_for(session, viewer, [account_id]))[0]
    ids = [row["s_id"] for row in rows]
    feed = Feed(statuses, min(ids) if len(ids) >= PAGE_SIZE else None, max(ids) if ids else None)
    return render(
        request,
        "profile.html",
        {
            "account": entity,
            "relationship": relationship,
            "is_me": account_id == user.account_id,
            "feed": feed,
            "stream": None,
        },
    )


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 19:
        raise web.HTTPNotFound()
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        target = await session.get(Account, int(raw))
        if target is None or target.suspended_at is not None or target.id == user.account_id:
            raise web.HTTPNotFound()
        me = await session.get(Account, user.account_id)
        assert me is not None
        try:
            if action == "follow":
                await actions.follow(ctx, session, me, target)
            else:
                await actions.unfollow(ctx, session, me, target)
        except ActionError as exc:
            raise web.HTTPUnprocessableEntity(text=str(exc)) from None
        acct = target.username if target.local else f"{target.username}@{target.domain}"
    raise web.HTTPSeeOther(safe_next(field(form, "next", 2048), f"/@{acct}"))


@routes.post("/accounts/{id}/follow")
async def follow(request: web.Request) -> web.StreamResponse:
    """Follow someone (here or on another node; they may have to accept first)."""
    return await _act(request, "follow")


@routes.post("/accounts/{id}/unfollow")
async def unfollow(request: web.Request) -> web.StreamResponse:
    """Stop following someone."""
    return await _act(request, "unfollow")
