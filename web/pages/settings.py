"""The settings pages a person has: profile, password, language, notifications, their data.

Each page is a plain form (no JavaScript needed): GET shows it, POST checks it and either
shows it again with the errors beside the fields (422) or saves and sends the browser back
with 303 and a "saved" note. The changes themselves are node services shared with the
Mastodon API (:mod:`node.services.profile`, :mod:`node.auth.password_changes`, …).
"""

from __future__ import annotations

import tempfile
from typing import Any

from aiohttp import web
from sqlalchemy import select

from node.api.mastodon.oauth import client_address
from node.appkeys import AUTH, CONTEXT, MEDIA
from node.auth.password_changes import PasswordChangeError, change_password
from node.db.models import Account, MediaAttachment
from node.services.archive import MediaFile, write_archive
from node.services.preferences import (
    LANGUAGES,
    NOTIFICATION_TYPES,
    get_language,
    notifications_off,
    set_language,
    set_notifications_off,
)
from web.current import gettext, require_user
from web.forms import field
from web.i18n import LANGUAGE_COOKIE, remember_language
from web.render import render
from web.security import cookie_secure

__all__ = ["routes", "saved_message"]

routes = web.RouteTableDef()

_CHUNK = 64 * 1024


def saved_message(request: web.Request) -> str:
    """The "saved" note after a 303 back to the page (``?saved=1``)."""
    _ = gettext(request)
    return _("Your changes are saved.") if request.query.get("saved") else ""


