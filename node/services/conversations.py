"""Direct-message conversations: each local participant's view of a thread (Mastodon's
AccountConversation).

Whenever a direct post is stored — written here or received from a peer — every local
person in it (its author and the mentioned) gets their conversation for that thread and
those other participants updated: the post becomes its last status, and it is unread for
everyone but the author. The ``direct`` stream is told (a ``conversation`` event naming the post).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import case, select, update

from node.db.engine import AsyncSession
from node.db.models import Account, Conversation, Mention, Status
from node.ids import new_id
from node.services.events import record
from node.services.graph import insert_ignore

__all__ = ["conversation_key", "forget_direct", "track_direct"]


def conversation_key(thread: str, others: Sequence[int]) -> str:
    """What makes a conversation one: the thread and the other participants."""
    text = thread + "|" + ",".join(str(i) for i in sorted(others))
    return hashlib.sha256(text.encode()).hexdigest()


async def track_direct(session: AsyncSession, status_ids: Sequence[int]) -> None:
    """Update the conversations of the local participants of the direct posts in *status_ids*."""
    if not status_ids:
        return
    posts = (
        await session.execute(
            select(Status.id, Status.account_id, Status.context, Status.uri).where(
                Status.id.in_(status_ids), Status.visibility == "direct"
            )
        )
    ).all()
    for status_id, author_id, context, uri in posts:
        mentioned = (
            await session.scalars(select(Mention.account_id).where(Mention.status_id == status_id))
        ).all()
        participants = sorted({author_id, *mentioned})
        local = (
            await session.scalars(
                select(Account.id).where(Account.id.in_(participants), Account.local.is_(True))
            )
        ).all()
        now = datetime.now(UTC)
        for account_id in local:
            others = [p for p in participants if p != account_id]
            key = conversation_key(context or uri, others)
            unread = account_id != author_id
            await session.execute(
                insert_ignore(session, Conversation).values(
                    id=new_id(now),
                    account_id=account_id,
                    key=key,
                    participants=",".join(map(str, others)),
                    last_status_id=status_id,
                    unread=unread,
                    updated_at=now,
                )
            )
            await session.execute(
                update(Conversation)
                .where(Conversation.account_id == account_id, Conversation.key == key)
                .values(
                    last_status_id=case(
                        (Conversation.last_status_id.is_(None), status_id),
                        (Conversation.last_status_id < status_id, status_id),
                        else_=Conversation.last_status_id,
                    ),
                    unread=unread,
                    updated_at=now,
                )
            )
        # One event per post (streams find each viewer's conversation by its last status).
        record(session, "conversation", status_id)


async def forget_direct(session: AsyncSession, status: Status) -> None:
    """A direct post is being deleted: each conversation it ended falls back to the one
    before it in the same thread with the same people, or goes when there is none."""
    ended = (
        await session.scalars(select(Conversation).where(Conversation.last_status_id == status.id))
    ).all()
    if not ended:
        return
    thread = status.context or status.uri
    earlier = (
        await session.execute(
            select(Status.id, Status.account_id)
            .where(
                Status.visibility == "direct",
                Status.context == thread,
                Status.id < status.id,
            )
            .order_by(Status.id.desc())
            .limit(50)
        )
    ).all()
    people: dict[int, list[int]] = {}
    for status_id, author_id in earlier:
        mentioned = (
            await session.scalars(select(Mention.account_id).where(Mention.status_id == status_id))
        ).all()
        people[status_id] = sorted({author_id, *mentioned})
    for conversation in ended:
        fallback = next(
            (
                status_id
                for status_id, _ in earlier
                if conversation.account_id in people[status_id]
                and conversation_key(
                    thread, [p for p in people[status_id] if p != conversation.account_id]
                )
                == conversation.key
            ),
            None,
        )
        if fallback is None:
            await session.delete(conversation)
        else:
            conversation.last_status_id = fallback
