"""The admin's pages about people: list, create, suspend, roles, password reset links.

Admins only: everyone else gets 403 before anything is read or changed (``require_admin`` is
the first line of every handler). The work is done by :mod:`node.services.user_admin` and
:mod:`node.auth.password_changes`, the same code the ``kantine users`` command uses.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.appkeys import CONTEXT
from node.auth.password_changes import RESET_LIFETIME, issue_reset, reset_url
from node.auth.two_factor import remove as remove_two_factor
from node.db.models import Account
from node.services.accounts import ROLES
from node.services.user_admin import (
    UserAdminError,
    create_user,
    list_users,
    set_role,
    set_suspended,
)
from web.current import gettext, require_admin
from web.forms import field
from web.render import render

__all__ = ["admin_nav", "routes"]

routes = web.RouteTableDef()


def admin_nav(request: web.Request) -> list[tuple[str, str]]:
    """The admin section links (path, label)."""
    _ = gettext(request)
    return [
        ("/admin/users", _("People")),
        ("/admin/federation", _("Federation")),
        ("/admin/moderation", _("Moderation")),
        ("/admin/node", _("This node")),
    ]


def role_names(request: web.Request) -> dict[str, str]:
    """Each role in words."""
    _ = gettext(request)
    return {
        "admin": _("Admin"),
        "moderator": _("Moderator"),
        "communications": _("Communications"),
        "member": _("Member"),
    }


@routes.get("/admin")
async def admin_index(request: web.Request) -> web.StreamResponse:
    """The first admin page."""
    require_admin(request)
    raise web.HTTPSeeOther("/admin/users")


async def _users_page(
    request: web.Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    reset: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext(request)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        users = await list_users(session, ctx.domain)
    context: dict[str, Any] = {
        "title": _("People"),
        "nav": admin_nav(request),
        "users": users,
        "roles": [(role, role_names(request)[role]) for role in ROLES],
        "errors": errors or {},
        "values": values or {"username": "", "display_name": "", "role": "member"},
        "notice": notice or (_("Saved.") if request.query.get("saved") else ""),
        "reset": reset,
    }
    response = render(request, "admin/users.html", context, status=status)
    if reset is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/admin/users")
async def users_page(request: web.Request) -> web.StreamResponse:
    """Everyone on this node, and the form to add someone."""
    require_admin(request)
    return await _users_page(request)


@routes.post("/admin/users")
async def users_create(request: web.Request) -> web.StreamResponse:
    """Add a person; without a password, give them a reset link to choose one."""
    require_admin(request)
    _ = gettext(request)
    form = await request.post()
    values = {
        "username": field(form, "username", 64).strip(),
        "display_name": field(form, "display_name", 1000),
        "role": field(form, "role", 32),
    }
    password = field(form, "password", 1024)
    errors: dict[str, str] = {}
    if not values["username"]:
        errors["username"] = _("Enter a user name.")
    if not errors:
        ctx = request.app[CONTEXT]
        try:
            async with ctx.sessions() as session, session.begin():
                await create_user(
                    session,
                    ctx.domain,
                    ctx.urls,
                    values["username"],
                    password=password,
                    role=values["role"],
                    display_name=values["display_name"],
                )
        except UserAdminError as exc:
            errors[exc.field] = _user_message(request, exc)
        else:
            raise web.HTTPSeeOther("/admin/users?saved=1")
    values["display_name"] = values["display_name"][:200]
    return await _users_page(request, errors=errors, values=values, status=422)


def _user_message(request: web.Request, exc: UserAdminError) -> str:
    _ = gettext(request)
    text = exc.message
    if "already exists" in text:
        return _("That user name is taken.")
    if "1–30 characters" in text:
        return _("Use 1 to 30 characters: a–z, 0–9 and _.")
    if exc.field == "password":
        return _("Use at least 12 characters.")
    if exc.field == "role":
        return _("Choose one of the roles offered.")
    if exc.field == "display_name":
        return _("At most %(count)d characters.") % {"count": 100}
    if "yourself" in text:
        return _("You cannot suspend yourself.")
    if "own admin role" in text:
        return _("You cannot take away your own admin role.")
    return _("There is no such person on this node.")


def _account_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 19:
        raise web.HTTPNotFound()
    return int(raw)


async def _change(request: web.Request, action: str) -> web.StreamResponse:
    admin = require_admin(request)
    account_id = _account_id(request)
    form = await request.post()
    ctx = request.app[CONTEXT]
    try:
        async with ctx.sessions() as session, session.begin():
            if action == "role":
                await set_role(
                    session, ctx.domain, admin.account_id, account_id, field(form, "role", 32)
                )
            else:
                await set_suspended(
                    session,
                    ctx.domain,
                    admin.account_id,
                    account_id,
                    suspended=action == "suspend",
                )
    except UserAdminError as exc:
        if exc.field == "account" and "no such" in exc.message:
            raise web.HTTPNotFound() from None
        return await _users_page(
            request, errors={f"user-{account_id}": _user_message(request, exc)}, status=422
        )
    raise web.HTTPSeeOther("/admin/users?saved=1")


@routes.post("/admin/users/{id}/suspend")
async def users_suspend(request: web.Request) -> web.StreamResponse:
    """Suspend: every sign-in of the person ends, and none is possible until unsuspended."""
    return await _change(request, "suspend")


@routes.post("/admin/users/{id}/unsuspend")
async def users_unsuspend(request: web.Request) -> web.StreamResponse:
    """Let a suspended person sign in again."""
    return await _change(request, "unsuspend")


@routes.post("/admin/users/{id}/role")
async def users_role(request: web.Request) -> web.StreamResponse:
    """Give someone another role."""
    return await _change(request, "role")


@routes.post("/admin/users/{id}/reset-link")
async def users_reset_link(request: web.Request) -> web.StreamResponse:
    """A one-time password reset link for the person, shown once to the admin."""
    admin = require_admin(request)
    _ = gettext(request)
    account_id = _account_id(request)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        account = await session.get(Account, account_id)
        if (
            account is None
            or not account.local
            or account.domain != ctx.domain
            or account.actor_type == "Application"
        ):
            raise web.HTTPNotFound()
        if account.suspended_at is not None:
            error = _("Unsuspend them first: a suspended person cannot set a password.")
            username = account.username
        else:
            issuer = await session.get(Account, admin.account_id)
            token = await issue_reset(session, account, issued_by=issuer)
            link = reset_url(ctx.urls.base, token)
            username = account.username
            error = ""
    if error:
        return await _users_page(request, errors={f"user-{account_id}": error}, status=422)
    hours = int(RESET_LIFETIME.total_seconds() // 3600)
    return await _users_page(
        request, reset={"username": username, "link": link, "hours": str(hours)}
    )


@routes.post("/admin/users/{id}/two-factor/remove")
async def users_two_factor_remove(request: web.Request) -> web.StreamResponse:
    """Turn off someone's two-factor sign-in (they lost their phone and recovery codes)."""
    require_admin(request)
    account_id = _account_id(request)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        account = await session.get(Account, account_id)
        if account is None or not account.local or account.domain != ctx.domain:
            raise web.HTTPNotFound()
        await remove_two_factor(session, account_id)
    raise web.HTTPSeeOther("/admin/users?saved=1")
