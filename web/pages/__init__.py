"""The page handlers, one module per area; :data:`PAGES` lists their route tables.

To add an area: a module here with ``routes = web.RouteTableDef()`` and its handlers, then
its table in :data:`PAGES` (fixed paths before ``{name}`` ones).
"""

from __future__ import annotations

from aiohttp import web

from web.pages import (
    account_security,
    admin,
    admin_node,
    assets,
    auth,
    home,
    password_reset,
    people,
    profile_settings,
    profiles,
    second_factor,
    settings,
    statuses,
    stream,
    timelines,
)

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
    # Settings and admin (web-B).
    second_factor.routes,
    password_reset.routes,
    profile_settings.routes,
    settings.routes,
    account_security.routes,
    admin.routes,
    admin_node.routes,
)
