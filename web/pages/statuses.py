"""Posting and acting on posts from the pages: compose, reply, like, boost, bookmark, edit,
delete, and a post's thread (issue 6).

Every action is a POST form (CSRF checked by :mod:`web.security`) that redirects back to
``next`` (local paths only); ``app.js`` sends the same form with ``fetch`` and asks for JSON
(``Accept: application/json``) so the page need not reload. The work is done by the same
services as the Mastodon API (``node.services.statuses``, ``node.services.actions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from activitypub.errors import ActivityPubError
from node.api.mastodon.access import acted_on_status, render_statuses, status_json, visible_status
from node.api.mastodon.common import ApiError
from node.api.mastodon.queries import Viewer, status_select
from node.api.mastodon.statuses import _ancestor_ids, _descendant_ids
from node.appkeys import CONTEXT, MEDIA
from node.db.engine import AsyncSession
from node.db.models import Account, Bookmark, MediaAttachment, Status
from node.services import actions
from node.services.actions import ActionError
from node.services.graph import set_mark
from node.services.media import (
    MAX_ATTACHMENTS,
    MediaError,
    attach_media,
    attachment_document,
    link_media,
)
from node.services.statuses import (
    VISIBILITIES,
    PostError,
    edit_local_status,
    post_status,
)
from node.services.web_sessions import SignedIn
from web.current import gettext, require_user, safe_next
from web.forms import field
from web.render import render, render_text

__all__ = ["routes"]

routes = web.RouteTableDef()

MAX_TEXT = 5000
MAX_SPOILER = 500
#: The longest photo description (Mastodon's 1,500).
MAX_ALT = 1500


def _status_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 19:
        raise web.HTTPNotFound()
    return int(raw)


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _viewer(user: SignedIn) -> Viewer:
    return Viewer(user.account_id, True)


async def _done(request: web.Request, status_id: int | None, next_path: str) -> web.StreamResponse:
    """Back to the page; for ``fetch``, the post's new HTML instead."""
    if not _wants_json(request):
        raise web.HTTPSeeOther(safe_next(next_path))
    if status_id is None:
        return web.json_response({"ok": True})
    user = require_user(request)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        entity = await status_json(session, ctx, _viewer(user), status_id)
    html = render_text(request, "partials/status.html", {"status": entity})
    return web.json_response({"ok": True, "id": entity["id"], "html": html})


async def _me(session: AsyncSession, user: SignedIn) -> Account:
    me = await session.get(Account, user.account_id)
    assert me is not None  # the session's account exists (resolve_session joined it)
    return me


def _photos(form: Mapping[str, object]) -> list[tuple[bytes, str]]:
    """The photos of the composer (``photo1``…``photo4``) with their alt text (``alt1``…)."""
    found = []
    for n in range(1, MAX_ATTACHMENTS + 1):
        upload = form.get(f"photo{n}")
        if isinstance(upload, web.FileField) and upload.filename:
            data = upload.file.read()
            if data:
                found.append((data, field(form, f"alt{n}", MAX_ALT + 1).strip()))
    return found


def _text_problem(
    _: Callable[[str], str], text: str, spoiler: str, *, with_photos: bool = False
) -> str:
    """What is wrong with a post's text or content warning, in the reader's language, or ""."""
    if not text and not with_photos:
        return _("Write something first.")
    if len(text) > MAX_TEXT:
        return _("A post can have at most %(count)d characters.") % {"count": MAX_TEXT}
    if len(spoiler) > MAX_SPOILER:
        return _("A content warning can have at most %(count)d characters.") % {
            "count": MAX_SPOILER
        }
    return ""


