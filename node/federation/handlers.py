"""Side effects of each received activity type (PROTOCOL.md §4), all idempotent.

Every handler runs inside the transaction that also marks the inbox row done, receives an
activity whose signer, actor and object origin were already checked by the inbox, and
re-checks ownership against what is *stored* before changing it (SECURITY.md rows 1, 7, 8).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from activitypub.addressing import classify
from activitypub.errors import ActivityPubError, HostNotAllowedError
from activitypub.hosts import host_of
from activitypub.vocabulary import Activity, Actor, Object, parse_object
from node.db.engine import AsyncSession
from node.db.models import Account, Block, Favourite, Follow, MediaAttachment, Status, Tombstone
from node.federation.actors import actor_origin_problem
from node.federation.notes import attachments_json, fetch_thread, is_relevant, store_note
from node.services.actions import send_accept
from node.services.context import NodeContext
from node.services.events import record
from node.services.graph import (
    add_block,
    add_favourite,
    add_follow,
    add_reblog,
    insert_ignore,
    notify,
    remove_favourite,
    remove_follow,
    remove_reblog,
)
from node.services.media import remote_media_rows
from node.services.statuses import fan_out, remember_version, remove_status
from node.services.visibility import can_see

__all__ = ["HANDLERS", "Handler", "prefetch"]

log = logging.getLogger(__name__)

Handler = Callable[[NodeContext, AsyncSession, Activity, "int | None"], Awaitable[str]]


async def _actor(session: AsyncSession, activity: Activity) -> Account | None:
    return (
        await session.execute(select(Account).where(Account.uri == activity.actor))
    ).scalar_one_or_none()


async def _local(session: AsyncSession, uri: str | None) -> Account | None:
    if uri is None:
        return None
    return (
        await session.execute(select(Account).where(Account.uri == uri, Account.local.is_(True)))
    ).scalar_one_or_none()


async def _status(session: AsyncSession, uri: str | None) -> Status | None:
    if uri is None:
        return None
    return (await session.execute(select(Status).where(Status.uri == uri))).scalar_one_or_none()


async def prefetch(ctx: NodeContext, activity: Activity) -> None:
    """Network work before the transaction: thread ancestors of a reply, the object of a boost.

    First of all, the sender must still be a peer: the admin may have denied its host
    after the inbox accepted the activity (SECURITY.md row 9).
    """
    host = host_of(activity.actor)
    if not ctx.policy.allows(host):
        raise HostNotAllowedError(f"{host} is no longer a federation peer", url=activity.actor)
    if (
        activity.type == "Create"
        and isinstance(activity.object, Object)
        and activity.object.in_reply_to
    ):
        await fetch_thread(ctx, activity.object.in_reply_to, depth=ctx.thread_fetch_depth)
    elif activity.type == "Announce" and activity.object_id:
        uri = activity.object_id
        async with ctx.sessions() as session:
            if await _status(session, uri) is not None:
                return
        # Never trust an embedded object of a boost: fetch it from its origin (A14, FEP-fe34).
        doc = await ctx.resolver.client.fetch_json(uri, signer=ctx.resolver.instance_signer())
        note = parse_object(doc)
        if (
            note.id != uri
            or note.attributed_to is None
            or host_of(note.attributed_to) != host_of(uri)
        ):
            raise ActivityPubError(f"boosted object {uri} has an id or author of another origin")
        async with ctx.sessions() as session, session.begin():
            author = await ctx.resolver.account(session, note.attributed_to)
            if author is not None:
                await store_note(ctx, session, author, note, fan=False)


async def on_create(
    ctx: NodeContext, session: AsyncSession, activity: Activity, recipient: int | None
) -> str:
    """Create(Note, …) → a status (A4), when it concerns someone here (A3)."""
    note = activity.object
    if not isinstance(note, Object):
        return "ignored: object is not embedded"
    author = await _actor(session, activity)
    if author is None:
        return "ignored: unknown actor"
    if not await is_relevant(session, author, note, addressed=recipient is not None):
        return "ignored: not related to anyone here"
    status = await store_note(ctx, session, author, note)
    return "stored" if status is not None else "ignored: already known or deleted"


async def on_update(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Update(Note) edits a stored post of the same author; Update(Person) refreshes the profile (A5)."""
    obj = activity.object
    if isinstance(obj, Actor):
        problem = actor_origin_problem(obj)
        if obj.id != activity.actor or problem is not None:
            return f"ignored: {problem or 'not the actor itself'}"
        await ctx.resolver.refresh(session, obj)
        return "profile refreshed"
    if not isinstance(obj, Object):
        return "ignored: object is not embedded"
    status = await _status(session, obj.id)
    author = await _actor(session, activity)
    if status is None or author is None or status.account_id != author.id:
        return "ignored: not a post of this actor"
    if obj.updated is None or (status.edited_at is not None and obj.updated <= status.edited_at):
        return "ignored: not newer"
    remember_version(session, status)
    status.content = ctx.sanitizer.clean(obj.content or "")
    status.summary = ctx.sanitizer.clean_text(obj.summary or "")[:1000]
    status.sensitive = obj.sensitive or bool(obj.summary)
    status.attachments_json = attachments_json(ctx, obj)
    status.edited_at = min(obj.updated, datetime.now(UTC))
    # The new version's attachments get media rows; the old ones stay for the history.
    if media := remote_media_rows(
        [
            {
                "id": status.id,
                "account_id": status.account_id,
                "attachments_json": status.attachments_json,
            }
        ]
    ):
        await session.execute(insert(MediaAttachment), media)
    record(session, "status.update", status.id)
    return "edited"


