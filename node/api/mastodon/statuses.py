"""Statuses: post, show, edit, delete, thread, source and history (PROTOCOL.md C20, C35).

``POST /api/v1/statuses`` honours ``Idempotency-Key`` for an hour: a client that retries
gets the post it made the first time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select, update

from activitypub.errors import ActivityPubError
from node.api.mastodon.access import (
    account_row,
    authorize,
    context_of,
    flag,
    maybe_viewer,
    path_id,
    render_statuses,
    signed_in,
    status_json,
    visible_status,
)
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, params
from node.api.mastodon.entities import account_entity, media_attachments, status_edit_entity
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.home import FAST_READS
from node.api.mastodon.media import media_attributes
from node.api.mastodon.queries import Viewer, status_select, unmuted, visible_to
from node.api.mastodon.scheduled import schedule
from node.appkeys import MEDIA
from node.db.engine import AsyncSession
from node.db.models import Account, IdempotencyKey, MediaAttachment, Status, StatusEdit
from node.db.writers import hold_writes
from node.services import actions
from node.services.graph import insert_ignore
from node.services.media import (
    MediaError,
    apply_attributes,
    attach_media,
    attachment_document,
    link_media,
)
from node.services.scheduling import PostParams
from node.services.statuses import (
    VISIBILITIES,
    PostError,
    edit_local_status,
    post_status,
)

__all__ = ["routes"]

routes = ApiRoutes()

_KEY_LIFETIME = timedelta(hours=1)
_THREAD_DEPTH = 40
_THREAD_SIZE = 400


def _media_ids(values: Any) -> list[str] | None:
    """``media_ids[]`` (forms, flattened JSON) or ``media_ids``; None when not sent at all."""
    if "media_ids[]" not in values and "media_ids" not in values:
        return None
    ids = [*values.getall("media_ids[]", []), *values.getall("media_ids", [])]
    if not all(isinstance(i, str) for i in ids):
        raise ApiError(422, "media_ids must be ids")
    return [i for i in ids if i]


async def _attachments(
    request: web.Request,
    session: AsyncSession,
    viewer: Viewer,
    media_ids: list[str],
    status_id: int | None = None,
    attributes: dict[str, dict[str, str]] | None = None,
) -> tuple[list[dict[str, Any]], list[MediaAttachment]]:
    """The documents of the caller's media *media_ids* and the rows to link (422 if not theirs),
    with an edit's alt text and focus changes applied."""
    store = request.app[MEDIA]
    try:
        rows = await attach_media(session, store, viewer.id, media_ids, status_id=status_id)
        if attributes:
            apply_attributes(store, rows, attributes)
    except MediaError as exc:
        raise ApiError(exc.status, exc.message) from None
    return [attachment_document(store, m) for m in rows], rows


def _text_param(values: Any, name: str, limit: int) -> str:
    value = values.get(name, "")
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be text")
    if len(value) > limit:
        raise ApiError(422, f"{name} is longer than {limit} characters")
    return value


async def _claim_key(session: AsyncSession, account_id: int, key: str) -> tuple[bool, int | None]:
    """Reserve *key* for a new post: (True, None), or (False, id of the post made with it).

    The INSERT is the lock: a concurrent retry waits for the first request's commit and then
    finds its post.
    """
    now = datetime.now(UTC)
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < now - _KEY_LIFETIME,
        )
    )
    inserted = await session.execute(
        insert_ignore(session, IdempotencyKey).values(
            account_id=account_id, key=key, status_id=None, created_at=now
        )
    )
    if inserted.rowcount:  # type: ignore[attr-defined]
        return True, None
    status_id = await session.scalar(
        select(IdempotencyKey.status_id).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key
        )
    )
    return status_id is None, status_id


