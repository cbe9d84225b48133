"""The authorization endpoint: a login page, then a consent page (PROTOCOL.md C10).

``GET /oauth/authorize`` checks the app and the exact ``redirect_uri`` (SECURITY.md row 19)
before anything else: a request that fails those gets an error page, never a redirect, so
the endpoint cannot be used as an open redirector. The page keeps no server-side session:

1. GET sets a short-lived signed cookie holding a random nonce; the form carries a CSRF
   token derived from it (ASVS 4.2.2). A POST whose token does not match gets 403 and
   changes nothing.
2. POST with user name and password (throttled, SECURITY.md row 21) answers with the consent
   page, a fresh nonce (ASVS 3.2.1) and a signed login ticket bound to that nonce and to the
   exact request (app, redirect URI, scopes, PKCE challenge). For a person with two-factor
   sign-in on, a code page comes first, with a signed ticket bound the same way; only a
   right code (throttled like passwords) leads to the consent page.
3. POST with the ticket and ``decision=approve`` creates a single-use code and redirects to
   ``redirect_uri?code=…&state=…``; for ``urn:ietf:wg:oauth:2.0:oob`` the code is shown.

There is no remembered login, so every authorization asks for the password: ``force_login``
is always honoured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from node.api.mastodon.oauth import client_address
from node.appkeys import AUTH, CONTEXT, SETTINGS
from node.auth.oauth import (
    OOB,
    AuthorizationRequest,
    OAuthError,
    check_authorization,
    check_password,
    create_code,
    find_app,
    redirect_uris_of,
)
from node.auth.two_factor import check_code as check_two_factor_code
from node.auth.two_factor import is_enabled as two_factor_enabled
from node.db.models import Account

__all__ = ["routes"]

routes = web.RouteTableDef()

_PATH = "/oauth/authorize"
_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
_COOKIE_TTL = 600.0
_TICKET_TTL = 300.0
_MAX_STATE = 1024


def _cookie_name(request: web.Request) -> str:
    # The __Host- prefix needs Secure, which a browser only keeps over https (ASVS 3.4.4).
    return "__Host-kantine_oauth" if _secure(request) else "kantine_oauth"


def _secure(request: web.Request) -> bool:
    return request.app[CONTEXT].urls.base.startswith("https://")


def _with_query(uri: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(extra)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _form_action(redirect_uri: str | None) -> str:
    # Chrome applies form-action to the redirect that follows the POST (Mastodon 4.3 too).
    if not redirect_uri or redirect_uri == OOB:
        return "'self'"
    parts = urlsplit(redirect_uri)
    if parts.scheme in {"http", "https"}:
        return f"'self' {parts.scheme}://{parts.netloc}"
    return f"'self' {parts.scheme}:"


def _page(
    request: web.Request,
    *,
    title: str,
    mode: str = "error",
    status: int = 200,
    redirect_uri: str | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> web.Response:
    settings = request.app[SETTINGS]
    template = request.app[AUTH].templates.get_template("authorize.html")
    values: dict[str, Any] = {
        "title": title,
        "mode": mode,
        "node_name": settings.node.name,
        "domain": request.app[CONTEXT].domain,
        "message": "",
        "action": _PATH,
        "hidden": [],
        "username": "",
        "app_name": "",
        "app_website": "",
        "scopes": [],
        "redirect_host": "",
        "code": "",
    }
    values.update(context)
    response = web.Response(
        text=template.render(values), status=status, content_type="text/html", charset="utf-8"
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action {_form_action(redirect_uri)}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.update(headers or {})
    return response


def _error_page(request: web.Request, message: str, *, status: int = 400) -> web.Response:
    return _page(request, title="Authorization failed", message=message, status=status)


def _redirect(uri: str) -> web.Response:
    return web.Response(status=302, headers={"Location": uri, "Cache-Control": "no-store"})


async def _check(
    request: web.Request, values: Mapping[str, str]
) -> AuthorizationRequest | web.Response:
    """The checked request, or the error page/redirect to answer with."""
    async with request.app[CONTEXT].sessions() as session:
        app = await find_app(session, values.get("client_id", ""))
    if app is None:
        return _error_page(request, "The application is not known to this node.")
    registered = redirect_uris_of(app)
    redirect_uri = values.get("redirect_uri", "")
    if not redirect_uri and len(registered) == 1:
        redirect_uri = registered[0]
    if redirect_uri not in registered:  # exact match only: no prefixes, no normalising
        return _error_page(request, "The redirect URI is not registered for this application.")
    state = values.get("state", "")
    if len(state) > _MAX_STATE:
        return _error_page(request, "The state parameter is too long.")
    try:
        return check_authorization(
            app,
            redirect_uri=redirect_uri,
            response_type=values.get("response_type", ""),
            scope=values.get("scope", ""),
            code_challenge=values.get("code_challenge", ""),
            code_challenge_method=values.get("code_challenge_method", ""),
        )
    except OAuthError as exc:
        if redirect_uri == OOB:
            return _error_page(request, exc.description)
        extra = {"error": exc.error, "error_description": exc.description}
        return _redirect(_with_query(redirect_uri, extra | ({"state": state} if state else {})))


def _fingerprint(checked: AuthorizationRequest) -> str:
    parts = [checked.app.client_id, checked.redirect_uri, " ".join(checked.scopes)]
    parts.append(checked.code_challenge or "")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _sign_ticket(
    request: web.Request, purpose: str, checked: AuthorizationRequest, account: Account
) -> tuple[str, str]:
    """A new nonce, and a ticket for *account* bound to it and to this authorization request."""
    signer = request.app[AUTH].signer
    nonce = signer.nonce()
    data = {"a": account.id, "n": nonce, "r": _fingerprint(checked)}
    return nonce, signer.sign(purpose, data, ttl=_TICKET_TTL)


def _ticket_account(
    request: web.Request, purpose: str, ticket: str, nonce: str, checked: AuthorizationRequest
) -> int | None:
    """The account of a ticket signed for this nonce and this authorization request, or None."""
    data = request.app[AUTH].signer.load(purpose, ticket)
    if data is None or data.get("n") != nonce or data.get("r") != _fingerprint(checked):
        return None
    return int(data["a"])


def _hidden(values: Mapping[str, str], **extra: str) -> list[tuple[str, str]]:
    fields = [(name, values.get(name, "")) for name in _FIELDS if values.get(name)]
    return fields + list(extra.items())


def _login_page(
    request: web.Request,
    checked: AuthorizationRequest,
    values: Mapping[str, str],
    nonce: str,
    *,
    message: str = "",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    signer = request.app[AUTH].signer
    response = _page(
        request,
        title="Sign in",
        mode="login",
        status=status,
        headers=headers,
        redirect_uri=checked.redirect_uri,
        message=message,
        app_name=checked.app.name,
        username=values.get("username", "")[:64],
        hidden=_hidden(values, csrf=signer.token_for("oauth-csrf", nonce)),
    )
    _set_cookie(request, response, nonce)
    return response


def _set_cookie(request: web.Request, response: web.Response, nonce: str) -> None:
    signer = request.app[AUTH].signer
    response.set_cookie(
        _cookie_name(request),
        signer.sign("oauth-cookie", {"n": nonce}, ttl=_COOKIE_TTL),
        max_age=int(_COOKIE_TTL),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )


@routes.get(_PATH)
async def authorize_page(request: web.Request) -> web.StreamResponse:
    """The login form for a checked authorization request (C10)."""
    values = {name: request.query.get(name, "") for name in _FIELDS}
    checked = await _check(request, values)
    if isinstance(checked, web.Response):
        return checked
    return _login_page(request, checked, values, request.app[AUTH].signer.nonce())


@routes.post(_PATH)
async def authorize_submit(request: web.Request) -> web.StreamResponse:
    """Log in, then consent; on approval redirect with a code, or show it for oob (C10)."""
    form = await request.post()
    values = {name: str(form.get(name, "")) for name in (*_FIELDS, "username", "password")}
    signer = request.app[AUTH].signer
    cookie = signer.load("oauth-cookie", request.cookies.get(_cookie_name(request), ""))
    nonce = str(cookie["n"]) if cookie else ""
    if not nonce or not signer.matches("oauth-csrf", nonce, str(form.get("csrf", ""))):
        return _error_page(
            request,
            "This form has expired or did not come from this page. Go back and try again.",
            status=403,
        )
    checked = await _check(request, values)
    if isinstance(checked, web.Response):
        return checked
    ticket = str(form.get("ticket", ""))
    if ticket:
        return await _decide(request, checked, values, nonce, ticket, str(form.get("decision")))
    otp_ticket = str(form.get("otp_ticket", ""))
    if otp_ticket:
        code = str(form.get("code", ""))
        return await _second_factor(request, checked, values, nonce, otp_ticket, code)
    return await _log_in(request, checked, values)


async def _log_in(
    request: web.Request, checked: AuthorizationRequest, values: Mapping[str, str]
) -> web.Response:
    signer = request.app[AUTH].signer
    limiter = request.app[AUTH].limiter
    username = values.get("username", "")
    refused = limiter.check(client_address(request), username)
    if refused is not None:
        return _login_page(
            request,
            checked,
            values,
            signer.nonce(),
            message="Too many sign-in attempts. Wait a few minutes and try again.",
            status=429,
            headers=refused.headers(),
        )
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await check_password(session, ctx.domain, username, values.get("password", ""))
    limiter.record(username, success=account is not None)
    if account is None:
        return _login_page(
            request,
            checked,
            values,
            signer.nonce(),
            message="The user name or password is wrong.",
            status=401,
        )
    async with ctx.sessions() as session:
        needs_code = await two_factor_enabled(session, account.id)
    if needs_code:
        return _code_page(request, checked, values, account)
    return _consent_page(request, checked, values, account)


def _code_page(
    request: web.Request,
    checked: AuthorizationRequest,
    values: Mapping[str, str],
    account: Account,
    *,
    message: str = "",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The second step of a two-factor sign-in: the password was right, now the code."""
    signer = request.app[AUTH].signer
    nonce, ticket = _sign_ticket(request, "oauth-2fa", checked, account)
    response = _page(
        request,
        title="Two-factor code",
        mode="otp",
        status=status,
        headers=headers,
        redirect_uri=checked.redirect_uri,
        message=message,
        app_name=checked.app.name,
        username=account.username,
        hidden=_hidden(values, csrf=signer.token_for("oauth-csrf", nonce), otp_ticket=ticket),
    )
    _set_cookie(request, response, nonce)
    return response


