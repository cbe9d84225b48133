"""What every Mastodon API handler shares (PROTOCOL.md §6.1, C1–C8).

Parameters from the query, a form, multipart or JSON (C1); bearer tokens and scopes (C2);
errors as ``{"error": …}``; CORS for browser clients (C3); trailing slashes (C4);
``max_id``/``since_id``/``min_id``/``limit`` paging with absolute ``Link`` headers (C6);
timestamps in Mastodon's form (C8).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from node.appkeys import CONTEXT
from node.auth.tokens import Grant, authenticate

__all__ = [
    "ApiError",
    "ApiRoutes",
    "Page",
    "api_error_middleware",
    "cors_middleware",
    "datetime_json",
    "json_response",
    "link_header",
    "page",
    "params",
    "require",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_EXPOSED = "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id"
_CORS_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke", "/.well-known/", "/nodeinfo/")


class ApiError(Exception):
    """An error a client gets as ``{"error": message}`` with *status* (C2)."""

    def __init__(self, status: int, message: str, *, description: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.description = description


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON in ``application/json; charset=utf-8`` (C1)."""
    return web.Response(
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def datetime_json(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, as Mastodon writes it (C8)."""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@web.middleware
async def api_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`ApiError` into Mastodon's error JSON."""
    try:
        return await handler(request)
    except ApiError as exc:
        body: dict[str, str] = {"error": exc.message}
        if exc.description is not None:
            body["error_description"] = exc.description
        return json_response(body, status=exc.status)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS for browser clients (Elk, Phanpy): any origin, no credentials (C3, ASVS 14.5.3)."""
    if not request.path.startswith(_CORS_PREFIXES):
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Authorization, Content-Type, Idempotency-Key"
        )
        response.headers["Access-Control-Max-Age"] = "86400"
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
            response.headers["Access-Control-Allow-Origin"] = "*"
            raise
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    return response


class ApiRoutes(web.RouteTableDef):
    """A route table whose every path also answers with a trailing slash (C4).

    Mastodon.py calls ``/api/v1/instance/``; a redirect would drop a POST body, so both
    spellings are registered.
    """

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        inner = super().route(method, path, **kwargs)

        def register(handler: Handler) -> Handler:
            inner(handler)
            if not path.endswith("/"):
                super(ApiRoutes, self).route(method, path + "/", **kwargs)(handler)
            return handler

        return register


async def params(request: web.Request) -> MultiDictProxy[Any]:
    """Request parameters from the query string and a form, multipart or JSON body (C1).

    JSON objects are flattened the way forms spell them: ``{"media_ids": ["1"]}`` becomes
    ``media_ids[]=1`` and ``{"poll": {"options": ["a"]}}`` becomes ``poll[options][]=a``.
    """
    merged: MultiDict[Any] = MultiDict(request.query)
    if request.method in {"POST", "PUT", "PATCH", "DELETE"} and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(422, "expected a JSON object")
            for key, value in _flatten("", body):
                merged.add(key, value)
        else:
            form = await request.post()
            merged.extend(form)
    return MultiDictProxy(merged)


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for key, inner in value.items():
            out += _flatten(f"{prefix}[{key}]" if prefix else str(key), inner)
        return out
    if isinstance(value, list):
        return [pair for item in value for pair in _flatten(f"{prefix}[]", item)]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, "" if value is None else str(value) if not isinstance(value, str) else value)]


async def require(request: web.Request, scope: str | None = None) -> Grant:
    """The caller's grant: 401 without a valid token, 403 without *scope* (C2, C14)."""
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not secret:
        secret = request.query.get("access_token", "")
    if not secret:
        raise ApiError(401, "The access token is invalid")
    async with request.app[CONTEXT].sessions() as session:
        grant = await authenticate(session, secret)
    if grant is None:
        raise ApiError(401, "The access token is invalid")
    if scope is not None and not grant.allows(scope):
        raise ApiError(403, "This action is outside the authorized scopes")
    return grant


@dataclass(frozen=True)
class Page:
    """A page request: ``max_id``/``since_id``/``min_id`` cursors and a clamped ``limit`` (C6)."""

    max_id: int | None
    since_id: int | None
    min_id: int | None
    limit: int


def _cursor(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise ApiError(422, f"{name} must be an id")
    return int(raw)


def page(request: web.Request, *, default: int = 20, maximum: int = 40) -> Page:
    """The paging parameters; ``limit`` above the maximum is clamped, as Mastodon does."""
    raw = request.query.get("limit", "")
    try:
        limit = int(raw) if raw else default
    except ValueError:
        raise ApiError(422, "limit must be a number") from None
    return Page(
        max_id=_cursor(request, "max_id"),
        since_id=_cursor(request, "since_id"),
        min_id=_cursor(request, "min_id"),
        limit=max(1, min(limit, maximum)),
    )


def link_header(request: web.Request, ids: Sequence[int]) -> dict[str, str]:
    """``Link`` with absolute next (older) and prev (newer) URLs for a newest-first page (C6)."""
    if not ids:
        return {}
    base = request.app[CONTEXT].urls.base
    query = {k: v for k, v in request.query.items() if k not in {"max_id", "since_id", "min_id"}}

    def url(**cursor: int) -> str:
        parts = [f"{k}={v}" for k, v in {**query, **cursor}.items()]
        return f"{base}{request.path}?{'&'.join(parts)}"

    return {"Link": f'<{url(max_id=min(ids))}>; rel="next", <{url(min_id=max(ids))}>; rel="prev"'}
