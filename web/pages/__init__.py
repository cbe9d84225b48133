"""The page handlers, one module per area; :data:`PAGES` lists their route tables.

To add an area: a module here with ``routes = web.RouteTableDef()`` and its handlers, then
its table in :data:`PAGES` (fixed paths before ``{name}`` ones).
"""

from __future__ import annotations

from aiohttp import web

from web.pages import assets, auth, home, people, profiles, statuses, stream, timelines

__all__ = ["PAGES"]

PAGES: tuple[web.RouteTableDef, ...] = (
    assets.routes,
    auth.routes,
    home.routes,
    statuses.routes,
    timelines.routes,
    people.routes,
    stream.routes,
    profiles.routes,
)
