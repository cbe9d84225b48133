"""Statuses: posting, editing and deleting local posts; storing and fanning out any post."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, Update, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from activitypub.errors import ActivityPubError
from activitypub.webfinger import resolve_handle
from node.db.engine import AsyncSession
from node.db.hop import in_one_hop
from node.db.models import (
    Account,
    HomeFeedEntry,
    MediaAttachment,
    Mention,
    Status,
    StatusEdit,
    StatusTag,
    Tag,
    Tombstone,
)
from node.db.writers import hold_writes
from node.federation.documents import iso, note_document
from node.ids import new_id
from node.services.context import NodeContext
from node.services.conversations import forget_direct, track_direct
from node.services.events import record
from node.services.fanout import fan_out, spread
from node.services.graph import insert_ignore, notify_now
from node.services.publishing import Publisher, inbox_of
from node.services.tags import link_tags, link_tags_now
from node.services.text import render_text

__all__ = [
    "VISIBILITIES",
    "PostError",
    "delete_local_status",
    "edit_local_status",
    "fan_out",
    "find_account",
    "note_for",
    "post_status",
    "remember_version",
    "remove_status",
    "save_tags",
    "spread",
]

log = logging.getLogger(__name__)

#: What a local author may choose; ``local`` is never federated.
VISIBILITIES = ("public", "unlisted", "private", "direct", "local")
MAX_TEXT = 5000


class PostError(ValueError):
    """A post was refused; the message is for the person who wrote it."""


async def find_account(
    ctx: NodeContext, session: AsyncSession, user: str, host: str | None
) -> Account | None:
    """A local ``@user`` or a ``@user@host`` (resolved with WebFinger when not yet known)."""
    host = (host or ctx.domain).lower()
    account = (
        await session.execute(
            select(Account).where(Account.username == user.lower(), Account.domain == host)
        )
    ).scalar_one_or_none()
    if account is not None or host == ctx.domain:
        return account
    if not ctx.policy.allows(host):
        return None
    try:
        uri = await resolve_handle(ctx.resolver.client, f"{user}@{host}", allow_http=ctx.allow_http)
    except ActivityPubError as exc:
        log.info("mention @%s@%s not resolved: %s", user, host, exc.reason)
        return None
    return await ctx.resolver.account(session, uri)


async def save_tags(session: AsyncSession, status_id: int, names: Sequence[str]) -> None:
    """Link *status_id* to its hashtags, creating tags on first use."""
    await link_tags(session, [(status_id, name) for name in names])


@functools.cache
def _status_insert() -> Insert:
    return insert(cast(Table, Status.__table__))


@functools.cache
def _mention_insert() -> Insert:
    return insert(cast(Table, Mention.__table__))


@functools.cache
def _reply_count() -> Update:
    table = cast(Table, Status.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("parent"))
        .values(replies_count=table.c.replies_count + 1)
    )


async def note_for(
    ctx: NodeContext, session: AsyncSession, status: Status, author: Account
) -> dict[str, Any]:
    """The Note document of a local status, with its mentions and hashtags."""
    mentions = (
        (
            await session.execute(
                select(Account)
                .join(Mention, Mention.account_id == Account.id)
                .where(Mention.status_id == status.id)
            )
        )
        .scalars()
        .all()
    )
    tags = (
        (
            await session.execute(
                select(Tag.name)
                .join(StatusTag, StatusTag.tag_id == Tag.id)
                .where(StatusTag.status_id == status.id)
            )
        )
        .scalars()
        .all()
    )
    return note_document(
        status,
        author,
        mentions=mentions,
        hashtags=tags,
        in_reply_to_uri=status.in_reply_to_uri,
        urls=ctx.urls,
    )


@dataclass(frozen=True)
class _NewPost:
    """Everything the writes of one new local post need, worked out before they start."""

    row: dict[str, Any]
    mention_ids: tuple[int, ...]
    local_mention_ids: tuple[int, ...]
    notify_ids: tuple[int, ...]
    hashtags: tuple[str, ...]
    keep: int
    activity: dict[str, Any] | None
    inboxes: tuple[str, ...]


async def post_status(
    ctx: NodeContext,
    session: AsyncSession,
    author: Account,
    text: str,
    *,
    visibility: str = "public",
    summary: str = "",
    sensitive: bool = False,
    in_reply_to: Status | None = None,
    language: str | None = None,
    html_content: str | None = None,
    mentions: Sequence[Account] = (),
    attachments: Sequence[Mapping[str, Any]] = (),
) -> Status:
    """Post as a local *author*: store, fan out, notify, and queue the ``Create`` (A4, A17).

    *attachments* are the documents of the post's media (``services.media``, A23). What
    needs looking up (mentions, the parent's author) is read first; then every write of
    the post (the status, mentions, hashtags, the parent's reply count, the home feeds and
    their trim, notifications, the outbox row and its deliveries) runs in one thread hop
    (``node.db.hop``), in the writer queue on SQLite (``node.db.writers``). The returned
    status is not attached to *session*.
    """
    if visibility not in VISIBILITIES:
        raise PostError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if not text.strip() and not html_content and not attachments:
        raise PostError("a post needs some text")
    if len(text) > MAX_TEXT or len(summary) > 500:
        raise PostError(
            f"a post may have at most {MAX_TEXT} characters and a 500-character warning"
        )
    if in_reply_to is not None and in_reply_to.reblog_of_id is not None:
        raise PostError("reply to the original post, not to a boost")

    async def lookup(user: str, host: str | None) -> Account | None:
        return await find_account(ctx, session, user, host)

    rendered = await render_text(text, lookup=lookup, tag_url=ctx.urls.tag)
    content = ctx.sanitizer.clean(html_content) if html_content else rendered.html
    mentions = list({a.id: a for a in (*rendered.mentions, *mentions)}.values())
    if in_reply_to is not None and all(m.id != in_reply_to.account_id for m in mentions):
        parent_author = await session.get(Account, in_reply_to.account_id)
        if parent_author is not None and parent_author.id != author.id:
            mentions.append(parent_author)
    now = datetime.now(UTC)
    status_id = new_id(now)
    uri = ctx.urls.status(author.username, status_id)
    row: dict[str, Any] = {
        "id": status_id,
        "uri": uri,
        "url": ctx.urls.status_page(author.username, status_id),
        "account_id": author.id,
        "local": True,
        "content": content,
        "text": text,
        "summary": ctx.sanitizer.clean_text(summary),
        "sensitive": sensitive or bool(summary),
        "language": language,
        "visibility": visibility,
        "in_reply_to_id": in_reply_to.id if in_reply_to else None,
        "in_reply_to_uri": in_reply_to.uri if in_reply_to else None,
        "in_reply_to_account_id": in_reply_to.account_id if in_reply_to else None,
        "reblog_of_id": None,
        "context": (in_reply_to.context or in_reply_to.uri) if in_reply_to else uri,
        "attachments_json": json.dumps(list(attachments), ensure_ascii=False),
        "replies_count": 0,
        "favourites_count": 0,
        "reblogs_count": 0,
        "published_at": now,
        "edited_at": None,
        "created_at": now,
    }
    status = Status(**row)
    activity = None
    if visibility != "local":
        note = note_document(
            status,
            author,
            mentions=mentions,
            hashtags=rendered.hashtags,
            in_reply_to_uri=status.in_reply_to_uri,
            urls=ctx.urls,
        )
        activity = {
            "id": f"{uri}/activity",
            "type": "Create",
            "actor": author.uri,
            "published": iso(now),
            "to": note["to"],
            "cc": note["cc"],
            "object": note,
        }
    post = _NewPost(
        row=row,
        mention_ids=tuple(m.id for m in mentions),
        local_mention_ids=tuple(m.id for m in mentions if m.local),
        notify_ids=tuple(m.id for m in mentions if m.local and m.id != author.id),
        hashtags=tuple(rendered.hashtags),
        keep=ctx.home_feed_size,
        activity=activity,
        inboxes=tuple(inbox_of(m) for m in mentions if not m.local),
    )
    await hold_writes(session)
    notified, queued = await in_one_hop(session, _write_post, ctx.publisher, post)
    if queued:
        ctx.publisher.wake_after_commit(session)
    record(session, "update", status_id)
    for notification_id in notified:
        record(session, "notification", notification_id)  # a blocked one is simply not found
    if visibility == "direct":
        await track_direct(session, [status_id])
    return status


def _write_post(
    session: Connection, publisher: Publisher, post: _NewPost
) -> tuple[list[int], bool]:
    """Every write of one new post, in the caller's transaction; returns the ids of the
    mention notifications and whether a delivery was queued."""
    row = post.row
    status_id, author_id, visibility = row["id"], row["account_id"], row["visibility"]
    session.execute(_status_insert(), row)
    if post.mention_ids:
        session.execute(
            _mention_insert(),
            [{"status_id": status_id, "account_id": a} for a in post.mention_ids],
        )
    link_tags_now(session, [(status_id, name) for name in post.hashtags])
    if row["in_reply_to_id"] is not None:
        session.execute(_reply_count(), {"parent": row["in_reply_to_id"]})
    spread(session, status_id, author_id, visibility, True, post.local_mention_ids, keep=post.keep)
    notified = [
        notify_now(session, account_id, "mention", author_id, status_id)
        for account_id in post.notify_ids
    ]
    queued = False
    if post.activity is not None:
        _, queued = publisher.store(
            session,
            author_id,
            post.activity,
            followers=visibility in {"public", "unlisted", "private"},
            inboxes=post.inboxes,
            public=visibility in {"public", "unlisted"},
            object_uri=row["uri"],
        )
    return notified, queued


async def remove_status(session: AsyncSession, status: Status) -> None:
    """Delete *status*, count it out of its parent's replies, and tell the streams of those
    who had it (its author and the home feeds it was in, PROTOCOL.md C31) that it is gone."""
    audience = (
        await session.execute(
            select(HomeFeedEntry.account_id).where(HomeFeedEntry.status_id == status.id)
        )
    ).scalars()
    if status.in_reply_to_id is not None:
        await session.execute(
            update(Status)
            .where(Status.id == status.in_reply_to_id, Status.replies_count > 0)
            .values(replies_count=Status.replies_count - 1)
        )
    if status.visibility == "direct":
        await forget_direct(session, status)
    # A remote post's media rows go with it; our own uploads are kept for a redraft.
    await session.execute(
        delete(MediaAttachment).where(
            MediaAttachment.status_id == status.id, MediaAttachment.remote_url.is_not(None)
        )
    )
    record(
        session,
        "delete",
        status.id,
        visibility=status.visibility,
        audience=(status.account_id, *audience),
    )
    await session.delete(status)


def remember_version(session: AsyncSession, status: Status) -> None:
    """Keep the current text of *status* in its edit history before it changes."""
    session.add(
        StatusEdit(
            id=new_id(),
            status_id=status.id,
            content=status.content,
            summary=status.summary,
            sensitive=status.sensitive,
            attachments_json=status.attachments_json,
        )
    )


async def edit_local_status(
    ctx: NodeContext,
    session: AsyncSession,
    author: Account,
    status: Status,
    text: str,
    *,
    summary: str | None = None,
    sensitive: bool | None = None,
    language: str | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None,
) -> Status:
    """Edit a local post: keep the old version in the history and send ``Update`` (A5).

    ``None`` leaves the content warning, the sensitive flag, the language or the
    attachments as they were.
    """
    has_media = bool(attachments) if attachments is not None else status.attachments_json != "[]"
    if (not text.strip() and not has_media) or len(text) > MAX_TEXT:
        raise PostError(f"a post needs between 1 and {MAX_TEXT} characters")
    remember_version(session, status)

    async def lookup(user: str, host: str | None) -> Account | None:
        return await find_account(ctx, session, user, host)

    rendered = await render_text(text, lookup=lookup, tag_url=ctx.urls.tag)
    now = datetime.now(UTC)
    status.content = rendered.html
    status.text = text
    if summary is not None:
        status.summary = ctx.sanitizer.clean_text(summary)
    if sensitive is not None:
        status.sensitive = sensitive or bool(status.summary)
    elif status.summary:
        status.sensitive = True
    if language is not None:
        status.language = language
    if attachments is not None:
        status.attachments_json = json.dumps(list(attachments), ensure_ascii=False)
    status.edited_at = now
    await session.execute(delete(StatusTag).where(StatusTag.status_id == status.id))
    await save_tags(session, status.id, rendered.hashtags)
    await session.flush()
    record(session, "status.update", status.id)
    if status.visibility != "local":
        note = await note_for(ctx, session, status, author)
        await ctx.publisher.publish(
            session,
            author,
            {
                "id": ctx.urls.activity(author.username, new_id(now)),
                "type": "Update",
                "actor": author.uri,
                "published": iso(now),
                "to": note["to"],
                "cc": note["cc"],
                "object": note,
            },
            followers=status.visibility in {"public", "unlisted", "private"},
            recipients=await _mentioned(session, status.id),
            object_uri=status.uri,
        )
    return status


async def _mentioned(session: AsyncSession, status_id: int) -> list[Account]:
    return list(
        (
            await session.execute(
                select(Account)
                .join(Mention, Mention.account_id == Account.id)
                .where(Mention.status_id == status_id)
            )
        ).scalars()
    )


async def delete_local_status(
    ctx: NodeContext, session: AsyncSession, author: Account, status: Status
) -> None:
    """Delete a local post (or boost): tombstone it and tell its audience (A6)."""
    now = datetime.now(UTC)
    recipients = await _mentioned(session, status.id)
    visibility = status.visibility
    await session.execute(insert_ignore(session, Tombstone).values(uri=status.uri, deleted_at=now))
    await remove_status(session, status)
    await session.flush()
    if visibility == "local":
        return
    to = (
        ["https://www.w3.org/ns/activitystreams#Public"]
        if visibility in {"public", "unlisted"}
        else []
    )
    await ctx.publisher.publish(
        session,
        author,
        {
            "id": ctx.urls.activity(author.username, new_id(now)),
            "type": "Delete",
            "actor": author.uri,
            "to": to or [author.followers_url],
            "cc": [a.uri for a in recipients],
            "object": {"id": status.uri, "type": "Tombstone", "atomUri": status.uri},
        },
        followers=visibility in {"public", "unlisted", "private"},
        recipients=recipients,
        object_uri=status.uri,
    )
