"""ActivityPub client-to-server (AP §6): people and bots act by POSTing to their outbox."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import select

from activitypub.errors import ActivityPubError, HostNotAllowedError
from activitypub.hosts import host_of
from activitypub.vocabulary import PUBLIC
from activitypub.webfinger import parse_handle, resolve_handle
from node.api.common import BodyTooLarge, activity_json, bearer_grant, error, read_body
from node.appkeys import CONTEXT, SETTINGS
from node.auth.tokens import Grant
from node.db.engine import AsyncSession
from node.db.models import Account, HomeFeedEntry, Status
from node.services import actions
from node.services.actions import ActionError
from node.services.context import NodeContext
from node.services.statuses import PostError, delete_local_status, edit_local_status, post_status
from node.services.visibility import can_see

__all__ = ["routes"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

_MAX_DEPTH = 16


class C2SError(ValueError):
    """A client's activity cannot be carried out; ``status`` is what to answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [
            v if isinstance(v, str) else v.get("id", "") for v in value if isinstance(v, str | dict)
        ]
    return []


def _object_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _visibility(note: dict[str, Any], author: Account) -> str:
    """Visibility from a client's addressing (A18), or Kantine's ``visibility`` extension."""
    explicit = note.get("visibility")
    if isinstance(explicit, str):
        return explicit
    to, cc = _strings(note.get("to")), _strings(note.get("cc"))
    publics = {PUBLIC, "as:Public", "Public"}
    if publics & set(to):
        return "public"
    if publics & set(cc):
        return "unlisted"
    if author.followers_url in to + cc:
        return "private"
    return "direct" if to or cc else "public"


async def _actor_by_reference(ctx: NodeContext, session: AsyncSession, ref: str) -> Account:
    """An account from an actor URL or a handle (``bob@hr.example.org``, ``acct:…``, ``@…``)."""
    if ref.startswith(("http://", "https://")):
        try:
            host = host_of(ref)
        except ValueError:
            raise C2SError(f"not an actor URL: {ref[:200]}") from None
        if host != ctx.domain and not ctx.policy.allows(host):
            raise C2SError(f"{host} is not a federation peer of this node", 403)
        account = await ctx.resolver.account(session, ref)
    else:
        try:
            user, host = parse_handle(ref.removeprefix("acct:"))
        except ValueError as exc:
            raise C2SError(str(exc)) from None
        account = (
            await session.execute(
                select(Account).where(
                    Account.username == user.lower(), Account.domain == host.lower()
                )
            )
        ).scalar_one_or_none()
        if account is None and host.lower() != ctx.domain:
            if not ctx.policy.allows(host.lower()):
                raise C2SError(f"{host} is not a federation peer of this node", 403)
            uri = await resolve_handle(
                ctx.resolver.client, f"{user}@{host}", allow_http=ctx.allow_http
            )
            account = await ctx.resolver.account(session, uri)
    if account is None:
        raise C2SError(f"no such account: {ref}", 404)
    return account


async def _status_by_uri(session: AsyncSession, uri: str | None, me: Account) -> Status:
    """A post *me* may see; one it may not see is as unknown as one that does not exist."""
    status = (
        (await session.execute(select(Status).where(Status.uri == uri))).scalar_one_or_none()
        if uri
        else None
    )
    if status is None or not await can_see(session, status, me.id, viewer_local=me.local):
        raise C2SError(f"unknown post: {uri}", 404)
    return status


def _text_of(note: dict[str, Any]) -> tuple[str, str | None]:
    """(plain text, HTML) from ``source`` (text/plain) or ``content``."""
    source = note.get("source")
    if isinstance(source, dict) and isinstance(source.get("content"), str):
        return source["content"], None
    content = note.get("content")
    if not isinstance(content, str):
        raise C2SError("a Note needs content")
    if "<" in content:
        return content, content
    return content, None


