"""App registration: ``POST /api/v1/apps`` and ``GET /api/v1/apps/verify_credentials`` (C9).

``redirect_uris`` may be one string (several URIs separated by new lines or spaces, as
Mastodon.py sends them) or a JSON array; ``urn:ietf:wg:oauth:2.0:oob`` is accepted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from node.api.mastodon.common import ApiError, ApiRoutes, json_response, params
from node.appkeys import CONTEXT
from node.auth.oauth import OOB, OAuthError, redirect_uris_of, register_app
from node.auth.tokens import TokenHolder, find_token
from node.db.models import OAuthApp

__all__ = ["app_json", "routes"]

routes = ApiRoutes()


def app_json(app: OAuthApp, *, client_secret: str | None = None) -> dict[str, Any]:
    """The Application entity; with the credentials right after registration (C9)."""
    uris = redirect_uris_of(app)
    body: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",
    }
    if client_secret is not None:
        body["client_id"] = app.client_id
        body["client_secret"] = client_secret
        body["client_secret_expires_at"] = 0
    return body


def _redirect_uris(values: MultiDictProxy[Any]) -> list[str]:
    listed = [str(v).strip() for v in values.getall("redirect_uris[]", [])]
    if not listed:
        listed = str(values.get("redirect_uris", "")).split()
    return [uri for uri in listed if uri]


@routes.post("/api/v1/apps")
async def create_app(request: web.Request) -> web.StreamResponse:
    """Register a client application; the secret is shown this once (C9)."""
    values = await params(request)
    uris = _redirect_uris(values)
    if not uris:
        raise ApiError(422, "Validation failed: Redirect URI can't be blank")
    try:
        async with request.app[CONTEXT].sessions() as session, session.begin():
            registered = await register_app(
                session,
                name=str(values.get("client_name", "")),
                redirect_uris=uris,
                scopes=str(values.get("scopes", "")),
                website=str(values["website"]) if values.get("website") else None,
            )
    except OAuthError as exc:
        raise ApiError(422, f"Validation failed: {exc.description}") from None
    return json_response(app_json(registered.app, client_secret=registered.client_secret))


async def _holder(request: web.Request) -> TokenHolder:
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if secret:
        async with request.app[CONTEXT].sessions() as session:
            holder = await find_token(session, secret)
        if holder is not None:
            return holder
    raise ApiError(401, "The access token is invalid")


@routes.get("/api/v1/apps/verify_credentials")
async def verify_credentials(request: web.Request) -> web.StreamResponse:
    """The app a token (a user's or the app's own) belongs to (C9)."""
    holder = await _holder(request)
    if holder.app is not None:
        return json_response(app_json(holder.app))
    # A token from ``kantine tokens create`` belongs to no registered app.
    return json_response(
        {
            "name": holder.token.name or "Kantine command line",
            "website": None,
            "scopes": holder.token.scopes.split(),
            "redirect_uri": OOB,
            "redirect_uris": [OOB],
            "vapid_key": "",
        }
    )
