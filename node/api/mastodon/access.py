"""Who is asking and what they may touch, for the Mastodon API (PROTOCOL.md C2, C14; SECURITY.md rows 11–12).

Reads that Mastodon serves without a token take an optional grant; a token that is sent
must still be valid (401) and carry the route's scope (403). Whatever the viewer may not
see answers 404, exactly as an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from node.api.mastodon.common import ApiError, json_response, link_header, require
from node.api.mastodon.entities import account_entity, credential_account, status_entity
from node.api.mastodon.queries import Viewer, account_select, status_by_id, viewer_flags
from node.appkeys import CONTEXT
from node.auth.tokens import Grant
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, Status
from node.services.context import NodeContext
from node.services.visibility import can_see

__all__ = [
    "account_by_id",
    "account_page",
    "account_row",
    "acted_on_status",
    "authorize",
    "context_of",
    "credential_json",
    "flag",
    "maybe_viewer",
    "path_id",
    "render_statuses",
    "signed_in",
    "status_json",
    "visible_status",
]


def _has_token(request: web.Request) -> bool:
    return bool(request.headers.get("Authorization") or request.query.get("access_token"))


async def authorize(request: web.Request, *scopes: str) -> tuple[Grant, Viewer]:
    """The caller's grant and viewer: 401 without a valid user token, 403 without any of *scopes*.

    Several scopes are alternatives, as Mastodon lists them (``follow`` or ``write:follows``).
    """
    grant = await require(request)
    account = getattr(grant, "account", None)
    if account is None:  # an app's own token (client credentials) speaks for nobody
        raise ApiError(403, "This method requires an authenticated user")
    if scopes and not any(grant.allows(scope) for scope in scopes):
        raise ApiError(403, "This action is outside the authorized scopes")
    return grant, Viewer(account.id, bool(account.local))


async def signed_in(request: web.Request, *scopes: str) -> Viewer:
    """The viewer of a route that needs a user token with one of *scopes*."""
    return (await authorize(request, *scopes))[1]


async def maybe_viewer(request: web.Request, *scopes: str) -> Viewer | None:
    """The viewer if a token was sent (then it must be valid and scoped), else anonymous."""
    if not _has_token(request):
        return None
    return await signed_in(request, *scopes)


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the path; anything else is as unknown as a missing record (404)."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 19 or int(raw) > 2**63 - 1:
        raise ApiError(404, "Record not found")
    return int(raw)


def flag(value: Any, name: str) -> bool:
    """A boolean parameter as clients spell it: true/false, 1/0, on/off (Mastodon.py sends 1/0)."""
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if text in {"1", "true", "t", "on", "yes"}:
        return True
    if text in {"0", "false", "f", "off", "no"}:
        return False
    raise ApiError(422, f"{name} must be true or false")


async def visible_status(session: AsyncSession, status_id: int, viewer: Viewer | None) -> Status:
    """The status *viewer* may see, or 404 (a boost also needs its original to be visible)."""
    status = await session.get(Status, status_id)
    viewer_id = viewer.id if viewer else None
    local = viewer.local if viewer else False
    if status is None or not await can_see(session, status, viewer_id, viewer_local=local):
        raise ApiError(404, "Record not found")
    if status.reblog_of_id is not None:
        original = await session.get(Status, status.reblog_of_id)
        if original is None or not await can_see(session, original, viewer_id, viewer_local=local):
            raise ApiError(404, "Record not found")
    return status


async def acted_on_status(session: AsyncSession, status_id: int, viewer: Viewer) -> Status:
    """The status an action on *status_id* is about: a boost's original, as Mastodon acts on
    it (C20); 404 for what *viewer* may not see."""
    status = await visible_status(session, status_id, viewer)
    if status.reblog_of_id is not None:
        status = await visible_status(session, status.reblog_of_id, viewer)
    return status


def account_page(request: web.Request, ctx: NodeContext, rows: list[Any]) -> web.Response:
    """A page of accounts (rows with their hidden ``cursor``), paged through ``Link`` (C6)."""
    return json_response(
        [account_entity(row, ctx) for row in rows],
        headers=link_header(request, [row["cursor"] for row in rows]),
    )


async def account_row(session: AsyncSession, account_id: int) -> Any:
    """The Account row (``queries.account_select``) for *account_id*, or 404."""
    row = (
        (await session.execute(account_select().where(Account.id == account_id))).mappings().first()
    )
    if row is None:
        raise ApiError(404, "Record not found")
    return row


async def render_statuses(
    session: AsyncSession, ctx: NodeContext, viewer: Viewer | None, rows: list[Any]
) -> list[dict[str, Any]]:
    """Status entities for *rows* of ``status_select``, with the viewer's flags in one query."""
    ids = [row["s_id"] for row in rows] + [row["o_id"] for row in rows if row["o_id"]]
    flags = await viewer_flags(session, viewer, ids)
    return [status_entity(row, ctx, flags, signed_in=viewer is not None) for row in rows]


async def status_json(
    session: AsyncSession, ctx: NodeContext, viewer: Viewer | None, status_id: int
) -> dict[str, Any]:
    """The Status entity of one status *viewer* may see, or 404."""
    values = {"status_id": status_id}
    if viewer is not None:
        values["viewer_id"] = viewer.id
    query = status_by_id(None if viewer is None else viewer.local)
    rows = (await session.execute(query, values)).mappings().all()
    if not rows:
        raise ApiError(404, "Record not found")
    return (await render_statuses(session, ctx, viewer, list(rows)))[0]


async def credential_json(
    session: AsyncSession, ctx: NodeContext, account_id: int
) -> dict[str, Any]:
    """The CredentialAccount of the caller's own account, with its pending follow requests."""
    row = await account_row(session, account_id)
    requests = await session.scalar(
        select(func.count())
        .select_from(Follow)
        .where(Follow.target_account_id == account_id, Follow.state == "pending")
    )
    return credential_account(row, ctx, int(requests or 0))


def context_of(request: web.Request) -> NodeContext:
    """The node's services for a handler."""
    return request.app[CONTEXT]


async def account_by_id(session: AsyncSession, account_id: int) -> Account:
    """An account that exists and is not suspended, or 404."""
    account = await session.get(Account, account_id)
    if account is None or account.suspended_at is not None:
        raise ApiError(404, "Record not found")
    return account
