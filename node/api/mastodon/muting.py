"""Muting a thread (``POST /api/v1/statuses/:id/mute`` and ``/unmute``) and what mutes hide
from notifications.

A muted thread sends no more notifications; a muted account sends none either unless the
mute was made with ``notifications=false`` (Mastodon's option). Both are applied where
notifications are read (REST and streaming share ``notifications.notification_select``), so
every way a notification is written — posting here, one received post, a batch — is covered.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import ColumnElement, and_, delete, exists, func, or_
from sqlalchemy.orm import aliased

from node.api.mastodon.access import context_of, path_id, signed_in, status_json, visible_status
from node.api.mastodon.common import ApiRoutes, json_response
from node.api.mastodon.queries import Viewer
from node.db.models import Mute, Notification, Status, ThreadMute
from node.ids import new_id
from node.services.graph import insert_ignore

__all__ = ["quiet", "routes", "thread_of"]

routes = ApiRoutes()


def thread_of(status: Status) -> str:
    """The thread a status belongs to (its ``context``, or itself when it starts one)."""
    return status.context or status.uri


def quiet(viewer: Viewer) -> ColumnElement[bool]:
    """SQL over ``notifications`` joined to ``statuses``: not from an account the viewer muted
    with notifications, not about a thread the viewer muted — since the mute was made, so
    what was notified before stays, as in Mastodon (which never writes the muted ones)."""
    mute = aliased(Mute)
    thread = aliased(ThreadMute)
    return and_(
        ~exists().where(
            mute.account_id == viewer.id,
            mute.target_account_id == Notification.from_account_id,
            mute.hide_notifications.is_(True),
            mute.created_at <= Notification.created_at,
        ),
        or_(
            Notification.status_id.is_(None),
            ~exists().where(
                thread.account_id == viewer.id,
                thread.context == func.coalesce(Status.context, Status.uri),
                thread.created_at <= Notification.created_at,
            ),
        ),
    )


async def _mute(request: web.Request, on: bool) -> web.StreamResponse:
    viewer = await signed_in(request, "write:mutes")
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        status = await visible_status(session, path_id(request), viewer)
        if status.reblog_of_id is not None:  # a boost's thread is its original's
            status = await visible_status(session, status.reblog_of_id, viewer)
        thread = thread_of(status)
        if on:
            now = datetime.now(UTC)
            await session.execute(
                insert_ignore(session, ThreadMute).values(
                    id=new_id(now), account_id=viewer.id, context=thread, created_at=now
                )
            )
        else:
            await session.execute(
                delete(ThreadMute).where(
                    ThreadMute.account_id == viewer.id, ThreadMute.context == thread
                )
            )
        answer = status.id
    async with ctx.sessions() as session:
        return json_response(await status_json(session, ctx, viewer, answer))


@routes.post("/api/v1/statuses/{id}/mute")
async def mute_thread(request: web.Request) -> web.StreamResponse:
    """No more notifications from this status's thread; answers with it, ``muted: true``."""
    return await _mute(request, True)


@routes.post("/api/v1/statuses/{id}/unmute")
async def unmute_thread(request: web.Request) -> web.StreamResponse:
    """Notifications from the thread again."""
    return await _mute(request, False)
