"""Discovery: WebFinger (RFC 7033), NodeInfo 2.0/2.1, host-meta, and /health."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from sqlalchemy import func, select

from activitypub.nodeinfo import (
    host_meta_xml,
    nodeinfo_content_type,
    nodeinfo_document,
    nodeinfo_links,
)
from activitypub.webfinger import build_jrd, parse_resource
from node.api.common import error
from node.appkeys import CONTEXT, SETTINGS
from node.db.models import Account, Status
from node.services.accounts import INSTANCE_USERNAME, local_account
from node.services.node_settings import get_description

__all__ = ["routes"]

routes = web.RouteTableDef()
_CORS = {"Access-Control-Allow-Origin": "*"}


@routes.get("/.well-known/webfinger")
async def webfinger(request: web.Request) -> web.StreamResponse:
    """WebFinger for ``acct:user@host``, ``user@host``, the actor URL or the profile URL (D1–D4, D7)."""
    ctx = request.app[CONTEXT]
    resource = request.query.get("resource", "").strip()
    if not resource:
        return web.json_response({"error": "resource is required"}, status=400, headers=_CORS)
    username: str | None = None
    for prefix in (ctx.urls.actor(""), ctx.urls.profile("")):
        if resource.startswith(prefix):
            username = resource[len(prefix) :]
    if resource == ctx.urls.instance_actor:
        username = INSTANCE_USERNAME
    if username is None:
        try:
            username, host = parse_resource(resource)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400, headers=_CORS)
        if host.lower() != ctx.domain:
            return web.json_response(
                {"error": "not a user of this node"}, status=404, headers=_CORS
            )
        if username.lower() == ctx.domain:
            username = INSTANCE_USERNAME  # acct:host@host is the instance actor (D7)
    async with ctx.sessions() as session:
        account = await local_account(session, ctx.domain, username)
    if account is None:
        return web.json_response(
            {"error": "no such account"},
            status=404,
            headers=_CORS | {"Cache-Control": "max-age=180"},
        )
    if account.suspended_at is not None:
        return web.json_response({"error": "account suspended"}, status=410, headers=_CORS)
    shown = ctx.domain if account.username == INSTANCE_USERNAME else account.username
    jrd = build_jrd(
        username=shown,
        domain=ctx.domain,
        actor_url=account.uri,
        profile_url=account.url or account.uri,
        subscribe_template=f"{ctx.urls.base}/authorize_interaction?uri={{uri}}",
    )
    return web.json_response(
        jrd,
        content_type="application/jrd+json",
        headers=_CORS | {"Cache-Control": "public, max-age=259200"},
    )


@routes.get("/.well-known/nodeinfo")
async def nodeinfo_index(request: web.Request) -> web.StreamResponse:
    """The NodeInfo links (D9)."""
    return web.json_response(nodeinfo_links(request.app[CONTEXT].urls.base), headers=_CORS)


@routes.get(r"/nodeinfo/{version:2\.[01]}")
async def nodeinfo(request: web.Request) -> web.StreamResponse:
    """NodeInfo 2.0 and 2.1 at their exact paths (D10, D11)."""
    ctx = request.app[CONTEXT]
    settings = request.app[SETTINGS]
    version: Literal["2.0", "2.1"] = "2.0" if request.match_info["version"] == "2.0" else "2.1"
    async with ctx.sessions() as session:
        users = await session.scalar(
            select(func.count())
            .select_from(Account)
            .where(Account.local.is_(True), Account.actor_type != "Application")
        )
        posts = await session.scalar(
            select(func.count())
            .select_from(Status)
            .where(Status.local.is_(True), Status.reblog_of_id.is_(None))
        )
        description = await get_description(session, settings.node.description)
    document = nodeinfo_document(
        version,
        software_name="kantine",
        software_version="0.1.0",
        open_registrations=False,
        total_users=users or 0,
        active_month=users or 0,
        active_halfyear=users or 0,
        local_posts=posts or 0,
        metadata={
            "nodeName": settings.node.name,
            "nodeDescription": description,
            "role": settings.node.role,
        },
    )
    response = web.json_response(document, headers=_CORS)
    response.headers["Content-Type"] = nodeinfo_content_type(version)
    return response


@routes.get("/.well-known/host-meta")
async def host_meta(request: web.Request) -> web.StreamResponse:
    """host-meta for legacy software (D8)."""
    return web.Response(
        text=host_meta_xml(request.app[CONTEXT].urls.base),
        content_type="application/xrd+xml",
        headers=_CORS,
    )


@routes.get("/health")
async def health(request: web.Request) -> web.StreamResponse:
    """200 once the database answers: what ``kantine serve`` and load balancers wait for."""
    try:
        async with request.app[CONTEXT].sessions() as session:
            await session.scalar(select(1))
    except Exception as exc:  # any database failure means "not ready"
        return error(503, f"database unavailable: {type(exc).__name__}")
    return web.json_response({"status": "ok", "role": request.app[SETTINGS].node.role})
