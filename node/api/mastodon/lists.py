"""Lists and the list timeline (PROTOCOL.md C21; Mastodon's ``/api/v1/lists``).

A list belongs to one person and holds accounts they follow; another person's list is as
unknown as a missing one (404). The list timeline is the owner's home feed narrowed to the
members' posts (so it shows exactly what reached the owner), with the list's replies
policy applied; an ``exclusive`` list takes its members' posts out of the home timeline
(``exclusive_hidden``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.orm import aliased

from node.api.mastodon.access import (
    account_by_id,
    context_of,
    flag,
    path_id,
    render_statuses,
    signed_in,
)
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, link_header, page, params
from node.api.mastodon.entities import account_entity
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.queries import Viewer, account_select, read_page, status_select, unmuted
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, HomeFeedEntry, ListMember, Status, UserList
from node.ids import new_id

__all__ = [
    "MAX_LISTS",
    "REPLIES_POLICIES",
    "exclusive_hidden",
    "list_entity",
    "list_member_filter",
    "owned_list",
    "routes",
]

routes = ApiRoutes()

#: Mastodon's ``replies_policy`` values: replies to anyone followed, to list members, or none.
REPLIES_POLICIES = ("followed", "list", "none")
#: As Mastodon's per-account list limit.
MAX_LISTS = 50
MAX_TITLE = 255


def list_entity(row: UserList) -> dict[str, Any]:
    """A List entity (``id``, ``title``, ``replies_policy``, ``exclusive``)."""
    return {
        "id": str(row.id),
        "title": row.title,
        "replies_policy": row.replies_policy,
        "exclusive": bool(row.exclusive),
    }


async def owned_list(session: AsyncSession, list_id: int, viewer: Viewer) -> UserList:
    """The viewer's own list, or 404 (another person's list is as unknown as a missing one)."""
    found = await session.get(UserList, list_id)
    if found is None or found.account_id != viewer.id:
        raise ApiError(404, "Record not found")
    return found


def exclusive_hidden(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the status's author is on none of the viewer's exclusive lists (for home)."""
    member = aliased(ListMember)
    owned = aliased(UserList)
    return ~exists().where(
        member.account_id == Status.account_id,
        owned.id == member.list_id,
        owned.account_id == viewer.id,
        owned.exclusive.is_(True),
        Status.account_id != viewer.id,
    )


def list_member_filter(chosen: UserList, viewer: Viewer) -> ColumnElement[bool]:
    """SQL: a status belongs on *chosen*'s timeline (member's post, replies policy applied)."""
    member = aliased(ListMember)
    replied_member = aliased(ListMember)
    follow = aliased(Follow)
    is_member = exists().where(member.list_id == chosen.id, member.account_id == Status.account_id)
    # Replies to oneself and to the list's owner show whatever the policy (as Mastodon).
    not_a_reply = or_(
        Status.in_reply_to_account_id.is_(None),
        Status.in_reply_to_account_id == Status.account_id,
        Status.in_reply_to_account_id == viewer.id,
    )
    if chosen.replies_policy == "none":
        replies: ColumnElement[bool] = not_a_reply
    elif chosen.replies_policy == "list":
        replies = or_(
            not_a_reply,
            exists().where(
                replied_member.list_id == chosen.id,
                replied_member.account_id == Status.in_reply_to_account_id,
            ),
        )
    else:
        replies = or_(
            not_a_reply,
            exists().where(
                follow.account_id == viewer.id,
                follow.target_account_id == Status.in_reply_to_account_id,
                follow.state == "accepted",
            ),
        )
    return and_(is_member, replies)


