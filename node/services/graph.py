"""The social graph and reactions: follows, blocks, favourites, boosts, notifications.

These functions change rows only; they are shared by local actions (C2S, CLI, API) and by
activities received from peers, and each is idempotent so a replayed activity changes nothing.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    String,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from node.db.engine import AsyncSession, insert_for
from node.db.hop import in_one_hop
from node.db.models import (
    Account,
    Base,
    Block,
    Bookmark,
    Favourite,
    Follow,
    HomeFeedEntry,
    ListMember,
    Notification,
    NotificationOptOut,
    Pin,
    Status,
    UserList,
    UTCDateTime,
)
from node.ids import new_id
from node.services.events import record

__all__ = [
    "add_block",
    "add_favourite",
    "add_follow",
    "add_reblog",
    "insert_ignore",
    "is_blocked",
    "notify",
    "notify_now",
    "remove_block",
    "remove_favourite",
    "remove_follow",
    "remove_reblog",
    "set_mark",
]


def insert_ignore(session: AsyncSession | Session | Connection, table: type[Base]) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's dialect."""
    bind = session if isinstance(session, Connection) else session.get_bind()
    return insert_for(bind.dialect.name, table).on_conflict_do_nothing()


async def notify(
    session: AsyncSession,
    recipient: Account,
    kind: str,
    sender: Account,
    status_id: int | None = None,
) -> None:
    """Tell a local *recipient* about something *sender* did, once per event."""
    if not recipient.local or recipient.id == sender.id:
        return
    notification_id = await in_one_hop(
        session, notify_now, recipient.id, kind, sender.id, status_id
    )
    record(session, "notification", notification_id)  # a blocked one is simply not found


def notify_now(
    connection: Connection, recipient_id: int, kind: str, sender_id: int, status_id: int | None
) -> int:
    """:func:`notify` in the caller's thread hop (``node.db.hop``): one statement; returns the
    new notification's id (no row when either blocks the other or the kind is turned off)."""
    notification_id = new_id()
    connection.execute(
        _notification_insert(connection.dialect.name),
        {
            "n_id": notification_id,
            "n_recipient": recipient_id,
            "n_kind": kind,
            "n_sender": sender_id,
            "n_status": status_id,
            "n_at": datetime.now(UTC),
        },
    )
    return notification_id


@functools.cache
def _notification_insert(dialect: str) -> Insert:
    """The notification INSERT with the block check (either direction) and the opt-out in it,
    built once per process with bound parameters."""
    recipient = bindparam("n_recipient", type_=BigInteger())
    sender = bindparam("n_sender", type_=BigInteger())
    kind = bindparam("n_kind", type_=String())
    row = select(
        bindparam("n_id", type_=BigInteger()),
        recipient,
        kind,
        sender,
        bindparam("n_status", type_=BigInteger()),
        bindparam("n_at", type_=UTCDateTime()),
    ).where(
        ~exists().where(
            or_(
                and_(Block.account_id == recipient, Block.target_account_id == sender),
                and_(Block.account_id == sender, Block.target_account_id == recipient),
            )
        ),
        # A kind the recipient turned off in their settings is never created.
        ~exists().where(
            NotificationOptOut.account_id == recipient, NotificationOptOut.type == kind
        ),
    )
    columns = ["id", "account_id", "type", "from_account_id", "status_id", "created_at"]
    return (
        insert_for(dialect, cast(Table, Notification.__table__))
        .from_select(columns, row)
        .on_conflict_do_nothing()
    )


def _blocks_between(account_id: int, other_id: int) -> ColumnElement[bool]:
    return or_(
        and_(Block.account_id == account_id, Block.target_account_id == other_id),
        and_(Block.account_id == other_id, Block.target_account_id == account_id),
    )


async def is_blocked(session: AsyncSession, account_id: int, other_id: int) -> bool:
    """Whether either of the two accounts blocks the other."""
    found = await session.scalar(select(exists().where(_blocks_between(account_id, other_id))))
    return bool(found)


