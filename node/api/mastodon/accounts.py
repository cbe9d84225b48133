"""Accounts: profile, lookup by handle, posts, followers, relationships, follow and block (PROTOCOL.md C19, C34, C38).

``lookup?acct=user@host`` resolves a handle this node does not know yet with WebFinger,
so a person can follow someone in another department by handle alone.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import and_, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from activitypub.errors import ActivityPubError
from node.api.mastodon.access import (
    account_by_id,
    account_page,
    account_row,
    context_of,
    credential_json,
    flag,
    maybe_viewer,
    path_id,
    render_statuses,
    signed_in,
)
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, link_header, page
from node.api.mastodon.entities import account_entity, relationship_entity
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.queries import Viewer, account_select, read_page, status_select
from node.db.engine import AsyncSession
from node.db.models import Account, Block, Follow, Mute, Pin, Status, StatusTag, Tag
from node.services import actions
from node.services.actions import ActionError
from node.services.statuses import find_account
from node.services.text import normalise_tag

__all__ = ["relationships_for", "routes"]

routes = ApiRoutes()

_MAX_RELATIONSHIPS = 40


async def relationships_for(
    session: AsyncSession, viewer: Viewer, ids: list[int]
) -> list[dict[str, Any]]:
    """Relationships (C38) of the viewer with each of *ids*: follows, blocks, mutes in one query."""
    me = viewer.id
    query = union_all(
        select(Follow.target_account_id.label("other"), Follow.state.label("kind")).where(
            Follow.account_id == me, Follow.target_account_id.in_(ids)
        ),
        select(Follow.account_id, Follow.state + "_by").where(
            Follow.target_account_id == me, Follow.account_id.in_(ids)
        ),
        select(Block.target_account_id, literal("blocking")).where(
            Block.account_id == me, Block.target_account_id.in_(ids)
        ),
        select(Block.account_id, literal("blocked_by")).where(
            Block.target_account_id == me, Block.account_id.in_(ids)
        ),
        select(Mute.target_account_id, literal("muting")).where(
            Mute.account_id == me, Mute.target_account_id.in_(ids)
        ),
        select(Mute.target_account_id, literal("muting_notifications")).where(
            Mute.account_id == me, Mute.target_account_id.in_(ids), Mute.hide_notifications
        ),
    )
    names = {
        "accepted": "following",
        "pending": "requested",
        "accepted_by": "followed_by",
        "pending_by": "requested_by",
    }
    states: dict[int, set[str]] = {i: set() for i in ids}
    for other, kind in (await session.execute(query)).all():
        states[other].add(names.get(kind, kind))
    return [relationship_entity(i, states[i]) for i in ids]


@routes.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(request: web.Request) -> web.StreamResponse:
    """The caller's own account with ``source`` and ``role`` (CredentialAccount, C19)."""
    viewer = await signed_in(request, "read:accounts", "profile")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        return json_response(await credential_json(session, ctx, viewer.id))


@routes.get("/api/v1/accounts/lookup")
async def lookup(request: web.Request) -> web.StreamResponse:
    """An account by handle: ``user`` here or ``user@host`` anywhere allowed (WebFinger)."""
    viewer = await maybe_viewer(request, "read:accounts")
    del viewer  # any token that is sent must be valid; the answer is the same for all
    acct = request.query.get("acct", "").strip().removeprefix("acct:").lstrip("@")
    user, _, host = acct.partition("@")
    if not user or len(acct) > 512:
        raise ApiError(422, "acct must be a handle such as user or user@host")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        try:
            account = await find_account(ctx, session, user, host or None)
        except ActivityPubError:
            account = None
        if account is None or account.suspended_at is not None:
            raise ApiError(404, "Record not found")
        row = await account_row(session, account.id)
    return json_response(account_entity(row, ctx))


