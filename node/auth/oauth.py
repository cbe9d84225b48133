"""The OAuth 2 authorization server: apps, codes and grants (PROTOCOL.md C9–C14).

RFC 6749 (grants), RFC 7636 (PKCE S256), RFC 7009 (revocation). Secrets (client secrets,
codes, access and refresh tokens) are stored only as SHA-256 digests; a code is single-use
and lives ten minutes; a ``redirect_uri`` must equal a registered one exactly (SECURITY.md
rows 19–20). Nothing here sees an HTTP request: the web layer passes plain values.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, select, update

from node.auth.passwords import verify_password
from node.auth.scopes import ScopeError, covers, parse_scopes
from node.auth.tokens import IssuedToken, digest, mint_token, revoke_token
from node.db.engine import AsyncSession
from node.db.models import Account, AuthorizationCode, OAuthApp, Token
from node.ids import new_id
from node.services.accounts import INSTANCE_USERNAME, local_account

__all__ = [
    "CODE_LIFETIME",
    "OOB",
    "AuthorizationRequest",
    "CodeReused",
    "OAuthError",
    "RegisteredApp",
    "authenticate_client",
    "check_authorization",
    "check_password",
    "client_credentials_grant",
    "create_code",
    "exchange_code",
    "find_app",
    "password_grant",
    "redirect_uris_of",
    "refresh_grant",
    "register_app",
    "revoke",
]

#: The out-of-band redirect: the code is shown to the person instead (C9).
OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
_MAX_REDIRECT_URIS = 10
#: Schemes a browser could run or read locally; never a redirect target.
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})


class OAuthError(Exception):
    """An OAuth error as RFC 6749 §5.2 names it (``invalid_grant``, ``invalid_client``, …)."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class CodeReused(OAuthError):
    """A code was presented a second time; the token it gave must be revoked (RFC 6749 §4.1.2)."""

    def __init__(self, token_id: int | None) -> None:
        super().__init__("invalid_grant", "The authorization code was already used")
        self.token_id = token_id


@dataclass(frozen=True)
class RegisteredApp:
    """A new app and its client secret (shown once)."""

    app: OAuthApp
    client_secret: str


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked ``/oauth/authorize`` request (C10)."""

    app: OAuthApp
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str | None


def redirect_uris_of(app: OAuthApp) -> list[str]:
    """The app's registered redirect URIs."""
    return app.redirect_uris.split("\n")