def _settings(values: Any, current: UserList | None) -> tuple[str, str, bool]:
    """Title, replies policy and exclusive from the request, or 422 (nothing changed)."""
    title = values.get("title", None if current is None else current.title)
    if not isinstance(title, str) or not title.strip():
        raise ApiError(422, "Validation failed: Title can't be blank")
    if len(title) > MAX_TITLE:
        raise ApiError(422, f"Validation failed: Title is longer than {MAX_TITLE} characters")
    policy = values.get("replies_policy") or (current.replies_policy if current else "list")
    if policy not in REPLIES_POLICIES:
        raise ApiError(422, f"replies_policy must be one of {', '.join(REPLIES_POLICIES)}")
    raw = values.get("exclusive")
    exclusive = (
        flag(raw, "exclusive") if raw is not None else bool(current.exclusive if current else False)
    )
    return title.strip(), str(policy), exclusive


@routes.get("/api/v1/lists")
async def all_lists(request: web.Request) -> web.StreamResponse:
    """The caller's lists, by title."""
    viewer = await signed_in(request, "read:lists")
    async with context_of(request).sessions() as session:
        rows = (
            await session.scalars(
                select(UserList)
                .where(UserList.account_id == viewer.id)
                .order_by(UserList.title, UserList.id)
            )
        ).all()
    return json_response([list_entity(row) for row in rows])


@routes.post("/api/v1/lists")
async def create_list(request: web.Request) -> web.StreamResponse:
    """Make a list: ``title`` (required), ``replies_policy``, ``exclusive``."""
    viewer = await signed_in(request, "write:lists")
    title, policy, exclusive = _settings(await params(request), None)
    async with context_of(request).sessions() as session, session.begin():
        count = await session.scalar(
            select(func.count()).select_from(UserList).where(UserList.account_id == viewer.id)
        )
        if (count or 0) >= MAX_LISTS:
            raise ApiError(422, f"You can have at most {MAX_LISTS} lists")
        made = UserList(
            id=new_id(),
            account_id=viewer.id,
            title=title,
            replies_policy=policy,
            exclusive=exclusive,
            created_at=datetime.now(UTC),
        )
        session.add(made)
    return json_response(list_entity(made))


@routes.get("/api/v1/lists/{id}")
async def show_list(request: web.Request) -> web.StreamResponse:
    """One of the caller's lists."""
    viewer = await signed_in(request, "read:lists")
    async with context_of(request).sessions() as session:
        return json_response(list_entity(await owned_list(session, path_id(request), viewer)))


@routes.put("/api/v1/lists/{id}")
async def update_list(request: web.Request) -> web.StreamResponse:
    """Rename a list or change its replies policy or exclusiveness."""
    viewer = await signed_in(request, "write:lists")
    values = await params(request)
    async with context_of(request).sessions() as session, session.begin():
        chosen = await owned_list(session, path_id(request), viewer)
        chosen.title, chosen.replies_policy, chosen.exclusive = _settings(values, chosen)
        answer = list_entity(chosen)
    return json_response(answer)


@routes.delete("/api/v1/lists/{id}")
async def delete_list(request: web.Request) -> web.StreamResponse:
    """Delete a list (its members stay followed)."""
    viewer = await signed_in(request, "write:lists")
    async with context_of(request).sessions() as session, session.begin():
        await session.delete(await owned_list(session, path_id(request), viewer))
    return json_response({})


@routes.get("/api/v1/lists/{id}/accounts")
async def list_accounts(request: web.Request) -> web.StreamResponse:
    """The accounts on a list (40 a page; ``limit=0`` for all of them, as Mastodon)."""
    viewer = await signed_in(request, "read:lists")
    ctx = context_of(request)
    everything = request.query.get("limit") == "0"
    wanted = page(request, default=40, maximum=40)
    async with ctx.sessions() as session:
        chosen = await owned_list(session, path_id(request), viewer)
        query = account_select().join(
            ListMember, (ListMember.account_id == Account.id) & (ListMember.list_id == chosen.id)
        )
        if everything:
            rows = list((await session.execute(query.order_by(Account.id.desc()))).mappings())
        else:
            rows = await read_page(session, query, Account.id, wanted, "a_id")
    headers = {} if everything else link_header(request, [row["a_id"] for row in rows])
    return json_response([account_entity(row, ctx) for row in rows], headers=headers)