async def on_delete(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Delete of a post (tombstoned, also when it has not arrived yet) or of the actor (A6)."""
    target = activity.object_id
    author = await _actor(session, activity)
    if target is None or author is None:
        return "ignored: nothing to delete"
    if host_of(target) != host_of(author.uri):
        return "ignored: object of another origin"
    if target == activity.actor:
        await session.delete(author)
        ctx.resolver.forget(author.uri)
        return "account removed"
    status = await _status(session, target)
    if status is not None and status.account_id != author.id:
        return "ignored: not a post of this actor"
    await session.execute(
        insert_ignore(session, Tombstone).values(uri=target, deleted_at=datetime.now(UTC))
    )
    if status is None:
        return "tombstoned"
    await remove_status(session, status)
    return "deleted"


async def on_follow(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Follow of a local account: accepted at once unless it approves followers by hand (A8)."""
    target = await _local(session, activity.object_id)
    follower = await _actor(session, activity)
    if target is None or follower is None or activity.id is None:
        return "ignored: not a local account"
    blocked = await session.scalar(
        select(Block.id).where(
            Block.account_id == target.id, Block.target_account_id == follower.id
        )
    )
    if blocked is not None:
        return "ignored: blocked"
    row = await add_follow(
        session, follower, target, activity.id, accepted=not target.manually_approves_followers
    )
    if row.state == "accepted":
        await send_accept(ctx, session, target, follower, row)
        await notify(session, target, "follow", follower)
        return "accepted"
    await notify(session, target, "follow_request", follower)
    return "pending approval"


async def _follow_of(session: AsyncSession, activity: Activity) -> Follow | None:
    """The local follow an Accept/Reject answers: by Follow id, or by the embedded pair (A8)."""
    responder = await _actor(session, activity)
    if responder is None:
        return None
    inner = activity.object
    query = select(Follow).where(Follow.target_account_id == responder.id)
    if isinstance(inner, Activity):
        follower = await _local(session, inner.actor)
        if follower is None:
            return None
        query = query.where(Follow.account_id == follower.id)
    elif activity.object_id is not None:
        query = query.where(Follow.uri == activity.object_id)
    else:
        return None
    return (await session.execute(query)).scalar_one_or_none()


async def on_accept(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Accept(Follow) from the followed actor marks our follow accepted."""
    follow = await _follow_of(session, activity)
    if follow is None:
        return "ignored: no such follow request"
    follow.state = "accepted"
    return "follow accepted"


async def on_reject(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Reject(Follow) ends the follow, pending or not (A9)."""
    follow = await _follow_of(session, activity)
    if follow is None:
        return "ignored: no such follow"
    await remove_follow(session, follow.account_id, follow.target_account_id)
    return "follow rejected"


async def on_like(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Like of a stored post → a favourite, and a notification for a local author (A12)."""
    status = await _status(session, activity.object_id)
    liker = await _actor(session, activity)
    if status is None or liker is None or activity.id is None:
        return "ignored: unknown post"
    if not await can_see(session, status, liker.id):
        return "ignored: the liker cannot see this post"  # no notification leaks it either
    author = await session.get(Account, status.account_id)
    assert author is not None
    added = await add_favourite(session, liker, status, author, activity.id)
    return "liked" if added else "ignored: already liked"


async def on_announce(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Announce of a public or unlisted post → a boost shown to the booster's followers (A14)."""
    status = await _status(session, activity.object_id)
    booster = await _actor(session, activity)
    if status is None or booster is None or activity.id is None:
        return "ignored: unknown post"
    if status.visibility not in {"public", "unlisted"}:
        return "ignored: only public posts can be boosted"  # SECURITY.md row 12
    author = await session.get(Account, status.account_id)
    assert author is not None
    visibility = str(
        classify(activity.to, activity.cc, followers=booster.followers_url, mentioned=())
    )
    published = activity.published or datetime.now(UTC)
    reblog = await add_reblog(
        session, booster, status, author, activity.id,
        visibility=visibility, published=min(published, datetime.now(UTC)), local=False,
    )  # fmt: skip
    if reblog is None:
        return "ignored: already boosted"
    await fan_out(session, reblog, [], keep=ctx.home_feed_size)
    return "boosted"


async def on_undo(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Undo of the actor's own Follow, Like, Announce or Block (A9, A12, A14; SECURITY.md row 8)."""
    actor = await _actor(session, activity)
    if actor is None:
        return "ignored: unknown actor"
    inner = activity.object
    uri = activity.object_id
    kind = inner.type if isinstance(inner, Activity) else None
    if kind in {None, "Follow"}:
        follow = (
            await session.execute(
                select(Follow).where(Follow.account_id == actor.id, Follow.uri == uri)
            )
        ).scalar_one_or_none()
        if follow is None and isinstance(inner, Activity):
            target = await _local(session, inner.object_id)
            if target is not None:
                follow = (
                    await session.execute(
                        select(Follow).where(
                            Follow.account_id == actor.id, Follow.target_account_id == target.id
                        )
                    )
                ).scalar_one_or_none()
        if follow is not None:
            await remove_follow(session, actor.id, follow.target_account_id)
            return "unfollowed"
    if kind in {None, "Like"}:
        like = (
            await session.execute(
                select(Favourite).where(Favourite.account_id == actor.id, Favourite.uri == uri)
            )
        ).scalar_one_or_none()
        if like is None and isinstance(inner, Activity):
            status = await _status(session, inner.object_id)
            if status is not None:
                await remove_favourite(session, actor.id, status.id)
                return "unliked"
        if like is not None:
            await remove_favourite(session, actor.id, like.status_id)
            return "unliked"
    if kind in {None, "Announce"}:
        boost = (
            await session.execute(
                select(Status).where(Status.uri == uri, Status.account_id == actor.id)
            )
        ).scalar_one_or_none()
        if boost is not None and boost.reblog_of_id is not None:
            await remove_reblog(session, actor.id, boost.reblog_of_id)
            return "unboosted"
    if kind in {None, "Block"}:
        target = await _local(session, inner.object_id) if isinstance(inner, Activity) else None
        query = delete(Block).where(Block.account_id == actor.id)
        query = (
            query.where(Block.target_account_id == target.id)
            if target
            else query.where(Block.uri == uri)
        )
        if (await session.execute(query)).rowcount:  # type: ignore[attr-defined]
            return "unblocked"
    return "ignored: nothing of this actor to undo"


async def on_block(
    ctx: NodeContext, session: AsyncSession, activity: Activity, _r: int | None
) -> str:
    """Block of a local account: follows end, the blocker is hidden from them (A10)."""
    target = await _local(session, activity.object_id)
    actor = await _actor(session, activity)
    if target is None or actor is None or activity.id is None:
        return "ignored: not a local account"
    await add_block(session, actor, target, activity.id)
    return "blocked"


HANDLERS: dict[str, Handler] = {
    "Create": on_create,
    "Update": on_update,
    "Delete": on_delete,
    "Follow": on_follow,
    "Accept": on_accept,
    "Reject": on_reject,
    "Like": on_like,
    "EmojiReact": on_like,
    "Announce": on_announce,
    "Undo": on_undo,
    "Block": on_block,
}
