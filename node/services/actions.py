"""What a local person does to others: follow, like, boost, block, and undo each (A8–A14)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from node.db.engine import AsyncSession
from node.db.models import Account, Block, Favourite, Follow, Status
from node.federation.documents import iso
from node.ids import new_id
from node.services.context import NodeContext
from node.services.graph import (
    add_block,
    add_favourite,
    add_follow,
    add_reblog,
    is_blocked,
    notify,
    remove_block,
    remove_favourite,
    remove_follow,
    remove_reblog,
)
from node.services.statuses import delete_local_status, fan_out
from node.services.visibility import can_see

__all__ = [
    "ActionError",
    "accept_follow_request",
    "block",
    "delete_own_status",
    "favourite",
    "follow",
    "reblog",
    "send_accept",
    "send_reject",
    "unblock",
    "unfavourite",
    "unfollow",
    "unreblog",
]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


class ActionError(ValueError):
    """An action was refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


async def _author(session: AsyncSession, status: Status) -> Account:
    author = await session.get(Account, status.account_id)
    assert author is not None  # a foreign key guarantees it
    return author


async def _send_undo(
    ctx: NodeContext,
    session: AsyncSession,
    actor: Account,
    undone: tuple[str, str, str],
    *,
    to: list[str],
    cc: list[str] | None = None,
    recipients: list[Account],
    followers: bool = False,
) -> None:
    """Send ``Undo`` of *actor*'s own earlier activity ``(id, type, object)`` (A9, A12, A14)."""
    uri, kind, obj = undone
    activity: dict[str, object] = {
        "id": ctx.urls.activity(actor.username, new_id()),
        "type": "Undo",
        "actor": actor.uri,
        "to": to,
        "object": {"id": uri, "type": kind, "actor": actor.uri, "object": obj},
    }
    if cc is not None:
        activity["cc"] = cc
    await ctx.publisher.publish(
        session, actor, activity, followers=followers, recipients=recipients
    )


async def _answer_follow(
    ctx: NodeContext,
    session: AsyncSession,
    kind: str,
    target: Account,
    follower: Account,
    follow: Follow,
) -> None:
    """``Accept`` or ``Reject`` to a remote follower, embedding the Follow it answers."""
    await ctx.publisher.publish(
        session,
        target,
        {
            "id": ctx.urls.activity(target.username, new_id()),
            "type": kind,
            "actor": target.uri,
            "to": [follower.uri],
            "object": {
                "id": follow.uri,
                "type": "Follow",
                "actor": follower.uri,
                "object": target.uri,
            },
        },
        recipients=[follower],
    )


async def send_accept(
    ctx: NodeContext, session: AsyncSession, target: Account, follower: Account, follow: Follow
) -> None:
    """Tell a remote follower that *target* accepted (A8): the Accept embeds the Follow."""
    if not follower.local:
        await _answer_follow(ctx, session, "Accept", target, follower, follow)


async def send_reject(
    ctx: NodeContext, session: AsyncSession, target: Account, follower: Account, follow: Follow
) -> None:
    """Tell a remote follower that *target* turned them away (A9): the Reject embeds the Follow."""
    if not follower.local:
        await _answer_follow(ctx, session, "Reject", target, follower, follow)


async def follow(
    ctx: NodeContext, session: AsyncSession, follower: Account, target: Account
) -> Follow:
    """Follow *target*; a local unlocked target accepts at once, a remote one is asked (A8)."""
    if follower.id == target.id:
        raise ActionError("you cannot follow yourself")
    if await is_blocked(session, follower.id, target.id):
        raise ActionError("this account cannot be followed", status=403)
    uri = ctx.urls.activity(follower.username, new_id())
    if target.local:
        row = await add_follow(
            session, follower, target, uri, accepted=not target.manually_approves_followers
        )
        await notify(
            session, target, "follow" if row.state == "accepted" else "follow_request", follower
        )
        return row
    row = await add_follow(session, follower, target, uri, accepted=False)
    await ctx.publisher.publish(
        session,
        follower,
        {
            "id": row.uri,
            "type": "Follow",
            "actor": follower.uri,
            "object": target.uri,
            "to": [target.uri],
        },
        recipients=[target],
    )
    return row


async def _follow_row(session: AsyncSession, follower_id: int, target_id: int) -> Follow | None:
    return (
        await session.execute(
            select(Follow).where(
                Follow.account_id == follower_id, Follow.target_account_id == target_id
            )
        )
    ).scalar_one_or_none()


async def accept_follow_request(
    ctx: NodeContext, session: AsyncSession, target: Account, follower: Account
) -> bool:
    """A locked local account accepts a pending follower."""
    row = await _follow_row(session, follower.id, target.id)
    if row is None:
        return False
    row.state = "accepted"
    await send_accept(ctx, session, target, follower, row)
    return True


async def unfollow(
    ctx: NodeContext, session: AsyncSession, follower: Account, target: Account
) -> bool:
    """Stop following; the remote side gets ``Undo(Follow)`` (A9)."""
    row = await _follow_row(session, follower.id, target.id)
    if row is None:
        return False
    follow_uri = row.uri
    await remove_follow(session, follower.id, target.id)
    if not target.local:
        await _send_undo(
            ctx, session, follower, (follow_uri, "Follow", target.uri),
            to=[target.uri], recipients=[target],
        )  # fmt: skip
    return True


