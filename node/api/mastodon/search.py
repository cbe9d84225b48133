"""Search v2 and account search, with ``resolve=true`` for remote handles and URLs (PROTOCOL.md C19, C23).

Local matches come from the database: accounts by username or display-name prefix, hashtags
by prefix, and statuses the viewer may see (``queries.visible_to``) whose text contains the
query, among the newest :data:`_SCAN` posts only, so a search costs a bounded scan.

``resolve=true`` is how every app opens a profile or post of another department: a
``user@host`` handle goes through WebFinger (``find_account``) and an ``http(s)`` URL is
fetched. Both go through the allowlist first and then the SSRF-guarded federation client
(SECURITY.md rows 9, 13): a host that is not a peer gets no request at all.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, func, or_, select

from activitypub.errors import ActivityPubError
from activitypub.hosts import host_of
from activitypub.vocabulary import ACTOR_TYPES, parse_actor, parse_object
from node.api.mastodon.access import context_of, flag, maybe_viewer, render_statuses
from node.api.mastodon.common import ApiError, ApiRoutes, json_response
from node.api.mastodon.entities import account_entity
from node.api.mastodon.queries import Viewer, account_select, status_select
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, Status, Tag
from node.federation.actors import actor_origin_problem
from node.federation.notes import CONTENT_TYPES, store_note
from node.services.context import NodeContext
from node.services.statuses import find_account
from node.services.text import normalise_tag

__all__ = ["routes", "run_search", "search_accounts"]

log = logging.getLogger(__name__)

routes = ApiRoutes()

#: How many of the newest posts a text search looks through (a bounded scan, not an index).
_SCAN = 5000
_MAX_QUERY = 512
_MAX_OFFSET = 1000
_HANDLE = re.compile(r"@?(?P<user>[A-Za-z0-9_.\-]{1,64})@(?P<host>[A-Za-z0-9.\-:\[\]]{1,253})")
_PLURAL = {"account": "accounts", "status": "statuses"}


def _like(text: str) -> str:
    """*text* with LIKE wildcards escaped (``\\`` is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bounds(request: web.Request) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit") or 20)
        offset = int(request.query.get("offset") or 0)
    except ValueError:
        raise ApiError(422, "limit and offset must be numbers") from None
    return max(1, min(limit, 40)), max(0, min(offset, _MAX_OFFSET))


def _account_match(q: str) -> ColumnElement[bool]:
    prefix = _like(q.lower()) + "%"
    return or_(
        Account.username.like(prefix, escape="\\"),
        func.lower(Account.display_name).like(prefix, escape="\\"),
        func.lower(Account.display_name).like("% " + prefix, escape="\\"),
    )


async def search_accounts(
    ctx: NodeContext,
    session: AsyncSession,
    viewer: Viewer | None,
    q: str,
    *,
    resolve: bool,
    following: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Accounts for *q*: a handle exactly (resolved with WebFinger if asked), else by prefix."""
    q = q.strip()
    query = account_select().where(Account.actor_type != "Application")
    handle = _HANDLE.fullmatch(q)
    if handle:
        user, host = handle["user"], handle["host"].lower()
        account = None
        if resolve and viewer is not None:
            # find_account checks the allowlist before any WebFinger request (SECURITY.md row 9).
            try:
                account = await find_account(ctx, session, user, host)
            except ActivityPubError as exc:
                log.info("search: %s@%s not resolved: %s", user, host, exc.reason)
        if account is not None:
            # An organisation-wide handle (alice@org.example) names Alice on her own node.
            query = query.where(Account.id == account.id)
        else:
            query = query.where(Account.username == user.lower(), Account.domain == host)
    elif q.lstrip("@"):
        query = query.where(_account_match(q.lstrip("@")))
    else:
        return []
    if following and viewer is not None:
        query = query.where(
            Account.id.in_(
                select(Follow.target_account_id).where(
                    Follow.account_id == viewer.id, Follow.state == "accepted"
                )
            )
        )
    query = query.order_by(Account.local.desc(), Account.username).limit(limit).offset(offset)
    rows = list((await session.execute(query)).mappings().all())
    if ctx.directory is not None and viewer is not None and not handle and not following:
        rows += await _directory_rows(ctx, session, q, {r["a_id"] for r in rows}, limit, offset)
    return [account_entity(row, ctx) for row in rows[:limit]]


async def _directory_rows(
    ctx: NodeContext, session: AsyncSession, q: str, seen: set[int], limit: int, offset: int
) -> list[Any]:
    """The directory's people for *q* (issue 5), after the node's own matches.

    Only for the first page: the directory ranks by its own score, which pages do not share.
    """
    if offset or ctx.directory is None:
        return []
    hits = await ctx.directory.hits(q.lstrip("@"), limit=limit)
    ids = await ctx.directory.accounts(session, hits, allows=ctx.policy.allows)
    ids = [i for i in dict.fromkeys(ids) if i not in seen]
    if not ids:
        return []
    found = await session.execute(account_select().where(Account.id.in_(ids)))
    by_id = {row["a_id"]: row for row in found.mappings().all()}
    return [by_id[i] for i in ids if i in by_id]


async def _fetch_url(ctx: NodeContext, session: AsyncSession, url: str) -> tuple[str, int] | None:
    """Fetch an actor or post at *url* from an allowlisted peer: ``("account"|"status", id)``."""
    try:
        host = host_of(url)
    except ValueError:
        return None
    if host == ctx.domain or not ctx.policy.allows(host):
        log.info("search: %s not fetched: host %s is not a federation peer", url, host)
        return None
    client = ctx.resolver.client
    try:
        # fetch_json refuses a document whose id has another origin than the URL (row 3).
        doc = await client.fetch_json(url, signer=ctx.resolver.instance_signer())
        kind = doc.get("type")
        if isinstance(kind, str) and kind in ACTOR_TYPES:  # a list there fails a set lookup
            actor = parse_actor(doc)
            if actor_origin_problem(actor) is not None:
                return None
            account = await ctx.resolver.account(session, actor.id)
            return ("account", account.id) if account is not None else None
        note = parse_object(doc)
    except ActivityPubError as exc:
        log.info("search: %s not fetched: %s", url, exc.reason)
        return None
    if note.id is None or note.type not in CONTENT_TYPES or note.attributed_to is None:
        return None
    if host_of(note.attributed_to) != host_of(note.id):
        log.info("search: %s refused: author of another origin", url)
        return None
    known = await session.scalar(select(Status.id).where(Status.uri == note.id))
    if known is not None:
        return "status", known
    try:
        author = await ctx.resolver.account(session, note.attributed_to)
    except ActivityPubError as exc:
        log.info("search: author of %s refused: %s", url, exc.reason)
        return None
    if author is None or author.suspended_at is not None:
        return None
    stored = await store_note(ctx, session, author, note, fan=False)
    return ("status", stored.id) if stored is not None else None


async def _by_url(
    ctx: NodeContext, session: AsyncSession, url: str, *, resolve: bool
) -> tuple[str, int] | None:
    """A known account or status with this id or URL; fetched when asked and not known."""
    account = await session.scalar(
        select(Account.id).where(or_(Account.uri == url, Account.url == url))
    )
    if account is not None:
        return "account", account
    status = await session.scalar(
        select(Status.id).where(or_(Status.uri == url, Status.url == url)).limit(1)
    )
    if status is not None:
        return "status", status
    return await _fetch_url(ctx, session, url) if resolve else None


async def _statuses(
    ctx: NodeContext, session: AsyncSession, viewer: Viewer, q: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    newest = select(Status.id).order_by(Status.id.desc()).limit(_SCAN)
    query = (
        status_select(viewer)
        .where(
            Status.id.in_(newest.scalar_subquery()),
            Status.reblog_of_id.is_(None),
            Account.suspended_at.is_(None),
            func.lower(Status.content).like("%" + _like(q.lower()) + "%", escape="\\"),
        )
        .order_by(Status.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(query)).mappings().all()
    return await render_statuses(session, ctx, viewer, list(rows))


async def _hashtags(
    ctx: NodeContext, session: AsyncSession, q: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    name = normalise_tag(q.lstrip("#").strip())[:255]
    if not name or not re.fullmatch(r"\w+", name):
        return []
    query = (
        select(Tag.name)
        .where(Tag.name.like(_like(name) + "%", escape="\\"))
        .order_by(func.length(Tag.name), Tag.name)
        .limit(limit)
        .offset(offset)
    )
    names = (await session.execute(query)).scalars().all()
    return [{"name": n, "url": ctx.urls.tag(n), "history": [], "following": False} for n in names]


@routes.get("/api/v2/search")
async def search(request: web.Request) -> web.StreamResponse:
    """``{accounts, statuses, hashtags}`` for ``q`` (C23); statuses need a signed-in viewer."""
    viewer = await maybe_viewer(request, "read:search")
    q = request.query.get("q", "").strip()
    if not q or len(q) > _MAX_QUERY:
        raise ApiError(422, "q must be given (at most 512 characters)")
    kind = request.query.get("type", "")
    if kind not in {"", "accounts", "statuses", "hashtags"}:
        raise ApiError(422, "type must be accounts, statuses or hashtags")
    limit, offset = _bounds(request)
    # As on Mastodon, only a signed-in person makes the server fetch anything.
    resolve = flag(request.query.get("resolve"), "resolve") and viewer is not None
    following = flag(request.query.get("following"), "following")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        result = await run_search(
            ctx, session, viewer, q,
            kind=kind, resolve=resolve, following=following, limit=limit, offset=offset,
        )  # fmt: skip
    return json_response(result)


async def run_search(
    ctx: NodeContext,
    session: AsyncSession,
    viewer: Viewer | None,
    q: str,
    *,
    kind: str = "",
    resolve: bool = False,
    following: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, list[Any]]:
    """``{accounts, statuses, hashtags}`` for *q*: the search of the API and the web pages."""
    result: dict[str, list[Any]] = {"accounts": [], "statuses": [], "hashtags": []}
    if q.startswith(("https://", "http://")):
        found = await _by_url(ctx, session, q, resolve=resolve)
        if found is not None and kind in {"", _PLURAL[found[0]]}:
            await _add_found(ctx, session, viewer, found, result)
        return result
    if kind in {"", "accounts"}:
        result["accounts"] = await search_accounts(
            ctx, session, viewer, q,
            resolve=resolve, following=following, limit=limit, offset=offset,
        )  # fmt: skip
    if kind in {"", "statuses"} and viewer is not None and not _HANDLE.fullmatch(q):
        result["statuses"] = await _statuses(ctx, session, viewer, q, limit, offset)
    if kind in {"", "hashtags"}:
        result["hashtags"] = await _hashtags(ctx, session, q, limit, offset)
    return result


async def _add_found(
    ctx: NodeContext,
    session: AsyncSession,
    viewer: Viewer | None,
    found: tuple[str, int],
    result: dict[str, list[Any]],
) -> None:
    kind, found_id = found
    if kind == "account":
        row = (
            (await session.execute(account_select().where(Account.id == found_id)))
            .mappings()
            .first()
        )
        if row is not None:
            result["accounts"] = [account_entity(row, ctx)]
        return
    rows = (
        (await session.execute(status_select(viewer).where(Status.id == found_id))).mappings().all()
    )
    result["statuses"] = await render_statuses(session, ctx, viewer, list(rows))


@routes.get("/api/v1/accounts/search")
async def accounts_search(request: web.Request) -> web.StreamResponse:
    """Accounts for ``q`` (C19): the accounts part of search v2."""
    viewer = await maybe_viewer(request, "read:accounts")
    q = request.query.get("q", "").strip()
    if not q or len(q) > _MAX_QUERY:
        raise ApiError(422, "q must be given (at most 512 characters)")
    limit, offset = _bounds(request)
    resolve = flag(request.query.get("resolve"), "resolve") and viewer is not None
    following = flag(request.query.get("following"), "following")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        found = await search_accounts(
            ctx, session, viewer, q,
            resolve=resolve, following=following, limit=limit, offset=offset,
        )  # fmt: skip
    return json_response(found)
