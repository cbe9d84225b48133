"""Reading form fields and query parameters of the pages (bad input is a 422 page, not a 500)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

__all__ = ["FormError", "cursor", "field"]


class FormError(ValueError):
    """A field the person must correct; the message is already translated."""


def field(form: Mapping[str, object], name: str, limit: int) -> str:
    """The text of field *name* (missing or a file: ""), cut to *limit* characters."""
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def cursor(request: web.Request, name: str) -> int | None:
    """A numeric id parameter of the query (``max_id``); anything else is a 400 page."""
    raw = request.query.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise web.HTTPBadRequest(text=f"{name} must be an id")
    return int(raw)