def _valid_redirect_uri(uri: str) -> bool:
    if uri == OOB:
        return True
    if len(uri) > 2048 or any(c.isspace() for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if not parts.scheme or parts.fragment or parts.scheme.lower() in _FORBIDDEN_SCHEMES:
        return False
    return not (parts.scheme.lower() in {"http", "https"} and not host)


async def register_app(
    session: AsyncSession,
    *,
    name: str,
    redirect_uris: list[str],
    scopes: str,
    website: str | None,
) -> RegisteredApp:
    """Register an app (C9); ``OAuthError`` with ``invalid_*`` on bad input."""
    name = name.strip()
    if not name or len(name) > 255:
        raise OAuthError("invalid_client_metadata", "client_name must be 1–255 characters")
    if website is not None and (len(website) > 2048 or not website.startswith("http")):
        website = None
    if not redirect_uris or len(redirect_uris) > _MAX_REDIRECT_URIS:
        raise OAuthError("invalid_redirect_uri", "give between 1 and 10 redirect_uris")
    if not all(_valid_redirect_uri(u) for u in redirect_uris):
        raise OAuthError("invalid_redirect_uri", "a redirect URI is not valid")
    try:
        wanted = parse_scopes(scopes, default="read")
    except ScopeError as exc:
        raise OAuthError("invalid_scope", str(exc)) from None
    secret = secrets.token_urlsafe(32)
    app = OAuthApp(
        id=new_id(),
        name=name,
        website=website,
        redirect_uris="\n".join(dict.fromkeys(redirect_uris)),
        scopes=" ".join(wanted),
        client_id=secrets.token_urlsafe(32),
        secret_digest=digest(secret),
    )
    session.add(app)
    await session.flush()
    return RegisteredApp(app, secret)


async def find_app(session: AsyncSession, client_id: str) -> OAuthApp | None:
    """The app with public identifier *client_id*."""
    if not client_id or len(client_id) > 64:
        return None
    return (
        await session.execute(select(OAuthApp).where(OAuthApp.client_id == client_id))
    ).scalar_one_or_none()


async def authenticate_client(session: AsyncSession, client_id: str, secret: str) -> OAuthApp:
    """The app whose id and secret these are; 401 ``invalid_client`` otherwise (RFC 6749 §2.3)."""
    app = await find_app(session, client_id)
    if app is None or not hmac.compare_digest(app.secret_digest, digest(secret)):
        raise OAuthError("invalid_client", "Client authentication failed", status=401)
    return app


def _requested_scopes(app: OAuthApp, scope: str) -> tuple[str, ...]:
    try:
        wanted = parse_scopes(scope, default="read")
    except ScopeError as exc:
        raise OAuthError("invalid_scope", str(exc)) from None
    if not covers(app.scopes.split(), wanted):
        raise OAuthError("invalid_scope", "The requested scope is not granted to this app")
    return wanted


def check_authorization(
    app: OAuthApp,
    *,
    redirect_uri: str,
    response_type: str,
    scope: str,
    code_challenge: str,
    code_challenge_method: str,
) -> AuthorizationRequest:
    """Check an authorization request once the app and redirect URI are known to be good (C10)."""
    if response_type != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported")
    scopes = _requested_scopes(app, scope)
    challenge: str | None = None
    if code_challenge or code_challenge_method:
        if code_challenge_method != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        if not 43 <= len(code_challenge) <= 128:
            raise OAuthError("invalid_request", "code_challenge must be 43–128 characters")
        challenge = code_challenge
    return AuthorizationRequest(app, redirect_uri, scopes, challenge)


async def check_password(
    session: AsyncSession, domain: str, username: str, password: str
) -> Account | None:
    """The local account these credentials open, or None (argon2 runs off the event loop)."""
    name = username.strip().lower()
    if name.endswith("@" + domain):
        name = name[: -len(domain) - 1]
    if not name or not password or name == INSTANCE_USERNAME or len(name) > 64:
        return None
    account = await local_account(session, domain, name)
    if account is None or account.suspended_at is not None:
        return None
    ok = await asyncio.to_thread(verify_password, account.password_hash, password)
    return account if ok else None


async def create_code(
    session: AsyncSession, request: AuthorizationRequest, account: Account
) -> str:
    """A new single-use authorization code for *account* (RFC 6749 §4.1.2)."""
    code = secrets.token_urlsafe(32)
    session.add(
        AuthorizationCode(
            id=new_id(),
            digest=digest(code),
            app_id=request.app.id,
            account_id=account.id,
            redirect_uri=request.redirect_uri,
            scopes=" ".join(request.scopes),
            code_challenge=request.code_challenge,
            expires_at=datetime.now(UTC) + CODE_LIFETIME,
        )
    )
    await session.flush()
    return code


def _s256(verifier: str) -> str:
    raw = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def exchange_code(
    session: AsyncSession, app: OAuthApp, code: str, redirect_uri: str, verifier: str
) -> IssuedToken:
    """Trade a code for a token (RFC 6749 §4.1.3, RFC 7636 §4.6); a code works once.

    Raises :class:`CodeReused` on a second use; the caller revokes the token it gave in a
    transaction of its own, since this one is rolled back.
    """
    row = (
        await session.execute(
            select(AuthorizationCode).where(AuthorizationCode.digest == digest(code))
        )
    ).scalar_one_or_none()
    invalid = OAuthError("invalid_grant", "The authorization code is invalid or expired")
    now = datetime.now(UTC)
    if row is None or row.app_id != app.id:
        raise invalid
    if row.used_at is not None:
        raise CodeReused(row.token_id)
    if row.expires_at <= now or redirect_uri != row.redirect_uri:
        raise invalid
    if row.code_challenge is not None and not (
        verifier and hmac.compare_digest(_s256(verifier), row.code_challenge)
    ):
        raise OAuthError("invalid_grant", "The code_verifier does not match the challenge")
    # Claim the code atomically: of two concurrent exchanges only one updates the row.
    claimed = cast(
        "CursorResult[tuple[()]]",
        await session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        ),
    )
    if claimed.rowcount != 1:
        raise CodeReused(None)
    issued = await mint_token(
        session,
        account_id=row.account_id,
        app_id=app.id,
        scopes=tuple(row.scopes.split()),
        refresh=True,
    )
    await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id)
        .values(token_id=issued.token_id)
    )
    return issued


async def password_grant(
    session: AsyncSession, app: OAuthApp, account: Account, scope: str
) -> IssuedToken:
    """A token for an account whose password the caller has checked (C11, for scripts)."""
    scopes = _requested_scopes(app, scope)
    return await mint_token(
        session, account_id=account.id, app_id=app.id, scopes=scopes, refresh=True
    )


async def client_credentials_grant(session: AsyncSession, app: OAuthApp, scope: str) -> IssuedToken:
    """The app's own token, speaking for no user (RFC 6749 §4.4)."""
    scopes = _requested_scopes(app, scope)
    return await mint_token(session, account_id=None, app_id=app.id, scopes=scopes)


async def refresh_grant(
    session: AsyncSession, app: OAuthApp, refresh_token: str, scope: str
) -> IssuedToken:
    """A fresh token for a refresh token; the old pair is revoked (RFC 6749 §6)."""
    old = (
        await session.execute(
            select(Token).where(
                Token.refresh_digest == digest(refresh_token), Token.revoked_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    if old is None or old.app_id != app.id or old.account_id is None:
        raise OAuthError("invalid_grant", "The refresh token is invalid")
    granted = tuple(old.scopes.split())
    scopes = granted
    if scope.strip():
        try:
            scopes = parse_scopes(scope)
        except ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        if not covers(granted, scopes):
            raise OAuthError("invalid_scope", "The requested scope exceeds the original grant")
    await revoke_token(session, old.id)
    return await mint_token(
        session, account_id=old.account_id, app_id=app.id, scopes=scopes, refresh=True
    )


async def revoke(session: AsyncSession, app: OAuthApp, token: str) -> None:
    """Revoke an access or refresh token of *app* (RFC 7009 §2.1); unknown tokens are fine."""
    hashed = digest(token)
    row = (
        await session.execute(
            select(Token).where((Token.digest == hashed) | (Token.refresh_digest == hashed))
        )
    ).scalar_one_or_none()
    if row is None:
        return
    if row.app_id != app.id:
        raise OAuthError(
            "unauthorized_client", "The token was not issued to this client", status=403
        )
    await revoke_token(session, row.id)