def _account_ids(values: Any) -> list[int]:
    raw = values.getall("account_ids[]", []) + values.getall("account_ids", [])
    if not raw:
        raise ApiError(422, "account_ids[] is required")
    ids = []
    for value in raw:
        if not isinstance(value, str) or not value.isdigit() or len(value) > 19:
            raise ApiError(404, "Record not found")
        ids.append(int(value))
    return list(dict.fromkeys(ids))


@routes.post("/api/v1/lists/{id}/accounts")
async def add_accounts(request: web.Request) -> web.StreamResponse:
    """Add accounts the caller follows: any other is 404, one already on the list 422 —
    and then none is added (Mastodon's rules)."""
    viewer = await signed_in(request, "write:lists")
    values = await params(request)
    async with context_of(request).sessions() as session, session.begin():
        chosen = await owned_list(session, path_id(request), viewer)
        ids = _account_ids(values)
        followed = set(
            (
                await session.scalars(
                    select(Follow.target_account_id).where(
                        Follow.account_id == viewer.id,
                        Follow.target_account_id.in_(ids),
                        Follow.state == "accepted",
                    )
                )
            ).all()
        )
        for account_id in ids:
            if account_id not in followed:
                raise ApiError(404, "Record not found")
            await account_by_id(session, account_id)
        present = (
            await session.scalars(
                select(ListMember.account_id).where(
                    ListMember.list_id == chosen.id, ListMember.account_id.in_(ids)
                )
            )
        ).all()
        if present:
            raise ApiError(422, "Validation failed: Account has already been taken")
        now = datetime.now(UTC)
        session.add_all(
            ListMember(list_id=chosen.id, account_id=account_id, created_at=now)
            for account_id in ids
        )
    return json_response({})


@routes.delete("/api/v1/lists/{id}/accounts")
async def remove_accounts(request: web.Request) -> web.StreamResponse:
    """Take accounts off a list (ones not on it are ignored)."""
    viewer = await signed_in(request, "write:lists")
    values = await params(request)
    async with context_of(request).sessions() as session, session.begin():
        chosen = await owned_list(session, path_id(request), viewer)
        ids = _account_ids(values)
        await session.execute(
            delete(ListMember).where(
                ListMember.list_id == chosen.id, ListMember.account_id.in_(ids)
            )
        )
    return json_response({})


@routes.get("/api/v1/accounts/{id}/lists")
async def lists_with_account(request: web.Request) -> web.StreamResponse:
    """The caller's lists that hold the account (only the caller's own, never others')."""
    viewer = await signed_in(request, "read:lists")
    async with context_of(request).sessions() as session:
        account = await account_by_id(session, path_id(request))
        rows = (
            await session.scalars(
                select(UserList)
                .join(ListMember, ListMember.list_id == UserList.id)
                .where(UserList.account_id == viewer.id, ListMember.account_id == account.id)
                .order_by(UserList.title, UserList.id)
            )
        ).all()
    return json_response([list_entity(row) for row in rows])


@routes.get("/api/v1/timelines/list/{id}")
async def list_timeline(request: web.Request) -> web.StreamResponse:
    """The members' posts (and boosts) that reached the caller's home feed, newest first."""
    viewer = await signed_in(request, "read:lists")
    wanted = page(request)
    ctx = context_of(request)
    async with ctx.sessions() as session:
        chosen = await owned_list(session, path_id(request), viewer)
        query = (
            status_select(viewer)
            .join(
                HomeFeedEntry,
                (HomeFeedEntry.status_id == Status.id) & (HomeFeedEntry.account_id == viewer.id),
            )
            .where(unmuted(viewer), list_member_filter(chosen, viewer))
        )
        rows = await read_page(session, query, HomeFeedEntry.status_id, wanted, "s_id")
        entities = await render_statuses(session, ctx, viewer, rows)
        entities = await apply_filters(session, viewer, "home", entities)
    return json_response(entities, headers=link_header(request, [row["s_id"] for row in rows]))