@routes.post("/api/v1/statuses")
async def create_status(request: web.Request) -> web.StreamResponse:
    """Post a status (C20): text, reply, content warning, visibility (incl. ``local``), language."""
    grant, viewer = await authorize(request, "write:statuses")
    values = await params(request)
    text = _text_param(values, "status", 100_000)
    spoiler = _text_param(values, "spoiler_text", 10_000)
    visibility = _text_param(values, "visibility", 16) or "public"
    language = _text_param(values, "language", 16) or None
    sensitive = flag(values.get("sensitive"), "sensitive")
    if visibility not in VISIBILITIES:
        raise ApiError(422, f"visibility must be one of {', '.join(VISIBILITIES)}")
    media_ids = _media_ids(values) or []
    if any(key.startswith("poll[") for key in values):
        raise ApiError(422, "polls are not supported yet")
    reply_raw = _text_param(values, "in_reply_to_id", 20)
    if reply_raw and not reply_raw.isdigit():
        raise ApiError(422, "in_reply_to_id must be an id")
    key = request.headers.get("Idempotency-Key", "").strip()[:255]
    if values.get("scheduled_at"):
        if not all(m.isdigit() and len(m) <= 20 for m in media_ids):
            raise ApiError(422, "media_ids must be ids")
        later = PostParams(
            text, visibility, spoiler, sensitive, language, int(reply_raw) if reply_raw else None
        )
        later = replace(later, idempotency=key or None, media_ids=tuple(int(m) for m in media_ids))
        return await schedule(request, viewer, later)
    ctx = context_of(request)
    async with ctx.sessions() as session, session.begin():
        if key:
            await hold_writes(session)  # the key's row is this post's first write
        fresh, earlier = (True, None) if not key else await _claim_key(session, viewer.id, key)
        if fresh:
            me: Account = grant.account  # read with the token, a moment ago
            parent = await visible_status(session, int(reply_raw), viewer) if reply_raw else None
            documents, media = await _attachments(request, session, viewer, media_ids)
            try:
                status = await post_status(
                    ctx,
                    session,
                    me,
                    text,
                    visibility=visibility,
                    summary=spoiler,
                    sensitive=sensitive,
                    in_reply_to=parent,
                    language=language,
                    attachments=documents,
                )
            except PostError as exc:
                raise ApiError(422, str(exc)) from None
            except ActivityPubError as exc:
                raise ApiError(422, f"a mention could not be resolved: {exc.reason}") from None
            await link_media(session, status.id, media)
            earlier = status.id
            if key:
                await session.execute(
                    update(IdempotencyKey)
                    .where(IdempotencyKey.account_id == viewer.id, IdempotencyKey.key == key)
                    .values(status_id=status.id)
                )
    assert earlier is not None
    reads = request.app.get(FAST_READS)
    body = None if reads is None else reads.status(viewer, earlier, ctx)
    if body is not None:  # SQLite: the answer through the read fast path, no session
        return web.Response(body=body.encode(), content_type="application/json", charset="utf-8")
    async with ctx.sessions() as session:
        return json_response(await status_json(session, ctx, viewer, earlier))


@routes.get("/api/v1/statuses/{id}")
async def show_status(request: web.Request) -> web.StreamResponse:
    """One status the caller may see (C20); otherwise 404."""
    viewer = await maybe_viewer(request, "read:statuses")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        return json_response(await status_json(session, ctx, viewer, path_id(request)))


async def _own_status(session: AsyncSession, status_id: int, viewer: Viewer) -> Status:
    """The viewer's own status, or 404 (another's post is as unknown as a missing one)."""
    status = await session.get(Status, status_id)
    if status is None or status.account_id != viewer.id or not status.local:
        raise ApiError(404, "Record not found")
    return status


@routes.put("/api/v1/statuses/{id}")
async def edit_status(request: web.Request) -> web.StreamResponse:
    """Edit one's own post (C20): the old version goes to the history, peers get ``Update``."""
    viewer = await signed_in(request, "write:statuses")
    values = await params(request)
    text = _text_param(values, "status", 100_000)
    spoiler = values.get("spoiler_text")
    sensitive = values.get("sensitive")
    language = _text_param(values, "language", 16) or None
    media_ids = _media_ids(values)
    attributes = media_attributes(values)
    if attributes and media_ids is None:
        media_ids = list(attributes)
    ctx = context_of(request)
    status_id = path_id(request)
    async with ctx.sessions() as session, session.begin():
        status = await _own_status(session, status_id, viewer)
        if status.reblog_of_id is not None:
            raise ApiError(404, "Record not found")
        me = await session.get(Account, viewer.id)
        assert me is not None
        documents, media = (
            (None, [])
            if media_ids is None
            else await _attachments(request, session, viewer, media_ids, status.id, attributes)
        )
        try:
            await edit_local_status(
                ctx,
                session,
                me,
                status,
                text,
                summary=spoiler if isinstance(spoiler, str) else None,
                sensitive=None if sensitive is None else flag(sensitive, "sensitive"),
                language=language,
                attachments=documents,
            )
        except PostError as exc:
            raise ApiError(422, str(exc)) from None
        await link_media(session, status.id, media)
    async with ctx.sessions() as session:
        return json_response(await status_json(session, ctx, viewer, status_id))


