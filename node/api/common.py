"""What every API handler shares: JSON answers, errors, bearer tokens, signed peer requests."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from activitypub.errors import ActivityPubError, SignatureError
from activitypub.hosts import host_of
from activitypub.signatures import parse_signed_request
from node.appkeys import CONTEXT, SETTINGS
from node.auth.tokens import Grant, authenticate
from node.federation.actors import KnownKey

__all__ = [
    "AS2_CONTENT_TYPE",
    "activity_json",
    "bearer_grant",
    "error",
    "received_url",
    "signed_peer",
]

log = logging.getLogger(__name__)

AS2_CONTENT_TYPE = "application/activity+json"


def activity_json(doc: Any, *, status: int = 200, cache: str | None = None) -> web.Response:
    """An ActivityPub document with the AS2 media type."""
    response = web.Response(
        body=json.dumps(doc, ensure_ascii=False).encode(),
        status=status,
        content_type=AS2_CONTENT_TYPE,
        charset="utf-8",
    )
    response.headers["Vary"] = "Accept, Signature"
    if cache:
        response.headers["Cache-Control"] = cache
    return response


def error(status: int, message: str) -> web.Response:
    """``{"error": message}`` with *status*, as Mastodon answers errors."""
    return web.json_response({"error": message}, status=status)


def received_url(request: web.Request) -> str:
    """The URL a peer signed: our public scheme, the Host it sent, the raw path and query."""
    scheme = request.app[SETTINGS].base_url.split("://", 1)[0]
    return f"{scheme}://{request.host}{request.raw_path}"


async def bearer_grant(request: web.Request) -> Grant | None:
    """The grant of an ``Authorization: Bearer`` token, or None."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    secret = header[7:].strip()
    if not secret:
        return None
    async with request.app[CONTEXT].sessions() as session, session.begin():
        return await authenticate(session, secret)


async def signed_peer(request: web.Request) -> KnownKey | web.Response:
    """Authorized fetch: the verified key of an allowlisted peer signing this GET, or a 401/403."""
    ctx = request.app[CONTEXT]
    try:
        signed = parse_signed_request(
            method=request.method,
            url=received_url(request),
            headers=request.headers,
            body=None,
            window=ctx_window(request),
        )
    except SignatureError as exc:
        return error(exc.status, exc.reason)
    host = host_of(signed.key_id)
    if not ctx.policy.allows(host):
        log.info("signed fetch of %s refused: %s is not a peer", request.path, host)
        return error(403, f"{host} is not a federation peer of this node")
    try:
        known = await ctx.resolver.key(signed.key_id)
        signed.verify(known.key)
    except SignatureError as exc:
        fresh = await ctx.resolver.refetch_key(signed.key_id)
        if fresh is None:
            return error(401, exc.reason)
        try:
            signed.verify(fresh.key)
        except SignatureError as again:
            return error(401, again.reason)
        known = fresh
    except ActivityPubError as exc:
        return error(401, f"unable to fetch key {signed.key_id}: {exc.reason}")
    return known


def ctx_window(request: web.Request) -> timedelta:
    """The accepted clock skew for signatures, from the settings."""
    return timedelta(seconds=request.app[SETTINGS].federation.signature_window_seconds)
