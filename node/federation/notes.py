"""Remote posts: storing a Note (or Article, Page, Question, …) a peer sent or we fetched."""

from __future__ import annotations

import functools
import html
import json
import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    CompoundSelect,
    Exists,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from activitypub.addressing import classify
from activitypub.errors import ActivityPubError, FetchError
from activitypub.hosts import host_of
from activitypub.vocabulary import Object, parse_object
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, MediaAttachment, Mention, Status, Tombstone
from node.ids import new_id
from node.services.context import NodeContext
from node.services.events import record
from node.services.graph import notify
from node.services.media import remote_media_rows
from node.services.statuses import fan_out
from node.services.tags import link_tags

__all__ = [
    "CONTENT_TYPES",
    "MAX_MENTIONS",
    "Parent",
    "attachments_json",
    "fetch_thread",
    "is_relevant",
    "known_uris",
    "link_children",
    "status_row",
    "store_note",
    "tag_names",
]

log = logging.getLogger(__name__)

#: Object types shown as posts (PROTOCOL.md A4); others are ignored.
CONTENT_TYPES = frozenset(
    {"Note", "Article", "Page", "Question", "Image", "Video", "Audio", "Event"}
)
MAX_MENTIONS = 50
_MAX_TAGS = 50
_MAX_ATTACHMENTS = 16


def _content(ctx: NodeContext, note: Object) -> str:
    body = ctx.sanitizer.clean(note.content or "")
    if note.type != "Note" and note.name:
        # Articles, Pages (Lemmy) and Videos (PeerTube) carry a title and a link: show both (A4).
        title = f"<p><strong>{html.escape(ctx.sanitizer.clean_text(note.name))}</strong></p>"
        body = title + body
        if note.url:
            link = html.escape(note.url)
            body += f'<p><a href="{link}" rel="nofollow noopener noreferrer" target="_blank">{link}</a></p>'
    return body


async def _local_mentions(ctx: NodeContext, session: AsyncSession, note: Object) -> list[Account]:
    hrefs = [m.href for m in note.mentions[:MAX_MENTIONS]]
    if not hrefs:
        return []
    rows = await session.execute(
        select(Account).where(or_(Account.uri.in_(hrefs), Account.url.in_(hrefs)))
    )
    return list(rows.scalars())


def _followed_here(author_id: int) -> Exists:
    return exists().where(
        Follow.target_account_id == author_id,
        Follow.state == "accepted",
        Account.id == Follow.account_id,
        Account.local.is_(True),
    )


async def is_relevant(
    session: AsyncSession, author: Account, note: Object, *, addressed: bool
) -> bool:
    """Mastodon's relevance rule (A3): followed author, a mention, a reply to us, or addressed to us."""
    if addressed:
        return True
    # One statement: each rule is an EXISTS, so the database stops at the first match.
    rules = [_followed_here(author.id)]
    hrefs = [m.href for m in note.mentions[:MAX_MENTIONS]]
    if hrefs:
        rules.append(
            exists().where(
                Account.local.is_(True), or_(Account.uri.in_(hrefs), Account.url.in_(hrefs))
            )
        )
    if note.in_reply_to:
        rules.append(exists().where(Status.uri == note.in_reply_to, Status.local.is_(True)))
    return bool(await session.scalar(select(or_(*rules))))


async def known_uris(session: AsyncSession, uris: Collection[str]) -> set[str]:
    """Which of *uris* are stored posts or tombstones, in one statement (CVE-2024-37903)."""
    if not uris:
        return set()
    listed = list(uris)
    found = await session.execute(_known_query(), {"statuses": listed, "tombstones": listed})
    return set(found.scalars())


@functools.cache
def _known_query() -> CompoundSelect[str]:
    """Built once: per call, building it (and coercing every IN value) cost more than it."""
    return union_all(
        select(Status.uri).where(Status.uri.in_(bindparam("statuses", expanding=True))),
        select(Tombstone.uri).where(Tombstone.uri.in_(bindparam("tombstones", expanding=True))),
    )


class Parent(NamedTuple):
    """What a reply takes from the post it answers."""

    id: int
    account_id: int
    context: str | None


def status_row(
    ctx: NodeContext,
    note: Object,
    *,
    author_id: int,
    followers_url: str | None,
    parent: Parent | None,
    now: datetime,
) -> dict[str, Any]:
    """The ``statuses`` row of a remote post (sanitised here, exactly once)."""
    assert note.id is not None
    published = note.published if note.published and note.published <= now else now
    return {
        "id": new_id(published),
        "uri": note.id,
        "url": note.url,
        "account_id": author_id,
        "local": False,
        "content": _content(ctx, note),
        "summary": ctx.sanitizer.clean_text(note.summary or "")[:1000],
        "sensitive": note.sensitive or bool(note.summary),
        "language": (note.language or None) and note.language[:16],
        "visibility": str(
            classify(
                note.to,
                note.cc,
                followers=followers_url,
                mentioned=[m.href for m in note.mentions],
            )
        ),
        "in_reply_to_id": parent.id if parent else None,
        "in_reply_to_uri": note.in_reply_to,
        "in_reply_to_account_id": parent.account_id if parent else None,
        "context": note.context
        or note.conversation
        or (parent.context if parent else None)
        or note.id,
        "attachments_json": attachments_json(ctx, note),
        "published_at": published,
        "created_at": now,
    }