@routes.delete("/api/v1/statuses/{id}")
async def delete_status(request: web.Request) -> web.StreamResponse:
    """Delete one's own post (C20) and answer with it, ``text`` included, for redrafting."""
    viewer = await signed_in(request, "write:statuses")
    ctx = context_of(request)
    status_id = path_id(request)
    async with ctx.sessions() as session, session.begin():
        status = await _own_status(session, status_id, viewer)
        entity = await status_json(session, ctx, viewer, status_id)
        entity["text"] = status.text
        me = await session.get(Account, viewer.id)
        assert me is not None
        await actions.delete_own_status(ctx, session, me, status)
    return json_response(entity)


async def _ancestor_ids(session: AsyncSession, status: Status) -> list[int]:
    ids: list[int] = []
    parent_id = status.in_reply_to_id
    while parent_id is not None and len(ids) < _THREAD_DEPTH and parent_id not in ids:
        ids.append(parent_id)
        parent_id = await session.scalar(
            select(Status.in_reply_to_id).where(Status.id == parent_id)
        )
    return ids


async def _descendant_ids(
    session: AsyncSession, status: Status, viewer: Viewer | None
) -> list[int]:
    """Replies, level by level, through posts the viewer may see only."""
    found: list[int] = []
    frontier = [status.id]
    for _ in range(_THREAD_DEPTH):
        if not frontier or len(found) >= _THREAD_SIZE:
            break
        frontier = list(
            (
                await session.execute(
                    select(Status.id)
                    .where(Status.in_reply_to_id.in_(frontier), visible_to(Status, viewer))
                    .limit(_THREAD_SIZE)
                )
            ).scalars()
        )
        found += frontier
    return found[:_THREAD_SIZE]


@routes.get("/api/v1/statuses/{id}/context")
async def status_context(request: web.Request) -> web.StreamResponse:
    """The thread around a status (C20): ``{ancestors, descendants}``, oldest first."""
    viewer = await maybe_viewer(request, "read:statuses")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        status = await visible_status(session, path_id(request), viewer)
        ancestors = await _ancestor_ids(session, status)
        descendants = await _descendant_ids(session, status, viewer)
        query = status_select(viewer).where(Status.id.in_(ancestors + descendants))
        if viewer is not None:  # as Mastodon, muted people's posts leave threads too
            query = query.where(unmuted(viewer))
        rows = (await session.execute(query.order_by(Status.id))).mappings().all()
        entities = await render_statuses(session, ctx, viewer, list(rows))
        entities = await apply_filters(session, viewer, "thread", entities)
    above = set(ancestors)
    return json_response(
        {
            "ancestors": [e for e in entities if int(e["id"]) in above],
            "descendants": [e for e in entities if int(e["id"]) not in above],
        }
    )


@routes.get("/api/v1/statuses/{id}/source")
async def status_source(request: web.Request) -> web.StreamResponse:
    """The text of one's own post as typed, for editing (C20 ``…/:id/source``)."""
    viewer = await signed_in(request, "read:statuses")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        status = await _own_status(session, path_id(request), viewer)
    return json_response(
        {"id": str(status.id), "text": status.text, "spoiler_text": status.summary}
    )


@routes.get("/api/v1/statuses/{id}/history")
async def status_history(request: web.Request) -> web.StreamResponse:
    """Every version of a status, oldest first, the current one last (C20 ``…/:id/history``)."""
    viewer = await maybe_viewer(request, "read:statuses")
    ctx = context_of(request)
    async with ctx.sessions() as session:
        status = await visible_status(session, path_id(request), viewer)
        account = account_entity(await account_row(session, status.account_id), ctx)
        edits = (
            await session.execute(
                select(StatusEdit).where(StatusEdit.status_id == status.id).order_by(StatusEdit.id)
            )
        ).scalars()
        versions = []
        since = status.published_at
        for edit in edits:
            versions.append(
                status_edit_entity(
                    account,
                    content=edit.content,
                    spoiler_text=edit.summary,
                    sensitive=edit.sensitive,
                    created_at=since,
                    attachments=media_attachments(edit.attachments_json, status.id),
                )
            )
            since = edit.created_at
        versions.append(
            status_edit_entity(
                account,
                content=status.content,
                spoiler_text=status.summary,
                sensitive=status.sensitive,
                created_at=status.edited_at or since,
                attachments=media_attachments(status.attachments_json, status.id),
            )
        )
    return json_response(versions)
