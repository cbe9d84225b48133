"""What a page handler asks of its request: the person, the language, the CSRF token.

The web middleware (:mod:`web.security`) fills these in before a page handler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from aiohttp import web

from node.appkeys import AUTH
from node.services.web_sessions import SignedIn

__all__ = [
    "ANON_NONCE",
    "LOCALE",
    "USER",
    "csrf_matches",
    "csrf_token",
    "current_user",
    "gettext",
    "locale_of",
    "require_admin",
    "require_user",
    "safe_next",
]

USER = web.RequestKey("kantine_web_user", SignedIn)
LOCALE = web.RequestKey("kantine_web_locale", str)
ANON_NONCE = web.RequestKey("kantine_web_anon_nonce", str)
_CSRF_SIGNED_IN = "web-csrf"
_CSRF_ANONYMOUS = "web-csrf-anonymous"


def current_user(request: web.Request) -> SignedIn | None:
    """The signed-in person, or None."""
    return request.get(USER)


def safe_next(target: str | None, default: str = "/") -> str:
    """*target* if it is a path on this site, else *default* (no open redirects, ASVS 5.1.5).

    Only ``/path`` is allowed: not ``//host``, not ``/\\host`` (browsers read both as another
    host), not schemes, no control characters.
    """
    if not target or len(target) > 2048:
        return default
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 0x20 or char == "\\" for char in target):
        return default
    return target


def require_user(request: web.Request) -> SignedIn:
    """The signed-in person; anyone else is sent to the login page and back here after."""
    user = current_user(request)
    if user is None:
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    return user


def require_admin(request: web.Request) -> SignedIn:
    """The signed-in admin; another person gets 403."""
    user = require_user(request)
    if not user.is_admin:
        raise web.HTTPForbidden(text="Only admins may open this page.")
    return user


def locale_of(request: web.Request) -> str:
    """The language this request is answered in (``en`` or ``nl``)."""
    return str(request.get(LOCALE, "en"))


def gettext(request: web.Request) -> Callable[[str], str]:
    """``_`` for handler code: translates a message into the request's language."""
    from web.runtime import WEB  # the runtime imports the template helpers, which import this

    translate: Callable[[str], str] = request.app[WEB].translations[locale_of(request)].gettext
    return translate


def csrf_token(request: web.Request) -> str:
    """The token a form of this page must send back as ``csrf_token`` (ASVS 4.2.2).

    Signed in, it derives from the session's CSRF secret; before that (the login form), from
    a random nonce in a cookie (signed double submit).
    """
    signer = request.app[AUTH].signer
    user = current_user(request)
    if user is not None:
        return signer.token_for(_CSRF_SIGNED_IN, user.csrf_secret)
    return signer.token_for(_CSRF_ANONYMOUS, request.get(ANON_NONCE, ""))


def csrf_matches(request: web.Request, token: str) -> bool:
    """Whether *token* is this request's CSRF token."""
    signer = request.app[AUTH].signer
    user = current_user(request)
    if user is not None:
        return signer.matches(_CSRF_SIGNED_IN, user.csrf_secret, token)
    nonce = request.get(ANON_NONCE, "")
    return bool(nonce) and signer.matches(_CSRF_ANONYMOUS, nonce, token)
