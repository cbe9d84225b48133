"""The node's own web pages (issue 6): server-rendered jinja2, progressively enhanced.

``web.setup(app)`` is called by the composition root (``node.app.create_app``); it adds the
page routes, the web middleware (:mod:`web.security`) and the runtime (:mod:`web.runtime`).
Pages use ``node``'s services, never a second implementation; ``node`` imports ``web`` only
in its composition root.
"""

from __future__ import annotations

from aiohttp import web

from web.pages import PAGES
from web.runtime import WEB, WebRuntime
from web.security import web_middleware

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Mount the web pages on the node's *app* (before it starts)."""
    handlers = [
        route.handler for table in PAGES for route in table if isinstance(route, web.RouteDef)
    ]
    app[WEB] = WebRuntime.create(handlers)
    app.middlewares.append(web_middleware)
    for table in PAGES:
        app.add_routes(table)
