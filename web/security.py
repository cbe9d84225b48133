"""The web pages' middleware: session, language, CSRF, security headers, error pages.

It acts only on the handlers of :mod:`web.pages` (the API and federation routes keep their
own rules). For each page request it:

- loads the browser session from its cookie (:mod:`node.services.web_sessions`);
- picks the language (:mod:`web.i18n`);
- refuses a POST whose ``csrf_token`` field (or ``X-CSRF-Token`` header) does not match
  with 403 before the handler runs, so nothing changes (ASVS 4.2.2);
- sets a strict Content-Security-Policy (no inline script or style), frame, referrer and
  sniffing headers (ASVS 14.4);
- turns an :class:`~node.api.mastodon.common.ApiError` from a shared service into an HTML
  error page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from node.api.mastodon.common import ApiError
from node.api.mastodon.home import FAST_READS
from node.appkeys import CONTEXT, SETTINGS
from node.auth.forms import FormSigner
from node.services.web_sessions import (
    judge_session,
    resolve_session,
    session_digest,
    session_select,
)
from web.current import ANON_NONCE, LOCALE, USER, csrf_matches
from web.i18n import choose_locale
from web.render import render
from web.runtime import WEB

__all__ = [
    "ANON_COOKIE",
    "SAFE_METHODS",
    "content_security_policy",
    "cookie_secure",
    "session_cookie_name",
    "web_middleware",
]

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANON_COOKIE = "kantine_csrf"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cookie_secure(request: web.Request) -> bool:
    """Whether cookies carry ``Secure``: always, unless the node allows plain http."""
    settings = request.app[SETTINGS]
    return settings.base_url.startswith("https://") or not settings.federation.allow_http


def session_cookie_name(request: web.Request) -> str:
    """``__Host-kantine_session`` over https (ASVS 3.4.4), ``kantine_session`` otherwise."""
    return "__Host-kantine_session" if cookie_secure(request) else "kantine_session"


def content_security_policy(request: web.Request) -> str:
    """No inline script or style, nothing from other sites but pictures (remote avatars)."""
    pictures = "'self' https: data:"
    if request.app[SETTINGS].federation.allow_http:
        pictures += " http:"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {pictures}; media-src {pictures}; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if "Cache-Control" not in response.headers and response.content_type == "text/html":
        # Pages are personal: never kept by a shared cache, nor served stale after logout.
        response.headers["Cache-Control"] = "private, no-cache"
    response.headers.setdefault("Vary", "Cookie, Accept-Language")


async def _load_session(request: web.Request) -> None:
    secret = request.cookies.get(session_cookie_name(request), "")
    if not secret:
        return
    # On SQLite the session row is read with plain sqlite3 (no thread hop, no ORM); only a
    # session whose ``last_seen_at`` is due to be written takes the async session.
    reads = request.app.get(FAST_READS)
    digest = session_digest(secret)
    if reads is not None and digest is not None:
        rows = reads.rows("web_session", session_select, secret_hash=digest)
        user, touch = judge_session(rows[0] if rows else None, datetime.now(UTC))
        if not touch:
            if user is not None:
                request[USER] = user
            return
    async with request.app[CONTEXT].sessions() as session:
        user = await resolve_session(session, secret)
    if user is not None:
        request[USER] = user


async def _csrf_ok(request: web.Request) -> bool:
    token = request.headers.get("X-CSRF-Token", "")
    if not token and request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        form = await request.post()
        value = form.get("csrf_token", "")
        token = value if isinstance(value, str) else ""
    return csrf_matches(request, token)


@web.middleware
async def web_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """See the module doc; other routes pass straight through."""
    runtime = request.app.get(WEB)
    if runtime is None or request.match_info.handler not in runtime.handlers:
        return await handler(request)
    request[LOCALE] = choose_locale(request)
    await _load_session(request)
    fresh_nonce = ""
    if USER not in request:
        nonce = request.cookies.get(ANON_COOKIE, "")
        if not nonce or len(nonce) > 64:
            nonce = fresh_nonce = FormSigner.nonce()
        request[ANON_NONCE] = nonce
    try:
        if request.method not in SAFE_METHODS and not await _csrf_ok(request):
            log.info("web: refused %s %s without a valid CSRF token", request.method, request.path)
            response: web.StreamResponse = render(
                request, "error.html", {"status": 403, "reason": "csrf"}, status=403
            )
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "text/html":
            response = render(
                request, "error.html", {"status": exc.status, "reason": ""}, status=exc.status
            )
        else:
            _headers(request, exc)
            raise
    except ApiError as exc:
        response = render(
            request,
            "error.html",
            {"status": exc.status, "reason": "", "message": exc.message},
            status=exc.status,
        )
    if fresh_nonce and not response.prepared:
        response.set_cookie(
            ANON_COOKIE,
            fresh_nonce,
            httponly=True,
            samesite="Lax",
            secure=cookie_secure(request),
            path="/",
        )
    if not response.prepared:
        _headers(request, response)
    return response
