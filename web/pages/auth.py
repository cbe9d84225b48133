"""Logging in and out of the web pages, and the language switch (issue 6).

Passwords are checked by :func:`node.auth.oauth.check_password` (argon2id) behind the same
:class:`~node.auth.ratelimit.LoginLimiter` as the OAuth login (SECURITY.md row 21); a wrong
name and a wrong password get the same message. Signing in opens a database-backed session
(:mod:`node.services.web_sessions`) through :func:`sign_in`, the seam single sign-on will
use too: whatever proves who someone is ends by calling it with the account.
"""

from __future__ import annotations

from aiohttp import web

from node.api.mastodon.oauth import client_address
from node.appkeys import AUTH, CONTEXT
from node.auth.oauth import check_password
from node.db.models import Account
from node.services.web_sessions import LIFETIME, open_session, revoke_session
from web.current import current_user, gettext, safe_next
from web.i18n import LOCALES, remember_language
from web.pages.second_factor import after_password
from web.render import render
from web.security import ANON_COOKIE, cookie_secure, session_cookie_name

__all__ = ["routes", "sign_in"]

routes = web.RouteTableDef()


def _form_text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


async def sign_in(
    request: web.Request, account: Account, *, method: str, next_path: str
) -> web.HTTPSeeOther:
    """Open a session for *account* and send the browser on to *next_path* (local only)."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        secret = await open_session(
            session,
            account,
            method=method,
            user_agent=request.headers.get("User-Agent", ""),
            ip=client_address(request),
        )
    response = web.HTTPSeeOther(safe_next(next_path))
    response.set_cookie(
        session_cookie_name(request),
        secret,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(request),
        path="/",
    )
    response.del_cookie(ANON_COOKIE, path="/")
    return response


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form (someone already signed in goes straight on)."""
    next_path = safe_next(request.query.get("next"))
    if current_user(request) is not None:
        raise web.HTTPSeeOther(next_path)
    return render(request, "login.html", {"next": next_path, "username": "", "error": ""})


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the password (throttled); on success a session, on failure one generic message."""
    _ = gettext(request)
    form = await request.post()
    username = _form_text(form.get("username"), 320).strip()
    password = _form_text(form.get("password"), 1024)
    next_path = safe_next(_form_text(form.get("next"), 2048))
    values = {"next": next_path, "username": username[:64]}
    if not username or not password:
        return render(
            request,
            "login.html",
            values | {"error": _("Enter your user name and password.")},
            status=422,
        )
    limiter = request.app[AUTH].limiter
    refused = limiter.check(client_address(request), username)
    if refused is not None:
        response = render(
            request,
            "login.html",
            values | {"error": _("Too many sign-in attempts. Wait a few minutes and try again.")},
            status=429,
        )
        response.headers.update(refused.headers())
        return response
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await check_password(session, ctx.domain, username, password)
    limiter.record(username, success=account is not None)
    if account is None:
        return render(
            request,
            "login.html",
            values | {"error": _("The user name or password is wrong.")},
            status=401,
        )
    # Two-factor sign-in (web/pages/second_factor.py) may ask for a code first.
    return await after_password(request, account, method="password", next_path=next_path)


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session."""
    user = current_user(request)
    if user is not None:
        async with request.app[CONTEXT].sessions() as session, session.begin():
            await revoke_session(session, user.session_id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(session_cookie_name(request), path="/")
    raise response


@routes.post("/language")
async def language(request: web.Request) -> web.StreamResponse:
    """Switch the language (a cookie for a year) and go back to the page."""
    form = await request.post()
    chosen = _form_text(form.get("language"), 8)
    if chosen not in LOCALES:
        raise web.HTTPUnprocessableEntity(text="unknown language")
    response = web.HTTPSeeOther(safe_next(_form_text(form.get("next"), 2048)))
    remember_language(response, chosen, secure=cookie_secure(request))
    raise response
