"""Statuses: posting, editing and deleting local posts; storing and fanning out any post."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from activitypub.errors import ActivityPubError
from activitypub.webfinger import resolve_handle
from node.db.engine import AsyncSession
from node.db.models import (
    Account,
    Follow,
    HomeFeedEntry,
    MediaAttachment,
    Mention,
    Status,
    StatusEdit,
    StatusTag,
    Tag,
    Tombstone,
)
from node.federation.documents import iso, note_document
from node.ids import new_id
from node.services.context import NodeContext
from node.services.conversations import forget_direct, track_direct
from node.services.events import record
from node.services.feeds import trim_feeds
from node.services.graph import insert_ignore, notify
from node.services.tags import link_tags
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


async def fan_out(
    session: AsyncSession, status: Status, mentioned_ids: Sequence[int], *, keep: int = 0
) -> None:
    """Put *status* into the home feeds of the local people who may see it (fan-out on write).

    Followers count only when their follow was accepted (SECURITY.md row 10); direct and
    limited posts go to the mentioned local people only. With *keep*, a share of the feeds
    reached is trimmed to their newest *keep* entries (``node.services.feeds``).
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    reached: list[int] = []
    if status.visibility not in {"direct", "limited"}:
        followers = (
            select(Follow.account_id, literal(status.id))
            .join(Account, Account.id == Follow.account_id)
            .where(
                Follow.target_account_id == status.account_id,
                Follow.state == "accepted",
                Account.local.is_(True),
            )
        )
        result = await session.execute(
            insert(HomeFeedEntry)
            .from_select(["account_id", "status_id"], followers)
            .on_conflict_do_nothing()
            .returning(HomeFeedEntry.account_id)
        )
        reached = list(result.scalars())
    owners = [*mentioned_ids] if status.visibility in {"direct", "limited"} else []
    if status.local:
        owners.append(status.account_id)
    if owners:
        await session.execute(
            insert_ignore(session, HomeFeedEntry),
            [{"account_id": a, "status_id": status.id} for a in dict.fromkeys(owners)],
        )
    if keep and status.visibility not in {"direct", "limited"}:
        readers = [*reached, status.account_id] if status.local else reached
        await trim_feeds(session, status.account_id, keep, turn=status.id, readers=readers)
    if status.visibility == "direct":
        await track_direct(session, [status.id])


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

    *attachments* are the documents of the post's media (``services.media``, A23).
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
    parent_author: Account | None = None
    if in_reply_to is not None:
        parent_author = await session.get(Account, in_reply_to.account_id)
        if (
            parent_author is not None
            and parent_author.id != author.id
            and all(m.id != parent_author.id for m in mentions)
        ):
            mentions.append(parent_author)
    now = datetime.now(UTC)
    status_id = new_id(now)
    uri = ctx.urls.status(author.username, status_id)
    status = Status(
        id=status_id,
        uri=uri,
        url=ctx.urls.status_page(author.username, status_id),
        account_id=author.id,
        local=True,
        content=content,
        text=text,
        summary=ctx.sanitizer.clean_text(summary),
        sensitive=sensitive or bool(summary),
        language=language,
        visibility=visibility,
        in_reply_to_id=in_reply_to.id if in_reply_to else None,
        in_reply_to_uri=in_reply_to.uri if in_reply_to else None,
        in_reply_to_account_id=in_reply_to.account_id if in_reply_to else None,
        context=(in_reply_to.context or in_reply_to.uri) if in_reply_to else uri,
        attachments_json=json.dumps(list(attachments), ensure_ascii=False),
        published_at=now,
        created_at=now,
    )
    session.add(status)
    await session.flush()
    for account in mentions:
        session.add(Mention(status_id=status.id, account_id=account.id))
    await save_tags(session, status.id, rendered.hashtags)
    if in_reply_to is not None:
        await session.execute(
            update(Status)
            .where(Status.id == in_reply_to.id)
            .values(replies_count=Status.replies_count + 1)
        )
    await session.flush()
    await fan_out(session, status, [m.id for m in mentions if m.local], keep=ctx.home_feed_size)
    record(session, "update", status.id)
    for account in mentions:
        await notify(session, account, "mention", author, status.id)
    if visibility != "local":
        note = await note_for(ctx, session, status, author)
        await ctx.publisher.publish(
            session,
            author,
            {
                "id": f"{uri}/activity",
                "type": "Create",
                "actor": author.uri,
                "published": iso(now),
                "to": note["to"],
                "cc": note["cc"],
                "object": note,
            },
            followers=visibility in {"public", "unlisted", "private"},
            recipients=mentions,
            public=visibility in {"public", "unlisted"},
            object_uri=uri,
        )
    return status


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
