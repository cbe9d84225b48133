"""The page behind an admin-issued reset link: choose a new password (issue 6).

The link comes from the admin's users page or ``kantine users reset-link NAME``. Opening it
changes nothing; only the form (with its CSRF token) sets the password, which uses the link
up and ends every session and token of the person (:mod:`node.auth.password_changes`). The
page is never cached and sends no referrer, so the token in its address stays put.
"""

from __future__ import annotations

from aiohttp import web

from node.appkeys import CONTEXT
from node.auth.password_changes import (
    RESET_PATH,
    PasswordChangeError,
    complete_reset,
    find_reset,
)
from web.current import gettext
from web.forms import field
from web.render import render

__all__ = ["routes"]

routes = web.RouteTableDef()

_MAX_TOKEN = 128


def _page(
    request: web.Request,
    *,
    username: str = "",
    errors: dict[str, str] | None = None,
    expired: bool = False,
    done: bool = False,
    status: int = 200,
) -> web.Response:
    _ = gettext(request)
    response = render(
        request,
        "password_reset.html",
        {
            "title": _("Choose a new password"),
            "username": username,
            "errors": errors or {},
            "expired": expired,
            "done": done,
            "action": request.path,
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get(RESET_PATH + "/{token}")
async def reset_page(request: web.Request) -> web.StreamResponse:
    """The new-password form, or a note that the link no longer works."""
    token = request.match_info["token"][:_MAX_TOKEN]
    async with request.app[CONTEXT].sessions() as session:
        pending = await find_reset(session, token)
    if pending is None:
        return _page(request, expired=True, status=404)
    return _page(request, username=pending.username)


@routes.post(RESET_PATH + "/{token}")
async def reset_submit(request: web.Request) -> web.StreamResponse:
    """Set the new password; the link is used up and every sign-in of the person ends."""
    _ = gettext(request)
    token = request.match_info["token"][:_MAX_TOKEN]
    form = await request.post()
    password = field(form, "password", 1024)
    confirmation = field(form, "confirmation", 1024)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        pending = await find_reset(session, token)
    if pending is None:
        return _page(request, expired=True, status=404)
    errors: dict[str, str] = {}
    if not password:
        errors["password"] = _("Enter a new password.")
    elif password != confirmation:
        errors["confirmation"] = _("The two passwords differ.")
    if not errors:
        try:
            async with ctx.sessions() as session, session.begin():
                await complete_reset(session, token, password, confirmation)
        except PasswordChangeError as exc:
            if exc.field == "token":
                return _page(request, expired=True, status=404)
            errors[exc.field] = (
                _("Use at least 12 characters.")
                if exc.field == "password"
                else _("The two passwords differ.")
            )
        else:
            return _page(request, username=pending.username, done=True)
    return _page(request, username=pending.username, errors=errors, status=422)