async def _second_factor(
    request: web.Request,
    checked: AuthorizationRequest,
    values: Mapping[str, str],
    nonce: str,
    ticket: str,
    code: str,
) -> web.Response:
    """Check the code of a two-factor sign-in (throttled like passwords), then ask consent."""
    account_id = _ticket_account(request, "oauth-2fa", ticket, nonce, checked)
    if account_id is None:
        return _error_page(request, "This sign-in has expired. Go back and try again.", status=403)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await session.get(Account, account_id)
    if account is None or account.suspended_at is not None:
        return _error_page(request, "This account cannot authorize apps.", status=403)
    limiter = request.app[AUTH].limiter
    refused = limiter.check(client_address(request), account.username)
    if refused is not None:
        return _code_page(
            request,
            checked,
            values,
            account,
            message="Too many sign-in attempts. Wait a few minutes and try again.",
            status=429,
            headers=refused.headers(),
        )
    async with ctx.sessions() as session, session.begin():
        ok = await check_two_factor_code(session, account.id, code[:64])
    limiter.record(account.username, success=ok)
    if not ok:
        return _code_page(
            request, checked, values, account, message="That code is not right.", status=401
        )
    return _consent_page(request, checked, values, account)


def _consent_page(
    request: web.Request,
    checked: AuthorizationRequest,
    values: Mapping[str, str],
    account: Account,
) -> web.Response:
    signer = request.app[AUTH].signer
    # A new nonce once signed in (ASVS 3.2.1).
    nonce, ticket = _sign_ticket(request, "oauth-ticket", checked, account)
    redirect_host = "" if checked.redirect_uri == OOB else urlsplit(checked.redirect_uri).netloc
    response = _page(
        request,
        title="Authorize access",
        mode="consent",
        redirect_uri=checked.redirect_uri,
        app_name=checked.app.name,
        app_website=checked.app.website or "",
        username=account.username,
        scopes=list(checked.scopes),
        redirect_host=redirect_host or urlsplit(checked.redirect_uri).scheme,
        hidden=_hidden(values, csrf=signer.token_for("oauth-csrf", nonce), ticket=ticket),
    )
    _set_cookie(request, response, nonce)
    return response


