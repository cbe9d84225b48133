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
    "BodyTooLarge",
    "activity_json",
    "bearer_grant",
    "error",
    "misdirected",
    "read_body",
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


class BodyTooLarge(Exception):
    """A request body exceeded ``server.max_body_bytes``."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, read until EOF but never more than *limit* bytes (J3, SECURITY.md row 17).

    ``StreamReader.read(n)`` returns whatever one network read brings, so a large body must
    be gathered chunk by chunk; a declared or streamed size over *limit* raises
    :class:`BodyTooLarge` before anything is parsed.
    """
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    while chunk := await request.content.read(min(64 * 1024, limit + 1 - len(body)) or 1):
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def misdirected(request: web.Request) -> str | None:
    """Why a signed request is not for this node, or None.

    A signature covers ``host`` as sent, so a request signed for another node and replayed
    here with that node's ``Host`` verifies; it must still be refused (S8, SECURITY.md row 5).
    """
    base = request.app[SETTINGS].base_url
    ours = host_of(base)
    try:
        theirs = host_of(f"{base.split('://', 1)[0]}://{request.host}/")
    except ValueError:
        return "the request has no valid Host header"
    if theirs != ours:
        return f"the request's host {theirs[:255]} is not this node's host {ours}"
    return None


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
    wrong_host = misdirected(request)
    if wrong_host is not None:
        return error(401, wrong_host)
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
    try:
        host = host_of(signed.key_id)
    except ValueError:
        return error(401, "keyId is not a URL")
    if not ctx.policy.allows(host):
        log.info("signed fetch of %s refused: %s is not a peer", request.path, host)
        return error(403, f"{host} is not a federation peer of this node")
    try:
        known = await ctx.resolver.verified_key(signed)
    except SignatureError as exc:
        return error(401, exc.reason)
    except ActivityPubError as exc:
        return error(401, f"unable to fetch key {signed.key_id}: {exc.reason}")
    return known


def ctx_window(request: web.Request) -> timedelta:
    """The accepted clock skew for signatures, from the settings."""
    return timedelta(seconds=request.app[SETTINGS].federation.signature_window_seconds)