def attachments_json(ctx: NodeContext, note: Object) -> str:
    """A remote post's attachments as ``Status.attachments_json`` keeps them (A23): the
    peer's URL, type, alt text (as plain text), blurhash, size and focal point."""
    return json.dumps(
        [
            {
                "type": a.type,
                "url": a.url,
                "mediaType": a.media_type,
                "name": ctx.sanitizer.clean_text(a.name or "") or None,
                "blurhash": a.blurhash,
                "width": a.width,
                "height": a.height,
                **({"focalPoint": list(a.focal_point)} if a.focal_point else {}),
                # The id of its media row (services.media.remote_media_rows); links are no media.
                **({"_id": str(new_id())} if a.type != "Link" else {}),
            }
            for a in note.attachments[:_MAX_ATTACHMENTS]
        ]
    )


def tag_names(note: Object) -> list[str]:
    """The hashtags a post is linked to (at most 50, 100 characters each)."""
    return [h.name[:100] for h in note.hashtags[:_MAX_TAGS] if h.name]


async def link_children(session: AsyncSession, uris: Collection[str]) -> None:
    """Replies that arrived before their parent (thread backfill walks upwards) get linked.

    The replies are found by an index probe on ``in_reply_to_uri`` and then updated by id,
    so a post nobody answered yet costs that probe only. (One UPDATE with both conditions
    let SQLite's planner take the index on ``in_reply_to_id`` for ``IS NULL`` instead: a
    scan of every top-level post, for each batch of new posts.)
    """
    if not uris:
        return
    found = await session.execute(_replies_query(), {"uris": list(uris)})
    early = [status_id for status_id, parent_id in found if parent_id is None]
    if early:
        await session.execute(_link_statement(), {"ids": early})


@functools.cache
def _replies_query() -> Select[int, int | None]:
    return select(Status.id, Status.in_reply_to_id).where(
        Status.in_reply_to_uri.in_(bindparam("uris", expanding=True))
    )


@functools.cache
def _link_statement() -> Update:
    parent = aliased(Status)
    return (
        update(Status)
        .where(Status.id.in_(bindparam("ids", expanding=True)))
        .values(
            in_reply_to_id=select(parent.id)
            .where(parent.uri == Status.in_reply_to_uri)
            .scalar_subquery(),
            in_reply_to_account_id=select(parent.account_id)
            .where(parent.uri == Status.in_reply_to_uri)
            .scalar_subquery(),
        )
    )


async def store_note(
    ctx: NodeContext, session: AsyncSession, author: Account, note: Object, *, fan: bool = True
) -> Status | None:
    """Store a remote post once; a known or tombstoned id changes nothing (CVE-2024-37903).

    The row is written with Core, not the ORM: nothing reads it back in this transaction, and
    the returned ``Status`` is a detached copy of what was written.
    """
    if note.id is None or note.type not in CONTENT_TYPES:
        return None
    if await known_uris(session, [note.id]):
        return None
    mentioned = await _local_mentions(ctx, session, note)
    parent = None
    if note.in_reply_to:
        found = (
            await session.execute(
                select(Status.id, Status.account_id, Status.context).where(
                    Status.uri == note.in_reply_to
                )
            )
        ).one_or_none()
        parent = Parent(*found) if found is not None else None
    row = status_row(
        ctx,
        note,
        author_id=author.id,
        followers_url=author.followers_url,
        parent=parent,
        now=datetime.now(UTC),
    )
    await session.execute(insert(cast(Table, Status.__table__)), [row])
    if media := remote_media_rows([row]):
        await session.execute(insert(cast(Table, MediaAttachment.__table__)), media)
    if mentioned:
        await session.execute(
            insert(cast(Table, Mention.__table__)),
            [{"status_id": row["id"], "account_id": account.id} for account in mentioned],
        )
    await link_tags(session, [(row["id"], name) for name in tag_names(note)])
    if parent is not None:
        await session.execute(
            update(Status)
            .where(Status.id == parent.id)
            .values(replies_count=Status.replies_count + 1)
        )
    await link_children(session, [note.id])
    status = Status(**row)
    record(session, "update", status.id)
    if fan:
        await fan_out(session, status, [a.id for a in mentioned], keep=ctx.home_feed_size)
        for account in mentioned:
            await notify(session, account, "mention", author, status.id)
    return status


async def fetch_thread(ctx: NodeContext, uri: str | None, *, depth: int) -> None:
    """Fetch the ancestors of a reply we lack, up to *depth* posts (A22; SECURITY.md row 17).

    Every fetch goes through the federation client, so the allowlist applies to thread
    backfill too (SECURITY.md row 9).  The chain is collected first and stored from the
    top down, so every post links to its parent and shares the thread's context.
    Fetched posts are stored for context, not fanned out.
    """
    chain: list[Object] = []
    while uri is not None and len(chain) < depth:
        async with ctx.sessions() as session:
            if await session.scalar(select(Status.id).where(Status.uri == uri)) is not None:
                break
        try:
            doc = await ctx.resolver.client.fetch_json(uri, signer=ctx.resolver.instance_signer())
            note = parse_object(doc)
        except ActivityPubError as exc:
            log.info("thread fetch of %s stopped: %s", uri, exc.reason)
            break
        if (
            note.id != uri
            or note.attributed_to is None
            or host_of(note.attributed_to) != host_of(uri)
        ):
            log.info("thread fetch of %s refused: id or author of another origin", uri)
            break
        chain.append(note)
        uri = note.in_reply_to
    for note in reversed(chain):
        assert note.attributed_to is not None
        async with ctx.sessions() as session, session.begin():
            try:
                author = await ctx.resolver.account(session, note.attributed_to)
            except FetchError as exc:
                log.info("thread fetch of %s: author refused: %s", note.id, exc.reason)
                return
            if author is None:
                return
            await store_note(ctx, session, author, note, fan=False)