async def _carry_out(
    ctx: NodeContext, session: AsyncSession, me: Account, doc: dict[str, Any]
) -> tuple[int, str]:
    kind = doc.get("type")
    if kind == "Note":
        doc = {"type": "Create", "object": doc}
        kind = "Create"
    obj = doc.get("object")
    if kind == "Create":
        if not isinstance(obj, dict) or obj.get("type") != "Note":
            raise C2SError("Create needs an embedded Note")
        text, html = _text_of(obj)
        reply_to = obj.get("inReplyTo")
        parent = await _status_by_uri(session, reply_to, me) if isinstance(reply_to, str) else None
        mentions = [
            await _actor_by_reference(ctx, session, t["href"])
            for t in obj.get("tag", []) if isinstance(t, dict) and t.get("type") == "Mention" and isinstance(t.get("href"), str)
        ][:50]  # fmt: skip
        status = await post_status(
            ctx, session, me, text,
            visibility=_visibility(obj, me), summary=str(obj.get("summary") or ""),
            sensitive=bool(obj.get("sensitive")), in_reply_to=parent,
            html_content=html, mentions=mentions,
        )  # fmt: skip
        return 201, status.uri
    if kind in {"Follow", "Block"}:
        ref = _object_id(obj)
        if ref is None:
            raise C2SError(f"{kind} needs an object")
        target = await _actor_by_reference(ctx, session, ref)
        if kind == "Follow":
            row = await actions.follow(ctx, session, me, target)
            return 201, row.uri
        await actions.block(ctx, session, me, target)
        return 201, target.uri
    if kind in {"Like", "Announce"}:
        status = await _status_by_uri(session, _object_id(obj), me)
        if kind == "Like":
            await actions.favourite(ctx, session, me, status)
            return 201, status.uri
        boost = await actions.reblog(ctx, session, me, status)
        return 201, boost.uri if boost else status.uri
    if kind == "Undo":
        if not isinstance(obj, dict):
            raise C2SError("Undo needs the embedded activity it undoes")
        inner, target_ref = obj.get("type"), _object_id(obj.get("object"))
        if inner in {"Follow", "Block"} and target_ref:
            target = await _actor_by_reference(ctx, session, target_ref)
            done = await (actions.unfollow if inner == "Follow" else actions.unblock)(
                ctx, session, me, target
            )
        elif inner in {"Like", "Announce"} and target_ref:
            status = await _status_by_uri(session, target_ref, me)
            done = await (actions.unfavourite if inner == "Like" else actions.unreblog)(
                ctx, session, me, status
            )
        else:
            raise C2SError("Undo supports Follow, Block, Like and Announce with an object")
        if not done:
            raise C2SError("there was nothing to undo", 404)
        return 200, target_ref
    if kind in {"Update", "Delete"}:
        status = await _status_by_uri(session, _object_id(obj), me)
        if status.account_id != me.id:
            raise C2SError("you can only change your own posts", 403)
        if kind == "Delete":
            await delete_local_status(ctx, session, me, status)
            return 200, status.uri
        if not isinstance(obj, dict):
            raise C2SError("Update needs the embedded Note")
        text, _html = _text_of(obj)
        summary = obj.get("summary")
        await edit_local_status(
            ctx, session, me, status, text, summary=summary if isinstance(summary, str) else None
        )
        return 200, status.uri
    raise C2SError(f"unsupported activity type {kind!r}", 422)


async def _owner(request: web.Request, scope: str) -> Grant | web.Response:
    grant = await bearer_grant(request)
    if grant is None:
        return error(401, "a valid bearer token is required")
    if grant.account.username != request.match_info["username"].lower():
        return error(403, "this is not your outbox")
    if not grant.allows(scope):
        return error(403, f"this token lacks the {scope} scope")
    return grant


@routes.post("/users/{username}/outbox")
async def post_outbox(request: web.Request) -> web.StreamResponse:
    """Carry out a client's activity (AP §6): Create, Follow, Like, Announce, Undo, Update, Delete, Block."""
    grant = await _owner(request, "write")
    if isinstance(grant, web.Response):
        return grant
    limit = request.app[SETTINGS].server.max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        return error(413, f"body larger than {limit} bytes")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return error(400, "body is not valid JSON")
    if not isinstance(doc, dict):
        return error(400, "expected a JSON object")
    ctx = request.app[CONTEXT]
    try:
        async with ctx.sessions() as session, session.begin():
            me = await session.get(Account, grant.account.id)
            assert me is not None
            status, location = await _carry_out(ctx, session, me, doc)
    except (C2SError, ActionError) as exc:
        return error(exc.status, str(exc))
    except PostError as exc:
        return error(422, str(exc))
    except HostNotAllowedError as exc:
        return error(403, f"not a federation peer of this node: {exc.reason}")
    except ActivityPubError as exc:
        return error(502, f"a peer could not be reached: {exc.reason}")
    response = web.json_response({"id": location}, status=status)
    if status == 201:
        response.headers["Location"] = location
    return response


@routes.get("/users/{username}/inbox")
async def get_inbox(request: web.Request) -> web.StreamResponse:
    """The owner's inbox: what reached their home timeline, newest first, as Create activities."""
    grant = await _owner(request, "read")
    if isinstance(grant, web.Response):
        return grant
    ctx = request.app[CONTEXT]
    max_id = request.query.get("max_id", "")
    query = (
        select(Status, Account)
        .join(HomeFeedEntry, HomeFeedEntry.status_id == Status.id)
        .join(Account, Account.id == Status.account_id)
        .where(HomeFeedEntry.account_id == grant.account.id)
        .order_by(Status.id.desc())
        .limit(40)
    )
    if max_id.isdigit() and len(max_id) < 25:
        query = query.where(Status.id < int(max_id))
    async with ctx.sessions() as session:
        rows = (await session.execute(query)).all()
    items = [
        {
            "id": f"{status.uri}/activity",
            "type": "Announce" if status.reblog_of_id else "Create",
            "actor": author.uri,
            "published": status.published_at.isoformat(),
            "object": {
                "id": status.uri,
                "type": "Note",
                "attributedTo": author.uri,
                "content": status.content,
                "summary": status.summary or None,
                "inReplyTo": status.in_reply_to_uri,
                "visibility": status.visibility,
            },
        }
        for status, author in rows
    ]
    inbox = f"{grant.account.uri}/inbox"
    page: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": str(request.url),
        "type": "OrderedCollectionPage",
        "partOf": inbox,
        "orderedItems": items,
    }
    if len(rows) == 40:
        page["next"] = f"{inbox}?max_id={rows[-1][0].id}"
    return activity_json(page)