@routes.post("/statuses")
async def create(request: web.Request) -> web.StreamResponse:
    """Post from the composer: text, photos with alt text, content warning, visibility, reply."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    text = field(form, "status", MAX_TEXT + 1).strip()
    spoiler = field(form, "spoiler_text", MAX_SPOILER + 1).strip()
    visibility = field(form, "visibility", 16) or "public"
    reply_raw = field(form, "in_reply_to_id", 20)
    next_path = field(form, "next", 2048)
    photos = _photos(form)
    problem = _text_problem(_, text, spoiler, with_photos=bool(photos))
    if not problem:
        if visibility not in VISIBILITIES:
            problem = _("Choose who can see the post.")
        elif reply_raw and not reply_raw.isdigit():
            problem = _("The post you reply to does not exist.")
        elif any(len(alt) > MAX_ALT for _data, alt in photos):
            problem = _("A photo description can have at most %(count)d characters.") % {
                "count": MAX_ALT
            }
    ctx = request.app[CONTEXT]
    store = request.app[MEDIA]
    stored: list[MediaAttachment] = []
    new_id_: int | None = None
    if not problem:
        try:
            for data, alt in photos:
                stored.append(
                    await store.store_upload(
                        ctx.sessions, user.account_id, data, description=alt or None
                    )
                )
        except MediaError as exc:
            problem = _("A photo could not be used: %(reason)s") % {"reason": exc.message}
    if not problem:
        async with ctx.sessions() as session, session.begin():
            try:
                parent = (
                    await visible_status(session, int(reply_raw), _viewer(user))
                    if reply_raw
                    else None
                )
                media = await attach_media(
                    session, store, user.account_id, [str(m.id) for m in stored]
                )
                status = await post_status(
                    ctx,
                    session,
                    await _me(session, user),
                    text,
                    visibility=visibility,
                    summary=spoiler,
                    sensitive=bool(spoiler),
                    in_reply_to=parent,
                    attachments=[attachment_document(store, m) for m in media],
                )
                await link_media(session, status.id, media)
                new_id_ = status.id
            except ApiError:
                problem = _("The post you reply to does not exist.")
            except (PostError, MediaError) as exc:
                problem = str(exc)
            except ActivityPubError as exc:
                problem = _("A mention could not be resolved: %(reason)s") % {"reason": exc.reason}
    if problem:
        await store.discard(ctx.sessions, stored)  # nothing half-written: no orphan photos
        if _wants_json(request):
            return web.json_response({"ok": False, "error": problem}, status=422)
        return render(
            request,
            "compose.html",
            {
                "error": problem,
                "text": text,
                "spoiler": spoiler,
                "visibility": visibility,
                "reply_id": reply_raw if reply_raw.isdigit() else "",
                "next": safe_next(next_path),
            },
            status=422,
        )
    return await _done(request, new_id_, next_path or "/")


async def _react(request: web.Request, action: str) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    ctx = request.app[CONTEXT]
    status_id = _status_id(request)
    viewer = _viewer(user)
    async with ctx.sessions() as session, session.begin():
        status = await acted_on_status(session, status_id, viewer)
        target = status.id
        me = await _me(session, user)
        try:
            if action == "favourite":
                await actions.favourite(ctx, session, me, status)
            elif action == "unfavourite":
                await actions.unfavourite(ctx, session, me, status)
            elif action == "boost":
                await actions.reblog(ctx, session, me, status)
            elif action == "unboost":
                await actions.unreblog(ctx, session, me, status)
            else:
                await set_mark(session, Bookmark, me.id, status.id, on=action == "bookmark")
        except ActionError as exc:
            raise web.HTTPUnprocessableEntity(text=str(exc)) from None
    return await _done(request, target, field(form, "next", 2048))


def _action(verb: str) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _react(request, verb)

    handler.__name__ = f"status_{verb}"
    handler.__doc__ = f"``{verb}`` a post (one tap from the timeline)."
    routes.post(f"/statuses/{{id}}/{verb}")(handler)


for _verb in ("favourite", "unfavourite", "boost", "unboost", "bookmark", "unbookmark"):
    _action(_verb)


async def _own(session: AsyncSession, status_id: int, user: SignedIn) -> Status:
    status = await session.get(Status, status_id)
    if status is None or status.account_id != user.account_id or not status.local:
        raise web.HTTPNotFound()
    return status


@routes.post("/statuses/{id}/delete")
async def remove(request: web.Request) -> web.StreamResponse:
    """Delete one's own post (or boost)."""
    user = require_user(request)
    form = await request.post()
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        status = await _own(session, _status_id(request), user)
        me = await _me(session, user)
        await actions.delete_own_status(ctx, session, me, status)
    next_path = field(form, "next", 2048)
    if next_path.startswith(f"/statuses/{status.id}"):
        next_path = "/"
    return await _done(request, None, next_path)


@routes.get("/statuses/{id}/edit")
async def edit_page(request: web.Request) -> web.StreamResponse:
    """The edit form of one's own post."""
    user = require_user(request)
    async with request.app[CONTEXT].sessions() as session:
        status = await _own(session, _status_id(request), user)
    if status.reblog_of_id is not None:
        raise web.HTTPNotFound()
    return render(
        request,
        "edit.html",
        {
            "status_id": status.id,
            "text": status.text or "",
            "spoiler": status.summary or "",
            "error": "",
        },
    )


@routes.post("/statuses/{id}/edit")
async def edit_submit(request: web.Request) -> web.StreamResponse:
    """Save an edit (the old version goes to the history; peers get ``Update``)."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    text = field(form, "status", MAX_TEXT + 1).strip()
    spoiler = field(form, "spoiler_text", MAX_SPOILER + 1).strip()
    status_id = _status_id(request)
    ctx = request.app[CONTEXT]
    problem = _text_problem(_, text, spoiler)
    if not problem:
        async with ctx.sessions() as session, session.begin():
            status = await _own(session, status_id, user)
            if status.reblog_of_id is not None:
                raise web.HTTPNotFound()
            try:
                await edit_local_status(
                    ctx,
                    session,
                    await _me(session, user),
                    status,
                    text,
                    summary=spoiler,
                    sensitive=bool(spoiler),
                )
            except PostError as exc:
                problem = str(exc)
    if problem:
        async with ctx.sessions() as session:
            await _own(session, status_id, user)  # 404 for another's post, before anything
        return render(
            request,
            "edit.html",
            {"status_id": status_id, "text": text, "spoiler": spoiler, "error": problem},
            status=422,
        )
    raise web.HTTPSeeOther(f"/statuses/{status_id}")


@routes.get("/statuses/{id}")
async def thread(request: web.Request) -> web.StreamResponse:
    """A post with what it answers and its replies, oldest first, and a reply form."""
    user = require_user(request)
    viewer = _viewer(user)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        status = await visible_status(session, _status_id(request), viewer)
        ancestors = await _ancestor_ids(session, status)
        descendants = await _descendant_ids(session, status, viewer)
        rows = (
            (
                await session.execute(
                    status_select(viewer)
                    .where(Status.id.in_([*ancestors, status.id, *descendants]))
                    .order_by(Status.id)
                )
            )
            .mappings()
            .all()
        )
        entities = await render_statuses(session, ctx, viewer, list(rows))
    by_id: dict[int, dict[str, Any]] = {int(e["id"]): e for e in entities}
    focus = by_id.get(status.id)
    if focus is None:
        raise web.HTTPNotFound()
    return render(
        request,
        "thread.html",
        {
            "ancestors": [by_id[i] for i in sorted(ancestors) if i in by_id],
            "focus": focus,
            "descendants": [by_id[i] for i in sorted(descendants) if i in by_id],
            "reply_to": focus.get("reblog") or focus,
        },
    )
