"""Remote posts: storing a Note (or Article, Page, Question, …) a peer sent or we fetched."""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime

from sqlalchemy import or_, select, update

from activitypub.addressing import classify
from activitypub.errors import ActivityPubError, FetchError
from activitypub.hosts import host_of
from activitypub.vocabulary import Object, parse_object
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, Mention, Status, Tombstone
from node.ids import new_id
from node.services.context import NodeContext
from node.services.graph import notify
from node.services.statuses import fan_out, save_tags

__all__ = ["CONTENT_TYPES", "fetch_thread", "is_relevant", "store_note"]

log = logging.getLogger(__name__)

#: Object types shown as posts (PROTOCOL.md A4); others are ignored.
CONTENT_TYPES = frozenset(
    {"Note", "Article", "Page", "Question", "Image", "Video", "Audio", "Event"}
)
_MAX_MENTIONS = 50
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
    hrefs = [m.href for m in note.mentions[:_MAX_MENTIONS]]
    if not hrefs:
        return []
    rows = await session.execute(
        select(Account).where(or_(Account.uri.in_(hrefs), Account.url.in_(hrefs)))
    )
    return list(rows.scalars())


async def is_relevant(
    session: AsyncSession, author: Account, note: Object, *, addressed: bool
) -> bool:
    """Mastodon's relevance rule (A3): followed author, a mention, a reply to us, or addressed to us."""
    if addressed:
        return True
    followed = await session.scalar(
        select(Follow.id)
        .join(Account, Account.id == Follow.account_id)
        .where(
            Follow.target_account_id == author.id,
            Follow.state == "accepted",
            Account.local.is_(True),
        )
        .limit(1)
    )
    if followed is not None:
        return True
    hrefs = [m.href for m in note.mentions[:_MAX_MENTIONS]]
    if hrefs and await session.scalar(
        select(Account.id)
        .where(Account.local.is_(True), or_(Account.uri.in_(hrefs), Account.url.in_(hrefs)))
        .limit(1)
    ):
        return True
    if note.in_reply_to:
        return bool(
            await session.scalar(
                select(Status.id).where(Status.uri == note.in_reply_to, Status.local.is_(True))
            )
        )
    return False


async def store_note(
    ctx: NodeContext, session: AsyncSession, author: Account, note: Object, *, fan: bool = True
) -> Status | None:
    """Store a remote post once; a known or tombstoned id changes nothing (CVE-2024-37903)."""
    if note.id is None or note.type not in CONTENT_TYPES:
        return None
    if await session.get(Tombstone, note.id) is not None:
        return None
    if await session.scalar(select(Status.id).where(Status.uri == note.id)) is not None:
        return None
    mentioned = await _local_mentions(ctx, session, note)
    visibility = str(
        classify(
            note.to,
            note.cc,
            followers=author.followers_url,
            mentioned=[m.href for m in note.mentions],
        )
    )
    parent = None
    if note.in_reply_to:
        parent = (
            await session.execute(select(Status).where(Status.uri == note.in_reply_to))
        ).scalar_one_or_none()
    now = datetime.now(UTC)
    published = note.published if note.published and note.published <= now else now
    status = Status(
        id=new_id(published),
        uri=note.id,
        url=note.url,
        account_id=author.id,
        local=False,
        content=_content(ctx, note),
        summary=ctx.sanitizer.clean_text(note.summary or "")[:1000],
        sensitive=note.sensitive or bool(note.summary),
        language=(note.language or None) and note.language[:16],
        visibility=visibility,
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_uri=note.in_reply_to,
        in_reply_to_account_id=parent.account_id if parent else None,
        context=note.context
        or note.conversation
        or (parent.context if parent else None)
        or note.id,
        attachments_json=json.dumps(
            [
                {
                    "type": a.type,
                    "url": a.url,
                    "mediaType": a.media_type,
                    "name": ctx.sanitizer.clean_text(a.name or "") or None,
                    "blurhash": a.blurhash,
                    "width": a.width,
                    "height": a.height,
                }
                for a in note.attachments[:_MAX_ATTACHMENTS]
            ]
        ),
        published_at=published,
        created_at=now,
    )
    session.add(status)
    await session.flush()
    for account in mentioned:
        session.add(Mention(status_id=status.id, account_id=account.id))
    await save_tags(session, status.id, [h.name[:100] for h in note.hashtags[:_MAX_TAGS] if h.name])
    if parent is not None:
        await session.execute(
            update(Status)
            .where(Status.id == parent.id)
            .values(replies_count=Status.replies_count + 1)
        )
    # Replies that arrived before their parent (thread backfill walks upwards) are linked now.
    await session.execute(
        update(Status)
        .where(Status.in_reply_to_uri == status.uri, Status.in_reply_to_id.is_(None))
        .values(in_reply_to_id=status.id, in_reply_to_account_id=author.id)
    )
    await session.flush()
    if fan:
        await fan_out(session, status, [a.id for a in mentioned])
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
