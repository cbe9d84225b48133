"""ActivityPub server-to-server routes: actors, objects, collections, inboxes (authorized fetch)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from node.api.common import (
    BodyTooLarge,
    activity_json,
    bearer_grant,
    error,
    misdirected,
    read_body,
    received_url,
    signed_peer,
)
from node.appkeys import CONTEXT, INBOX, SETTINGS
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, OutboxActivity, Pin, Status, Tombstone
from node.federation.actors import KnownKey
from node.federation.documents import actor_document, ordered_collection
from node.services.accounts import INSTANCE_USERNAME, local_account
from node.services.profile import person_document
from node.services.statuses import note_for
from node.services.visibility import can_see

__all__ = ["routes"]

routes = web.RouteTableDef()
_PAGE = 40


async def _account_or_404(session: AsyncSession, request: web.Request) -> Account:
    ctx = request.app[CONTEXT]
    name = request.match_info["username"]
    account = await local_account(session, ctx.domain, name)
    if account is None or account.username == INSTANCE_USERNAME:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such account"}), content_type="application/json"
        )
    if account.suspended_at is not None:
        raise web.HTTPGone(
            text=json.dumps({"error": "account suspended"}), content_type="application/json"
        )
    return account


@routes.get("/users/{username}")
async def get_actor(request: web.Request) -> web.StreamResponse:
    """The actor document: public even with authorized fetch, so keys can be fetched (D13, D15)."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await _account_or_404(session, request)
        document = await person_document(ctx, session, account)
    return activity_json(document, cache="max-age=180")


@routes.get("/actor")
async def get_instance_actor(request: web.Request) -> web.StreamResponse:
    """The instance actor, fetchable without a signature (D20)."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await local_account(session, ctx.domain, INSTANCE_USERNAME)
    if account is None:
        return error(404, "no instance actor")
    return activity_json(actor_document(account, ctx.urls), cache="max-age=180")


async def _viewer(request: web.Request) -> KnownKey | Account | web.Response | None:
    """Who is reading: a local person with a bearer token, a peer with a signed GET, or nobody
    (only when authorized fetch is switched off); a 401/403 response otherwise."""
    grant = await bearer_grant(request)
    if grant is not None and grant.allows("read"):
        return grant.account
    if "Signature" not in request.headers and not request.app[SETTINGS].federation.authorized_fetch:
        return None
    return await signed_peer(request)


async def _may_see(
    session: AsyncSession, status: Status, viewer: KnownKey | Account | None
) -> bool:
    """Visibility on the ActivityPub GET path (SECURITY.md row 11)."""
    if viewer is None:
        return await can_see(session, status, None)
    if isinstance(viewer, Account):
        return await can_see(session, status, viewer.id, viewer_local=viewer.local)
    return await can_see(session, status, viewer.account_id)


@routes.get(r"/users/{username}/statuses/{status_id:\d+}")
@routes.get(r"/users/{username}/statuses/{status_id:\d+}/activity")
async def get_status(request: web.Request) -> web.StreamResponse:
    """A post as a Note (or its Create/Announce), behind authorized fetch; 410 once deleted (J8)."""
    ctx = request.app[CONTEXT]
    path = f"{ctx.urls.base}{request.path}"
    uri = path.removesuffix("/activity")
    async with ctx.sessions() as session:
        owner = await _account_or_404(session, request)
        viewer = await _viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        status = (
            await session.execute(select(Status).where(Status.uri == uri))
        ).scalar_one_or_none()
        if status is None:
            status = (
                await session.execute(select(Status).where(Status.uri == path))
            ).scalar_one_or_none()
        if status is None or status.account_id != owner.id:
            if await session.get(Tombstone, uri) is not None:
                return activity_json(
                    {
                        "@context": "https://www.w3.org/ns/activitystreams",
                        "id": uri,
                        "type": "Tombstone",
                    },
                    status=410,
                )
            return error(404, "not found")
        if not await _may_see(session, status, viewer):
            return error(404, "not found")
        if status.reblog_of_id is not None:
            original = await session.get(Status, status.reblog_of_id)
            assert original is not None
            return activity_json(
                {
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "id": status.uri,
                    "type": "Announce",
                    "actor": owner.uri,
                    "object": original.uri,
                    "to": ["https://www.w3.org/ns/activitystreams#Public"],
                    "cc": [owner.followers_url],
                }
            )
        note = await note_for(ctx, session, status, owner)
    if request.path.endswith("/activity"):
        return activity_json(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{status.uri}/activity",
                "type": "Create",
                "actor": owner.uri,
                "to": note["to"],
                "cc": note["cc"],
                "object": note,
            }
        )
    return activity_json({"@context": "https://www.w3.org/ns/activitystreams", **note})


async def _follow_collection(request: web.Request, *, followers: bool) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        owner = await _account_or_404(session, request)
        viewer = await _viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        mine, theirs = (
            (Follow.target_account_id, Follow.account_id)
            if followers
            else (Follow.account_id, Follow.target_account_id)
        )
        where = (mine == owner.id, Follow.state == "accepted")
        total = await session.scalar(select(func.count()).select_from(Follow).where(*where)) or 0
        collection_id = owner.followers_url if followers else owner.following_url
        assert collection_id is not None
        if "page" not in request.query:
            return activity_json(ordered_collection(collection_id, total=total))
        offset = _page_number(request) * _PAGE
        uris = (
            (
                await session.execute(
                    select(Account.uri)
                    .join(Follow, theirs == Account.id)
                    .where(*where)
                    .order_by(Follow.id)
                    .offset(offset)
                    .limit(_PAGE)
                )
            )
            .scalars()
            .all()
        )
    page = f"{collection_id}?page={_page_number(request)}"
    more = offset + _PAGE < total
    return activity_json(
        ordered_collection(
            collection_id, total=total, items=uris, page=page,
            next_page=f"{collection_id}?page={_page_number(request) + 1}" if more else None,
        )
    )  # fmt: skip


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "0")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 0


@routes.get("/users/{username}/followers")
async def get_followers(request: web.Request) -> web.StreamResponse:
    """Followers (D19); members only to signed peers."""
    return await _follow_collection(request, followers=True)


@routes.get("/users/{username}/following")
async def get_following(request: web.Request) -> web.StreamResponse:
    """Following (D19)."""
    return await _follow_collection(request, followers=False)


@routes.get("/users/{username}/collections/featured")
async def get_featured(request: web.Request) -> web.StreamResponse:
    """Pinned posts as Notes (D19): only public and unlisted posts can be pinned (C20)."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        owner = await _account_or_404(session, request)
        pinned = (
            await session.execute(
                select(Status)
                .join(Pin, Pin.status_id == Status.id)
                .where(Pin.account_id == owner.id, Status.visibility.in_(("public", "unlisted")))
                .order_by(Pin.id.desc())
            )
        ).scalars()
        items: list[Any] = [await note_for(ctx, session, status, owner) for status in pinned]
    assert owner.featured_url is not None
    return activity_json(ordered_collection(owner.featured_url, total=len(items), items=items))


