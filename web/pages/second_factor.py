"""The step after a right password: a two-factor code when the person turned it on.

:func:`after_password` is the hook the login handler calls once the password is right. Without
two-factor it signs in at once; with it, it answers with the code page carrying a signed
ticket (five minutes, bound to this browser's anonymous CSRF nonce and to the account), and
``POST /login/code`` signs in only with a right code, throttled like passwords (SECURITY.md
row 21). Signing in also brings back the language the person chose in their settings.
"""

from __future__ import annotations

from aiohttp import web

from node.api.mastodon.oauth import client_address
from node.appkeys import AUTH, CONTEXT
from node.auth.two_factor import check_code, is_enabled
from node.db.models import Account
from node.services.preferences import get_language
from web.current import ANON_NONCE, gettext, safe_next
from web.forms import field
from web.i18n import remember_language
from web.render import render
from web.security import cookie_secure

__all__ = ["after_password", "routes"]

routes = web.RouteTableDef()

_PURPOSE = "web-2fa"
_TICKET_TTL = 300.0


async def _signed_in(
    request: web.Request, account: Account, *, method: str, next_path: str
) -> web.HTTPSeeOther:
    # Imported here: the login module imports this one for its hook.
    from web.pages.auth import sign_in

    response = await sign_in(request, account, method=method, next_path=next_path)
    async with request.app[CONTEXT].sessions() as session:
        language = await get_language(session, account.id)
    if language:
        remember_language(response, language, secure=cookie_secure(request))
    return response


def _code_page(
    request: web.Request, ticket: str, next_path: str, *, error: str = "", status: int = 200
) -> web.Response:
    _ = gettext(request)
    response = render(
        request,
        "login_code.html",
        {"title": _("Two-factor code"), "ticket": ticket, "next": next_path, "error": error},
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _ticket(request: web.Request, account: Account, next_path: str) -> str:
    return request.app[AUTH].signer.sign(
        _PURPOSE,
        {"a": account.id, "n": request.get(ANON_NONCE, ""), "next": next_path},
        ttl=_TICKET_TTL,
    )


async def after_password(
    request: web.Request, account: Account, *, method: str, next_path: str
) -> web.StreamResponse:
    """Sign *account* in, or ask for its two-factor code first."""
    async with request.app[CONTEXT].sessions() as session:
        needs_code = await is_enabled(session, account.id)
    if not needs_code:
        raise await _signed_in(request, account, method=method, next_path=next_path)
    return _code_page(request, _ticket(request, account, next_path), next_path)


@routes.post("/login/code")
async def login_code(request: web.Request) -> web.StreamResponse:
    """Check the code of a ticket from :func:`after_password`; sign in when right."""
    _ = gettext(request)
    form = await request.post()
    signer = request.app[AUTH].signer
    data = signer.load(_PURPOSE, field(form, "ticket", 4096))
    nonce = request.get(ANON_NONCE, "")
    if data is None or not nonce or data.get("n") != nonce:
        return render(
            request,
            "login.html",
            {
                "next": "/",
                "username": "",
                "error": _("This sign-in has expired. Enter your password again."),
            },
            status=403,
        )
    next_path = safe_next(str(data.get("next", "/")))
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await session.get(Account, int(data["a"]))
    if account is None or account.suspended_at is not None:
        return render(
            request,
            "login.html",
            {"next": next_path, "username": "", "error": _("This account cannot sign in.")},
            status=403,
        )
    code = field(form, "code", 64).strip()
    if not code:
        ticket = _ticket(request, account, next_path)
        return _code_page(request, ticket, next_path, error=_("Enter the code."), status=422)
    limiter = request.app[AUTH].limiter
    refused = limiter.check(client_address(request), account.username)
    if refused is not None:
        response = _code_page(
            request,
            _ticket(request, account, next_path),
            next_path,
            error=_("Too many sign-in attempts. Wait a few minutes and try again."),
            status=429,
        )
        response.headers.update(refused.headers())
        return response
    async with ctx.sessions() as session, session.begin():
        ok = await check_code(session, account.id, code)
    limiter.record(account.username, success=ok)
    if not ok:
        return _code_page(
            request,
            _ticket(request, account, next_path),
            next_path,
            error=_("That code is not right."),
            status=401,
        )
    raise await _signed_in(request, account, method="password+totp", next_path=next_path)