def _saved(path: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?saved=1")


def _page(
    request: web.Request, template: str, values: dict[str, Any], *, status: int = 200
) -> web.Response:
    context = {"errors": {}, "saved": saved_message(request)} | values
    return render(request, f"settings/{template}", context, status=status)


@routes.get("/settings")
async def settings_index(request: web.Request) -> web.StreamResponse:
    """The first settings page."""
    require_user(request)
    raise web.HTTPSeeOther("/settings/profile")


# --- password ------------------------------------------------------------------------------


@routes.get("/settings/password")
async def password_page(request: web.Request) -> web.StreamResponse:
    """Change the password (the current one is needed)."""
    require_user(request)
    return _page(request, "password.html", {"title": gettext(request)("Password")})


@routes.post("/settings/password")
async def password_submit(request: web.Request) -> web.StreamResponse:
    """Check the current password (throttled like a login), set the new one, end other sign-ins."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    current = field(form, "current", 1024)
    password = field(form, "password", 1024)
    confirmation = field(form, "confirmation", 1024)
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = _("Enter your current password.")
    if not password:
        errors["password"] = _("Enter a new password.")
    limiter = request.app[AUTH].limiter
    status = 422
    headers: dict[str, str] = {}
    if not errors:
        refused = limiter.check(client_address(request), user.username)
        if refused is not None:
            errors["current"] = _("Too many attempts. Wait a few minutes and try again.")
            status, headers = 429, refused.headers()
    if not errors:
        try:
            async with request.app[CONTEXT].sessions() as session, session.begin():
                await change_password(
                    session,
                    user.account_id,
                    current,
                    password,
                    confirmation,
                    keep_session_id=user.session_id,
                )
        except PasswordChangeError as exc:
            if exc.field == "current":
                limiter.record(user.username, success=False)
            errors[exc.field] = _password_message(request, exc)
        else:
            limiter.record(user.username, success=True)
            raise _saved("/settings/password")
    response = _page(
        request, "password.html", {"title": _("Password"), "errors": errors}, status=status
    )
    response.headers.update(headers)
    return response


def _password_message(request: web.Request, exc: PasswordChangeError) -> str:
    _ = gettext(request)
    messages = {
        "current": _("The current password is wrong."),
        "confirmation": _("The two passwords differ."),
    }
    if exc.field == "password" and "same" in exc.message:
        return _("The new password is the same as the current one.")
    if exc.field == "password":
        return _("Use at least 12 characters.")
    return messages.get(exc.field, exc.message)


# --- language ------------------------------------------------------------------------------


@routes.get("/settings/language")
async def language_page(request: web.Request) -> web.StreamResponse:
    """Dutch, English, or whatever the browser asks for."""
    user = require_user(request)
    async with request.app[CONTEXT].sessions() as session:
        chosen = await get_language(session, user.account_id)
    return _page(
        request,
        "language.html",
        {"title": gettext(request)("Language"), "chosen": chosen or ""},
    )


@routes.post("/settings/language")
async def language_submit(request: web.Request) -> web.StreamResponse:
    """Save the language with the account (every device, from the next sign-in) and here."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    chosen = field(form, "language", 8)
    if chosen and chosen not in LANGUAGES:
        return _page(
            request,
            "language.html",
            {
                "title": _("Language"),
                "chosen": "",
                "errors": {"language": _("Choose one of the languages offered.")},
            },
            status=422,
        )
    async with request.app[CONTEXT].sessions() as session, session.begin():
        await set_language(session, user.account_id, chosen or None)
    response = _saved("/settings/language")
    if chosen:
        remember_language(response, chosen, secure=cookie_secure(request))
    else:
        response.del_cookie(LANGUAGE_COOKIE, path="/")
    raise response


# --- notifications -------------------------------------------------------------------------


@routes.get("/settings/notifications")
async def notifications_page(request: web.Request) -> web.StreamResponse:
    """Which kinds of notification to get."""
    user = require_user(request)
    async with request.app[CONTEXT].sessions() as session:
        off = await notifications_off(session, user.account_id)
    return _page(
        request,
        "notifications.html",
        {
            "title": gettext(request)("Notifications"),
            "kinds": NOTIFICATION_TYPES,
            "wanted": [kind for kind in NOTIFICATION_TYPES if kind not in off],
        },
    )


@routes.post("/settings/notifications")
async def notifications_submit(request: web.Request) -> web.StreamResponse:
    """Save the kinds: a box not ticked turns that kind off (it is then never created)."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    wanted = [value for value in form.getall("receive", []) if isinstance(value, str)]
    unknown = [kind for kind in wanted if kind not in NOTIFICATION_TYPES]
    if unknown:
        return _page(
            request,
            "notifications.html",
            {
                "title": _("Notifications"),
                "kinds": NOTIFICATION_TYPES,
                "wanted": [kind for kind in wanted if kind in NOTIFICATION_TYPES],
                "errors": {"receive": _("Choose only the kinds offered.")},
            },
            status=422,
        )
    async with request.app[CONTEXT].sessions() as session, session.begin():
        await set_notifications_off(
            session, user.account_id, [kind for kind in NOTIFICATION_TYPES if kind not in wanted]
        )
    raise _saved("/settings/notifications")


# --- data export ---------------------------------------------------------------------------


@routes.get("/settings/export")
async def export_page(request: web.Request) -> web.StreamResponse:
    """What the archive holds, and the button to download it."""
    require_user(request)
    return _page(request, "export.html", {"title": gettext(request)("Your data")})


@routes.post("/settings/export")
async def export_download(request: web.Request) -> web.StreamResponse:
    """The archive as a zip download (built in a spooled temporary file, sent in chunks)."""
    user = require_user(request)
    ctx = request.app[CONTEXT]
    store = request.app[MEDIA]
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        async with ctx.sessions() as session:
            account = await session.get(Account, user.account_id)
            assert account is not None
            names = await session.scalars(
                select(MediaAttachment.file_name).where(
                    MediaAttachment.account_id == account.id,
                    MediaAttachment.file_name.is_not(None),
                )
            )
            media = [MediaFile(name, store.path(name)) for name in names if name]
            await write_archive(session, account, ctx.urls, out, media=media)
        size = out.tell()
        out.seek(0)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="kantine-{user.username}.zip"',
                "Content-Length": str(size),
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        while chunk := out.read(_CHUNK):
            await response.write(chunk)
        await response.write_eof()
    return response