@routes.get("/users/{username}/outbox")
async def get_outbox(request: web.Request) -> web.StreamResponse:
    """The outbox: public activities to peers, everything to the owner (AP §5.1)."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        owner = await _account_or_404(session, request)
        viewer = await _viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        is_owner = isinstance(viewer, Account) and viewer.id == owner.id
        where = [OutboxActivity.account_id == owner.id]
        if not is_owner:
            where.append(OutboxActivity.public.is_(True))
        total = (
            await session.scalar(select(func.count()).select_from(OutboxActivity).where(*where))
            or 0
        )
        assert owner.outbox_url is not None
        if "page" not in request.query and "max_id" not in request.query:
            return activity_json(ordered_collection(owner.outbox_url, total=total))
        max_id = request.query.get("max_id", "")
        if max_id.isdigit() and len(max_id) < 25:
            where.append(OutboxActivity.id < int(max_id))
        rows = (
            (
                await session.execute(
                    select(OutboxActivity)
                    .where(*where)
                    .order_by(OutboxActivity.id.desc())
                    .limit(_PAGE)
                )
            )
            .scalars()
            .all()
        )
    items: list[Any] = []
    for row in rows:
        body = json.loads(row.body)
        body.pop("@context", None)
        items.append(body)
    next_page = f"{owner.outbox_url}?max_id={rows[-1].id}" if len(rows) == _PAGE else None
    return activity_json(
        ordered_collection(
            owner.outbox_url,
            total=total,
            items=items,
            # An absolute id: peers check that a page's id is on the origin it came from.
            page=f"{owner.outbox_url}?{request.query_string}",
            next_page=next_page,
        )
    )


async def _receive(request: web.Request, recipient_id: int | None) -> web.StreamResponse:
    limit = request.app[SETTINGS].server.max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        return error(413, f"body larger than {limit} bytes")
    except (ConnectionError, ValueError):
        return error(400, "could not read the body")
    wrong_host = misdirected(request)
    if wrong_host is not None:
        return error(401, wrong_host)
    result = await request.app[INBOX].receive(
        method=request.method,
        url=received_url(request),
        headers=request.headers,
        content_type=request.content_type,
        body=body,
        recipient_id=recipient_id,
    )
    if result.status == 202:
        return web.json_response({"status": result.reason}, status=202)
    return error(result.status, result.reason)


@routes.post("/inbox")
async def post_shared_inbox(request: web.Request) -> web.StreamResponse:
    """The shared inbox (A26)."""
    return await _receive(request, None)


@routes.post("/users/{username}/inbox")
async def post_inbox(request: web.Request) -> web.StreamResponse:
    """A personal inbox; delivery here counts as addressed to that person (A3)."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await local_account(session, ctx.domain, request.match_info["username"])
    if account is None:
        return error(404, "no such account")
    return await _receive(request, account.id)


@routes.post("/actor/inbox")
async def post_instance_inbox(request: web.Request) -> web.StreamResponse:
    """The instance actor's inbox."""
    return await _receive(request, None)
