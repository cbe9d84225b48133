"""The OAuth 2 token, revocation and metadata endpoints (PROTOCOL.md C11–C14).

``POST /oauth/token`` (RFC 6749 §4.1.3, §4.3, §4.4, §6; PKCE RFC 7636), ``POST /oauth/revoke``
(RFC 7009), ``GET /.well-known/oauth-authorization-server`` (RFC 8414) and the OIDC-style
``GET /oauth/userinfo``. Client authentication by body or HTTP Basic (RFC 6749 §2.3.1). The
password grant is throttled per address and per account (SECURITY.md row 21).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from node.api.mastodon.common import ApiRoutes, json_response, params, require
from node.appkeys import AUTH, CONTEXT
from node.auth.oauth import (
    CodeReused,
    OAuthError,
    authenticate_client,
    check_password,
    client_credentials_grant,
    exchange_code,
    password_grant,
    refresh_grant,
    revoke,
)
from node.auth.ratelimit import RateLimited
from node.auth.scopes import ALL_SCOPES, TOP_LEVEL_SCOPES
from node.auth.tokens import IssuedToken, revoke_token
from node.auth.two_factor import is_enabled as two_factor_enabled
from node.db.engine import AsyncSession
from node.db.models import OAuthApp

__all__ = ["client_address", "rate_limited", "routes"]

routes = ApiRoutes()

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_GRANTS = ["authorization_code", "password", "client_credentials", "refresh_token"]


def client_address(request: web.Request) -> str:
    """The address the limiter counts (the peer; a reverse proxy must pass it through)."""
    return request.remote or "unknown"


def rate_limited(refused: RateLimited) -> web.Response:
    """429 with ``X-RateLimit-*`` (C7) as JSON."""
    return json_response(
        {"error": "Too many requests"}, status=429, headers=refused.headers() | _NO_STORE
    )


def _oauth_error(exc: OAuthError, *, basic: bool = False) -> web.Response:
    headers = dict(_NO_STORE)
    if exc.error == "invalid_client" and basic:
        headers["WWW-Authenticate"] = 'Basic realm="kantine"'
    return json_response(
        {"error": exc.error, "error_description": exc.description},
        status=exc.status,
        headers=headers,
    )


def _client_credentials(request: web.Request, values: Mapping[str, Any]) -> tuple[str, str, bool]:
    """``(client_id, client_secret, by_basic)`` from the Basic header or the body."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic credentials", status=401) from None
        client_id, sep, secret = raw.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "Malformed Basic credentials", status=401)
        return unquote_plus(client_id), unquote_plus(secret), True
    return str(values.get("client_id", "")), str(values.get("client_secret", "")), False


def _token_json(issued: IssuedToken) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        # Every requested scope, as asked for: Mastodon.py raises otherwise (C11).
        "scope": " ".join(issued.scopes),
        "created_at": int(issued.created_at.timestamp()),
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return body


async def _grant(
    request: web.Request, session: AsyncSession, app: OAuthApp, values: Mapping[str, Any]
) -> IssuedToken | web.Response:
    def value(name: str) -> str:
        return str(values.get(name, ""))

    grant_type = value("grant_type")
    if grant_type == "authorization_code":
        return await exchange_code(
            session, app, value("code"), value("redirect_uri"), value("code_verifier")
        )
    if grant_type == "password":
        limiter = request.app[AUTH].limiter
        refused = limiter.check(client_address(request), value("username"))
        if refused is not None:
            return rate_limited(refused)
        ctx = request.app[CONTEXT]
        account = await check_password(session, ctx.domain, value("username"), value("password"))
        # The grant has no way to ask for a two-factor code, so such accounts are refused as
        # Mastodon does, with the same message as a wrong password (no oracle for guessing).
        if account is not None and await two_factor_enabled(session, account.id):
            account = None
        limiter.record(value("username"), success=account is not None)
        if account is None:
            raise OAuthError(
                "invalid_grant",
                "The user name or password is wrong, or the account needs a two-factor code",
            )
        return await password_grant(session, app, account, value("scope"))
    if grant_type == "client_credentials":
        return await client_credentials_grant(session, app, value("scope"))
    if grant_type == "refresh_token":
        return await refresh_grant(session, app, value("refresh_token"), value("scope"))
    raise OAuthError("unsupported_grant_type", "grant_type is not supported")


@routes.post("/oauth/token")
async def token(request: web.Request) -> web.StreamResponse:
    """Issue a token for a code (with PKCE), a password, client credentials or a refresh (C11)."""
    values = await params(request)
    basic = False
    try:
        client_id, secret, basic = _client_credentials(request, values)
        async with request.app[CONTEXT].sessions() as session:
            try:
                async with session.begin():
                    app = await authenticate_client(session, client_id, secret)
                    outcome = await _grant(request, session, app, values)
            except CodeReused as exc:
                if exc.token_id is not None:
                    async with session.begin():
                        await revoke_token(session, exc.token_id)
                raise
    except OAuthError as exc:
        return _oauth_error(exc, basic=basic)
    if isinstance(outcome, web.Response):
        return outcome
    return json_response(_token_json(outcome), headers=_NO_STORE)


@routes.post("/oauth/revoke")
async def revoke_endpoint(request: web.Request) -> web.StreamResponse:
    """Revoke an access or refresh token of the calling client (C12, RFC 7009)."""
    values = await params(request)
    basic = False
    try:
        client_id, secret, basic = _client_credentials(request, values)
        async with request.app[CONTEXT].sessions() as session, session.begin():
            app = await authenticate_client(session, client_id, secret)
            await revoke(session, app, str(values.get("token", "")))
    except OAuthError as exc:
        return _oauth_error(exc, basic=basic)
    return json_response({}, headers=_NO_STORE)


@routes.get("/.well-known/oauth-authorization-server")
async def metadata(request: web.Request) -> web.StreamResponse:
    """Authorization server metadata (C13, RFC 8414); lists ``password`` for Mastodon.py."""
    base = request.app[CONTEXT].urls.base
    granular = sorted(ALL_SCOPES - set(TOP_LEVEL_SCOPES))
    return json_response(
        {
            "issuer": f"{base}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "scopes_supported": [*TOP_LEVEL_SCOPES, *granular],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": _GRANTS,
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
        }
    )


@routes.get("/oauth/userinfo")
async def userinfo(request: web.Request) -> web.StreamResponse:
    """Who the token speaks for, OIDC-style (C13; ``profile`` or ``read:accounts`` scope)."""
    grant = await require(request)
    if not (grant.allows("profile") or grant.allows("read:accounts")):
        return json_response({"error": "This action is outside the authorized scopes"}, status=403)
    account = grant.account
    ctx = request.app[CONTEXT]
    return json_response(
        {
            "iss": f"{ctx.urls.base}/",
            "sub": account.uri,
            "name": account.display_name or account.username,
            "preferred_username": account.username,
            "profile": account.url or account.uri,
            "picture": account.avatar_url,
        }
    )