@routes.get("/api/v1/accounts/relationships")
async def relationships(request: web.Request) -> web.StreamResponse:
    """The caller's relationship with each ``id[]`` (C19) → an array."""
    viewer = await signed_in(request, "read:follows", "follow")
    raw = request.query.getall("id[]", []) + request.query.getall("id", [])
    if any(not r.isdigit() or len(r) > 19 for r in raw):
        raise ApiError(422, "id[] must be account ids")
    ids = list(dict.fromkeys(int(r) for r in raw))[:_MAX_RELATIONSHIPS]
    ctx = context_of(request)
    async with ctx.sessions() as session:
        return json_response(await relationships_for(session, viewer, ids))


_MAX_FAMILIAR = 40


async def _account_ids(request: web.Request) -> list[int]:
    """``id[]`` from the query, or from a JSON body as Mastodon.py sends it even on GET."""
    raw: list[Any] = request.query.getall("id[]", []) + request.query.getall("id", [])
    if not raw and request.body_exists and request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the body is not valid JSON") from None
        wanted = body.get("id", body.get("id[]", [])) if isinstance(body, dict) else []
        raw = wanted if isinstance(wanted, list) else [wanted]
    ids = [str(r) for r in raw]
    if any(not r.isdigit() or len(r) > 19 for r in ids):
        raise ApiError(422, "id[] must be account ids")
    return list(dict.fromkeys(int(r) for r in ids))[:_MAX_FAMILIAR]


@routes.get("/api/v1/accounts/familiar_followers")
async def familiar_followers(request: web.Request) -> web.StreamResponse:
    """For each ``id[]``: the accounts the caller follows that follow it too (FamiliarFollowers).

    Unknown and suspended accounts are left out; accounts in a block with the caller either
    way are neither listed nor answered for (an empty list, as if nobody were familiar).
    """
    viewer = await signed_in(request, "read:follows", "follow")
    ids = await _account_ids(request)
    ctx = context_of(request)
    me = viewer.id
    mine = aliased(Follow)
    theirs = aliased(Follow)
    blocked = (
        select(Block.target_account_id)
        .where(Block.account_id == me)
        .union(select(Block.account_id).where(Block.target_account_id == me))
    )
    async with ctx.sessions() as session:
        targets = [
            target
            for target in (
                await session.scalars(
                    select(Account.id).where(
                        Account.id.in_(ids),
                        Account.suspended_at.is_(None),
                        Account.id.not_in(blocked),
                    )
                )
            ).all()
        ]
        query = (
            account_select(theirs.target_account_id.label("familiar_of"))
            .join(mine, and_(mine.target_account_id == Account.id, mine.account_id == me))
            .join(theirs, theirs.account_id == Account.id)
            .where(
                mine.state == "accepted",
                theirs.state == "accepted",
                theirs.target_account_id.in_(targets),
                Account.id.not_in(blocked),
            )
            .order_by(Account.id)
        )
        rows = (await session.execute(query)).mappings().all() if targets else []
    found: dict[int, list[dict[str, Any]]] = {target: [] for target in targets}
    for row in rows:
        found[row["familiar_of"]].append(account_entity(row, ctx))
    return json_response(
        [{"id": str(target), "accounts": found[target]} for target in ids if target in found]
    )


@routes.get("/api/v1/accounts/{id}")
async def show_account(request: web.Request) -> web.StreamResponse:
    """One account (C34)."""
    await maybe_viewer(request, "read:accounts")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        return json_response(account_entity(await account_row(session, path_id(request)), ctx))