async def add_follow(
    session: AsyncSession, follower: Account, target: Account, uri: str, *, accepted: bool
) -> Follow:
    """Record that *follower* follows (or asked to follow) *target*; returns the row."""
    existing = (
        await session.execute(
            select(Follow).where(
                Follow.account_id == follower.id, Follow.target_account_id == target.id
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.uri = uri
        if accepted:
            existing.state = "accepted"
        return existing
    follow = Follow(
        id=new_id(),
        account_id=follower.id,
        target_account_id=target.id,
        uri=uri,
        state="accepted" if accepted else "pending",
    )
    session.add(follow)
    await session.flush()
    return follow


async def remove_follow(session: AsyncSession, follower_id: int, target_id: int) -> bool:
    """Forget a follow and the target's posts in the follower's home feed; True if there was one."""
    result = await session.execute(
        delete(Follow).where(
            Follow.account_id == follower_id, Follow.target_account_id == target_id
        )
    )
    await session.execute(
        delete(HomeFeedEntry).where(
            HomeFeedEntry.account_id == follower_id,
            HomeFeedEntry.status_id.in_(select(Status.id).where(Status.account_id == target_id)),
        )
    )
    # Lists hold only people one follows (as Mastodon, whose list entries hang off the follow).
    await session.execute(
        delete(ListMember).where(
            ListMember.account_id == target_id,
            ListMember.list_id.in_(select(UserList.id).where(UserList.account_id == follower_id)),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_block(session: AsyncSession, account: Account, target: Account, uri: str) -> None:
    """*account* blocks *target*: follows in both directions end (A10)."""
    await session.execute(
        insert_ignore(session, Block).values(
            id=new_id(), account_id=account.id, target_account_id=target.id, uri=uri,
            created_at=datetime.now(UTC),
        )
    )  # fmt: skip
    await remove_follow(session, account.id, target.id)
    await remove_follow(session, target.id, account.id)


async def remove_block(session: AsyncSession, account_id: int, target_id: int) -> bool:
    """Lift a block; True if there was one."""
    result = await session.execute(
        delete(Block).where(Block.account_id == account_id, Block.target_account_id == target_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_favourite(
    session: AsyncSession, account: Account, status: Status, author: Account, uri: str
) -> bool:
    """*account* likes *status*; counts it and notifies a local author. False if already liked."""
    result = await session.execute(
        insert_ignore(session, Favourite).values(
            id=new_id(), account_id=account.id, status_id=status.id, uri=uri,
            created_at=datetime.now(UTC),
        )
    )  # fmt: skip
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(Status)
        .where(Status.id == status.id)
        .values(favourites_count=Status.favourites_count + 1)
    )
    await notify(session, author, "favourite", account, status.id)
    return True


async def remove_favourite(session: AsyncSession, account_id: int, status_id: int) -> bool:
    """Undo a like; False if there was none."""
    result = await session.execute(
        delete(Favourite).where(
            Favourite.account_id == account_id, Favourite.status_id == status_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(Status)
        .where(Status.id == status_id, Status.favourites_count > 0)
        .values(favourites_count=Status.favourites_count - 1)
    )
    return True


async def add_reblog(
    session: AsyncSession,
    account: Account,
    status: Status,
    author: Account,
    uri: str,
    *,
    visibility: str,
    published: datetime,
    local: bool,
) -> Status | None:
    """*account* boosts *status*: a status row pointing at the original. None if already boosted."""
    existing = await session.scalar(
        select(Status.id).where(Status.account_id == account.id, Status.reblog_of_id == status.id)
    )
    if existing is not None or await session.scalar(select(Status.id).where(Status.uri == uri)):
        return None
    reblog = Status(
        id=new_id(published if published <= datetime.now(UTC) else None),
        uri=uri,
        account_id=account.id,
        local=local,
        visibility=visibility,
        reblog_of_id=status.id,
        published_at=published,
    )
    session.add(reblog)
    await session.execute(
        update(Status).where(Status.id == status.id).values(reblogs_count=Status.reblogs_count + 1)
    )
    await session.flush()
    record(session, "update", reblog.id)
    await notify(session, author, "reblog", account, status.id)
    return reblog


async def remove_reblog(session: AsyncSession, account_id: int, status_id: int) -> Status | None:
    """Undo a boost; returns the removed boost row, or None."""
    reblog = (
        await session.execute(
            select(Status).where(Status.account_id == account_id, Status.reblog_of_id == status_id)
        )
    ).scalar_one_or_none()
    if reblog is None:
        return None
    await session.delete(reblog)
    await session.execute(
        update(Status)
        .where(Status.id == status_id, Status.reblogs_count > 0)
        .values(reblogs_count=Status.reblogs_count - 1)
    )
    return reblog


async def set_mark(
    session: AsyncSession,
    table: type[Bookmark] | type[Pin],
    account_id: int,
    status_id: int,
    *,
    on: bool,
) -> None:
    """Add (*on*) or remove a bookmark or pin of *status_id*; adding it twice keeps one row."""
    if on:
        now = datetime.now(UTC)
        await session.execute(
            insert_ignore(session, table).values(
                id=new_id(now), account_id=account_id, status_id=status_id, created_at=now
            )
        )
    else:
        await session.execute(
            delete(table).where(table.account_id == account_id, table.status_id == status_id)
        )
