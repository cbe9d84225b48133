"""Static files at fingerprinted URLs (:mod:`web.static`)."""

from __future__ import annotations

from aiohttp import web

from web.runtime import WEB
from web.static import YEAR

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/static/{fingerprint}/{name:.+}")
async def static_file(request: web.Request) -> web.StreamResponse:
    """The file, cached for a year (its URL changes when it does), or 404."""
    found = request.app[WEB].static.get(
        request.match_info["fingerprint"], request.match_info["name"]
    )
    if found is None:
        raise web.HTTPNotFound()
    textual = found.content_type.startswith("text/") or found.content_type.endswith("javascript")
    return web.Response(
        body=found.body,
        content_type=found.content_type,
        charset="utf-8" if textual else None,
        headers={"Cache-Control": f"public, max-age={YEAR}, immutable"},
    )
