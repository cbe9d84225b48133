"""Rendering a page: a template of :mod:`web.templates` in the request's language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from markupsafe import escape

from node.appkeys import SETTINGS
from web.current import csrf_token, current_user, locale_of

__all__ = ["render", "render_text"]


def render_text(request: web.Request, template: str, context: Mapping[str, Any]) -> str:
    """The HTML of *template* for this request (what :func:`render` sends)."""
    from web.runtime import WEB  # the runtime is built from this package's modules

    values: dict[str, Any] = {
        "user": current_user(request),
        "csrf_token": escape(csrf_token(request)),  # escaped once, not per form of a page
        "node_name": request.app[SETTINGS].node.name,
        "path": request.path,
        "path_qs": request.path_qs,
        "title": "",
    }
    values.update(context)
    return request.app[WEB].template(locale_of(request), template).render(values)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """*template* rendered with *context* plus what every page has (user, CSRF token, …)."""
    return web.Response(
        text=render_text(request, template, context or {}),
        status=status,
        content_type="text/html",
        charset="utf-8",
    )
