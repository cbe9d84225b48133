"""The settings pages about getting in: two-factor sign-in, authorised apps, browser sessions.

Two-factor set-up shows the secret three ways: a QR code (SVG drawn on the server by segno, so
no script and no third-party service sees the secret), the ``otpauth://`` URI and the secret
itself as text for typing in. The recovery codes are shown once, on the answer to the POST
that made them, with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import segno
from aiohttp import web
from markupsafe import Markup

from node.api.mastodon.oauth import client_address
from node.appkeys import AUTH, CONTEXT, SETTINGS
from node.auth.two_factor import (
    TwoFactorError,
    begin_setup,
    confirm_setup,
    disable,
    provisioning_uri,
    regenerate_recovery_codes,
    state_of,
)
from node.db.engine import AsyncSession
from node.services.account_access import (
    list_authorised_apps,
    list_browser_sessions,
    revoke_own_session,
    revoke_own_token,
)
from web.current import gettext, require_user
from web.forms import field
from web.render import render
from web.security import session_cookie_name

__all__ = ["qr_svg", "routes"]

routes = web.RouteTableDef()

_TWO_FACTOR = "/settings/two-factor"


def qr_svg(text: str) -> Markup:
    """*text* as an inline SVG QR code (dark on light, whatever the page's colour scheme)."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(scale=5, border=4, dark="#000", light="#fff", omitsize=True)
    # Safe: segno draws the SVG from the QR matrix; no text of ours or anyone's is in it.
    return Markup(svg.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1))  # noqa: S704


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def _two_factor_page(
    request: web.Request,
    *,
    errors: dict[str, str] | None = None,
    codes: list[str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    user = require_user(request)
    _ = gettext(request)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        state = await state_of(session, user.account_id)
    values: dict[str, Any] = {
        "title": _("Two-factor sign-in"),
        "state": state,
        "errors": errors or {},
        "codes": codes or [],
        "notice": notice,
        "secret": "",
        "uri": "",
        "qr": "",
    }
    if state.pending_secret is not None:
        uri = provisioning_uri(
            state.pending_secret,
            username=user.username,
            domain=ctx.domain,
            issuer=request.app[SETTINGS].node.name,
        )
        values |= {"secret": _grouped(state.pending_secret), "uri": uri, "qr": qr_svg(uri)}
    response = render(request, "settings/two_factor.html", values, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get(_TWO_FACTOR)
async def two_factor_page(request: web.Request) -> web.StreamResponse:
    """On or off; while setting up, the QR code and the code to confirm with."""
    return await _two_factor_page(request)


@routes.post(f"{_TWO_FACTOR}/setup")
async def two_factor_setup(request: web.Request) -> web.StreamResponse:
    """Make a new secret waiting for its first code."""
    user = require_user(request)
    try:
        async with request.app[CONTEXT].sessions() as session, session.begin():
            await begin_setup(session, user.account_id)
    except TwoFactorError:
        pass  # already on: the page says so
    raise web.HTTPSeeOther(_TWO_FACTOR)


async def _code_checked(request: web.Request, action: str) -> tuple[str, web.Response | None]:
    """The code field, or the page to answer with (empty, throttled)."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    code = field(form, "code", 64).strip()
    if not code:
        return code, await _two_factor_page(
            request, errors={action: _("Enter the code from your app.")}, status=422
        )
    refused = request.app[AUTH].limiter.check(client_address(request), user.username)
    if refused is not None:
        page = await _two_factor_page(
            request,
            errors={action: _("Too many attempts. Wait a few minutes and try again.")},
            status=429,
        )
        page.headers.update(refused.headers())
        return code, page
    return code, None


T = TypeVar("T")


async def _with_code(
    request: web.Request,
    form_field: str,
    wrong: str,
    action: Callable[[AsyncSession, int, str], Awaitable[T]],
) -> tuple[T, None] | tuple[None, web.StreamResponse]:
    """Run *action* with the code the form sent (throttled like a password): its result, or
    the page that refuses the code, with *wrong* beside *form_field*."""
    user = require_user(request)
    code, refusal = await _code_checked(request, form_field)
    if refusal is not None:
        return None, refusal
    limiter = request.app[AUTH].limiter
    try:
        async with request.app[CONTEXT].sessions() as session, session.begin():
            result = await action(session, user.account_id, code)
    except TwoFactorError:
        limiter.record(user.username, success=False)
        page = await _two_factor_page(request, errors={form_field: wrong}, status=422)
        return None, page
    limiter.record(user.username, success=True)
    return result, None


@routes.post(f"{_TWO_FACTOR}/confirm")
async def two_factor_confirm(request: web.Request) -> web.StreamResponse:
    """Switch on with the first code; show the recovery codes once."""
    _ = gettext(request)
    wrong = _("That code is not right. Check your phone's clock and try again.")
    codes, refusal = await _with_code(request, "confirm", wrong, confirm_setup)
    if refusal is not None:
        return refusal
    return await _two_factor_page(request, codes=codes, notice=_("Two-factor sign-in is on."))


@routes.post(f"{_TWO_FACTOR}/disable")
async def two_factor_disable(request: web.Request) -> web.StreamResponse:
    """Switch off, with a current code or a recovery code."""
    _ = gettext(request)
    _done, refusal = await _with_code(request, "disable", _("That code is not right."), disable)
    if refusal is not None:
        return refusal
    raise web.HTTPSeeOther(f"{_TWO_FACTOR}?saved=1")


@routes.post(f"{_TWO_FACTOR}/recovery-codes")
async def two_factor_recovery_codes(request: web.Request) -> web.StreamResponse:
    """New recovery codes (the old ones stop working), shown once."""
    _ = gettext(request)
    codes, refusal = await _with_code(
        request, "regenerate", _("That code is not right."), regenerate_recovery_codes
    )
    if refusal is not None:
        return refusal
    return await _two_factor_page(request, codes=codes, notice=_("New recovery codes made."))


# --- authorised apps -----------------------------------------------------------------------


def _id_of(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 19:
        raise web.HTTPNotFound()
    return int(raw)


@routes.get("/settings/apps")
async def apps_page(request: web.Request) -> web.StreamResponse:
    """The apps and scripts that hold a token for the person."""
    user = require_user(request)
    async with request.app[CONTEXT].sessions() as session:
        apps = await list_authorised_apps(session, user.account_id)
    return render(
        request,
        "settings/apps.html",
        {
            "title": gettext(request)("Apps"),
            "apps": apps,
            "saved": bool(request.query.get("saved")),
        },
    )


@routes.post("/settings/apps/{id}/revoke")
async def apps_revoke(request: web.Request) -> web.StreamResponse:
    """Revoke one token: the app is signed out at once, streams included."""
    user = require_user(request)
    token_id = _id_of(request)
    async with request.app[CONTEXT].sessions() as session, session.begin():
        found = await revoke_own_token(session, user.account_id, token_id)
    if not found:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther("/settings/apps?saved=1")


# --- browser sessions ----------------------------------------------------------------------


@routes.get("/settings/sessions")
async def sessions_page(request: web.Request) -> web.StreamResponse:
    """Where the person is signed in on the web pages."""
    user = require_user(request)
    async with request.app[CONTEXT].sessions() as session:
        sessions = await list_browser_sessions(session, user.account_id)
    return render(
        request,
        "settings/sessions.html",
        {
            "title": gettext(request)("Sessions"),
            "sessions": sessions,
            "current": user.session_id,
            "saved": bool(request.query.get("saved")),
        },
    )


@routes.post("/settings/sessions/{id}/revoke")
async def sessions_revoke(request: web.Request) -> web.StreamResponse:
    """End one session; ending this one is logging out."""
    user = require_user(request)
    session_id = _id_of(request)
    async with request.app[CONTEXT].sessions() as session, session.begin():
        found = await revoke_own_session(session, user.account_id, session_id)
    if not found:
        raise web.HTTPNotFound()
    if session_id == user.session_id:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(session_cookie_name(request), path="/")
        raise response
    raise web.HTTPSeeOther("/settings/sessions?saved=1")


@routes.post("/settings/sessions/revoke-others")
async def sessions_revoke_others(request: web.Request) -> web.StreamResponse:
    """End every session but this one."""
    user = require_user(request)
    async with request.app[CONTEXT].sessions() as session, session.begin():
        for other in await list_browser_sessions(session, user.account_id):
            if other.session_id != user.session_id:
                await revoke_own_session(session, user.account_id, other.session_id)
    raise web.HTTPSeeOther("/settings/sessions?saved=1")