def _can_see_to_react(status: Status) -> None:
    if status.reblog_of_id is not None:
        raise ActionError("react to the original post, not to a boost")


async def favourite(
    ctx: NodeContext, session: AsyncSession, account: Account, status: Status
) -> bool:
    """Like *status*; the author's node gets a ``Like`` (A12)."""
    _can_see_to_react(status)
    if not await can_see(session, status, account.id, viewer_local=account.local):
        raise ActionError("no such post", status=404)
    author = await _author(session, status)
    if await is_blocked(session, account.id, author.id):
        raise ActionError("this post cannot be liked", status=403)
    uri = ctx.urls.activity(account.username, new_id())
    if not await add_favourite(session, account, status, author, uri):
        return False
    if not author.local and status.visibility != "local":
        await ctx.publisher.publish(
            session,
            account,
            {
                "id": uri,
                "type": "Like",
                "actor": account.uri,
                "object": status.uri,
                "to": [author.uri],
            },
            recipients=[author],
        )
    return True


async def unfavourite(
    ctx: NodeContext, session: AsyncSession, account: Account, status: Status
) -> bool:
    """Undo a like (A12)."""
    row = (
        await session.execute(
            select(Favourite).where(
                Favourite.account_id == account.id, Favourite.status_id == status.id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return False
    like_uri = row.uri
    await remove_favourite(session, account.id, status.id)
    author = await _author(session, status)
    if not author.local:
        await _send_undo(
            ctx, session, account, (like_uri, "Like", status.uri),
            to=[author.uri], recipients=[author],
        )  # fmt: skip
    return True


async def reblog(
    ctx: NodeContext, session: AsyncSession, account: Account, status: Status
) -> Status | None:
    """Boost a public or unlisted post (SECURITY.md row 12); followers and the author are told (A14)."""
    _can_see_to_react(status)
    if status.visibility not in {"public", "unlisted", "local"}:
        raise ActionError("only public and unlisted posts can be boosted", status=422)
    author = await _author(session, status)
    if status.visibility == "local" and not account.local:
        raise ActionError("local-only posts stay on this node", status=422)
    now = datetime.now(UTC)
    boost_id = new_id(now)
    uri = f"{ctx.urls.status(account.username, boost_id)}/activity"
    visibility = "local" if status.visibility == "local" else "public"
    row = await add_reblog(
        session, account, status, author, uri, visibility=visibility, published=now, local=True
    )
    if row is None:
        return None
    await fan_out(session, row, [], keep=ctx.home_feed_size)
    if visibility != "local":
        await ctx.publisher.publish(
            session,
            account,
            {
                "id": uri,
                "type": "Announce",
                "actor": account.uri,
                "published": iso(now),
                "to": [PUBLIC],
                "cc": [author.uri, account.followers_url],
                "object": status.uri,
            },
            followers=True,
            recipients=[author],
            public=True,
            object_uri=status.uri,
        )
    return row


async def unreblog(
    ctx: NodeContext, session: AsyncSession, account: Account, status: Status
) -> bool:
    """Undo a boost (A14)."""
    row = await remove_reblog(session, account.id, status.id)
    if row is None:
        return False
    author = await _author(session, status)
    if row.visibility != "local":
        await _send_undo(
            ctx, session, account, (row.uri, "Announce", status.uri),
            to=[PUBLIC], cc=[author.uri, account.followers_url or ""],
            recipients=[author], followers=True,
        )  # fmt: skip
    return True


async def delete_own_status(
    ctx: NodeContext, session: AsyncSession, account: Account, status: Status
) -> None:
    """Delete one's own post, or undo one's own boost (a boost goes by Undo of its Announce, A14)."""
    if status.reblog_of_id is not None:
        original = await session.get(Status, status.reblog_of_id)
        assert original is not None  # a boost is deleted with its original
        await unreblog(ctx, session, account, original)
    else:
        await delete_local_status(ctx, session, account, status)


async def block(ctx: NodeContext, session: AsyncSession, account: Account, target: Account) -> None:
    """Block *target*: follows end both ways; a remote target's node is told, as Mastodon does (A10)."""
    if account.id == target.id:
        raise ActionError("you cannot block yourself")
    uri = ctx.urls.activity(account.username, new_id())
    await add_block(session, account, target, uri)
    if not target.local:
        await ctx.publisher.publish(
            session,
            account,
            {
                "id": uri,
                "type": "Block",
                "actor": account.uri,
                "object": target.uri,
                "to": [target.uri],
            },
            recipients=[target],
        )


async def unblock(
    ctx: NodeContext, session: AsyncSession, account: Account, target: Account
) -> bool:
    """Lift a block (``Undo(Block)``)."""
    row = (
        await session.execute(
            select(Block).where(
                Block.account_id == account.id, Block.target_account_id == target.id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return False
    block_uri = row.uri
    await remove_block(session, account.id, target.id)
    if not target.local:
        await _send_undo(
            ctx, session, account, (block_uri, "Block", target.uri),
            to=[target.uri], recipients=[target],
        )  # fmt: skip
    return True
