"""Read markers: where a person stopped reading home and notifications, shared across apps (PROTOCOL.md C28)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from node.api.mastodon.access import context_of, signed_in
from node.api.mastodon.common import (
    ApiError,
    ApiRoutes,
    datetime_json,
    json_response,
    params,
)
from node.db.models import Marker

__all__ = ["routes"]

routes = ApiRoutes()

TIMELINES = ("home", "notifications")


def _entity(marker: Marker) -> dict[str, Any]:
    return {
        "last_read_id": marker.last_read_id,
        "version": marker.version,
        "updated_at": datetime_json(marker.updated_at),
    }


@routes.get("/api/v1/markers")
async def get_markers(request: web.Request) -> web.StreamResponse:
    """``{"home": Marker, "notifications": Marker}`` for the ``timeline[]`` asked (all if none)."""
    viewer = await signed_in(request, "read:statuses", "read:notifications")
    wanted = request.query.getall("timeline[]", []) + request.query.getall("timeline", [])
    names = [t for t in TIMELINES if t in wanted] or list(TIMELINES)
    ctx = context_of(request)
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(Marker).where(Marker.account_id == viewer.id, Marker.timeline.in_(names))
            )
        ).scalars()
        return json_response({row.timeline: _entity(row) for row in rows})


@routes.post("/api/v1/markers")
async def save_markers(request: web.Request) -> web.StreamResponse:
    """Save ``home[last_read_id]`` and/or ``notifications[last_read_id]``; each save bumps ``version``."""
    viewer = await signed_in(request, "write:statuses")
    values = await params(request)
    given: dict[str, str] = {}
    for timeline in TIMELINES:
        raw = values.get(f"{timeline}[last_read_id]")
        if raw is None:
            continue
        if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 20:
            raise ApiError(422, f"{timeline}[last_read_id] must be an id")
        given[timeline] = raw
    ctx = context_of(request)
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    try:
        async with ctx.sessions() as session, session.begin():
            for timeline, last_read_id in given.items():
                row = await session.get(Marker, (viewer.id, timeline), with_for_update=True)
                if row is None:
                    row = Marker(account_id=viewer.id, timeline=timeline, version=0)
                    session.add(row)
                row.last_read_id = last_read_id
                row.version = (row.version or 0) + 1
                row.updated_at = now
                await session.flush()
                out[timeline] = _entity(row)
    except IntegrityError:
        # Another app created the same marker at the same moment: Mastodon's answer to a
        # concurrent update (StaleObjectError) is 409, and the app tries again.
        raise ApiError(409, "Conflict during update, please try again") from None
    return json_response(out)