@routes.get("/api/v1/accounts/{id}/statuses")
async def account_statuses(request: web.Request) -> web.StreamResponse:
    """An account's posts the caller may see, newest first (C19; ``pinned``: its pinned posts)."""
    viewer = await maybe_viewer(request, "read:statuses")
    ctx = context_of(request)
    account_id = path_id(request)
    wanted = page(request)
    query = status_select(viewer).where(Status.account_id == account_id)
    if flag(request.query.get("exclude_replies"), "exclude_replies"):
        query = query.where(
            or_(
                Status.in_reply_to_account_id.is_(None),
                Status.in_reply_to_account_id == account_id,
            )
        )
    if flag(request.query.get("exclude_reblogs"), "exclude_reblogs"):
        query = query.where(Status.reblog_of_id.is_(None))
    if flag(request.query.get("only_media"), "only_media"):
        query = query.where(Status.attachments_json != "[]")
    tagged = request.query.get("tagged", "")
    if tagged:
        query = query.where(
            Status.id.in_(
                select(StatusTag.status_id)
                .join(Tag, Tag.id == StatusTag.tag_id)
                .where(Tag.name == normalise_tag(tagged)[:255])
            )
        )
    async with ctx.sessions() as session:
        await account_row(session, account_id)
        if flag(request.query.get("pinned"), "pinned"):
            query = query.where(
                Status.id.in_(select(Pin.status_id).where(Pin.account_id == account_id))
            )
        rows = await read_page(session, query, Status.id, wanted, "s_id")
        entities = await render_statuses(session, ctx, viewer, rows)
        entities = await apply_filters(session, viewer, "account", entities)
    return json_response(entities, headers=link_header(request, [row["s_id"] for row in rows]))


async def _graph_page(request: web.Request, *, followers: bool) -> web.StreamResponse:
    await maybe_viewer(request, "read:accounts")
    ctx = context_of(request)
    account_id = path_id(request)
    wanted = page(request, default=40, maximum=80)
    mine, theirs = (
        (Follow.target_account_id, Follow.account_id)
        if followers
        else (Follow.account_id, Follow.target_account_id)
    )
    query = (
        account_select(Follow.id.label("cursor"))
        .join(Follow, and_(theirs == Account.id, mine == account_id))
        .where(Follow.state == "accepted")
    )
    async with ctx.sessions() as session:
        await account_row(session, account_id)
        rows = await read_page(session, query, Follow.id, wanted, "cursor")
    return account_page(request, ctx, rows)


@routes.get("/api/v1/accounts/{id}/followers")
async def followers(request: web.Request) -> web.StreamResponse:
    """Who follows the account (accepted follows), paged through ``Link`` (C6)."""
    return await _graph_page(request, followers=True)


@routes.get("/api/v1/accounts/{id}/following")
async def following(request: web.Request) -> web.StreamResponse:
    """Whom the account follows (accepted follows), paged through ``Link`` (C6)."""
    return await _graph_page(request, followers=False)


async def _act(request: web.Request, scopes: tuple[str, ...], action: str) -> web.StreamResponse:
    viewer = await signed_in(request, *scopes)
    ctx = context_of(request)
    target_id = path_id(request)
    async with ctx.sessions() as session, session.begin():
        target = await account_by_id(session, target_id)
        me = await session.get(Account, viewer.id)
        assert me is not None  # the token's account
        try:
            if action == "follow":
                await actions.follow(ctx, session, me, target)
            elif action == "unfollow":
                await actions.unfollow(ctx, session, me, target)
            elif action == "block":
                await actions.block(ctx, session, me, target)
            else:
                await actions.unblock(ctx, session, me, target)
        except ActionError as exc:
            raise ApiError(exc.status, str(exc)) from None
    async with ctx.sessions() as session:
        return json_response((await relationships_for(session, viewer, [target_id]))[0])


@routes.post("/api/v1/accounts/{id}/follow")
async def follow(request: web.Request) -> web.StreamResponse:
    """Follow; a remote or locked account answers later, so ``requested`` may be true first."""
    return await _act(request, ("write:follows", "follow"), "follow")


@routes.post("/api/v1/accounts/{id}/unfollow")
async def unfollow(request: web.Request) -> web.StreamResponse:
    """Stop following."""
    return await _act(request, ("write:follows", "follow"), "unfollow")


@routes.post("/api/v1/accounts/{id}/block")
async def block(request: web.Request) -> web.StreamResponse:
    """Block: follows end both ways."""
    return await _act(request, ("write:blocks", "follow"), "block")


@routes.post("/api/v1/accounts/{id}/unblock")
async def unblock(request: web.Request) -> web.StreamResponse:
    """Lift a block."""
    return await _act(request, ("write:blocks", "follow"), "unblock")