async def _decide(
    request: web.Request,
    checked: AuthorizationRequest,
    values: Mapping[str, str],
    nonce: str,
    ticket: str,
    decision: str,
) -> web.Response:
    account_id = _ticket_account(request, "oauth-ticket", ticket, nonce, checked)
    if account_id is None:
        return _error_page(request, "This sign-in has expired. Go back and try again.", status=403)
    state = values.get("state", "")
    if decision != "approve":
        if checked.redirect_uri == OOB:
            response = _page(
                request, title="Access denied", mode="denied", app_name=checked.app.name
            )
        else:
            extra = {"error": "access_denied", "error_description": "The user denied access"}
            response = _redirect(
                _with_query(checked.redirect_uri, extra | ({"state": state} if state else {}))
            )
        response.del_cookie(_cookie_name(request), path="/")
        return response
    async with request.app[CONTEXT].sessions() as session, session.begin():
        account = await session.get(Account, account_id)
        if account is None or account.suspended_at is not None:
            return _error_page(request, "This account cannot authorize apps.", status=403)
        code = await create_code(session, checked, account)
    if checked.redirect_uri == OOB:
        response = _page(
            request, title="Authorization code", mode="code", app_name=checked.app.name, code=code
        )
    else:
        response = _redirect(
            _with_query(checked.redirect_uri, {"code": code} | ({"state": state} if state else {}))
        )
    response.del_cookie(_cookie_name(request), path="/")
    return response
