"""Home feeds are capped: each local account keeps its newest ``keep`` entries (PERFORMANCE.md).

Fan-out on write puts every post into the ``home_feed`` rows of its author's local
followers. Uncapped, 1,000,000 posts to 200 followers each would be 200,000,000 rows; like
Mastodon (about 800 entries per home feed in Redis), Kantine keeps the newest
``node.home_feed_size`` entries per account and reads older pages of the home timeline
from the statuses of the people one follows (``node.api.mastodon.timelines``).

Trimming a feed costs one walk down its index to the ``keep``-th entry, so a post does not
trim all the feeds it reached: it trims a rotating share of them, one in
``trim_every(keep)`` (every one for feeds under 50 entries), picked by the post's id.
The cost per post stays small and even (no post pays for all 200 feeds), and each feed
holds ``keep`` entries plus the few that arrived since its last trim. The inbox worker,
which applies posts in the background, trims all the feeds a post reached for one post
in ``trim_every(keep)`` instead.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Delete, Integer, Select, Table, bindparam, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from node.db.engine import AsyncSession
from node.db.hop import in_one_hop
from node.db.models import Account, Follow, HomeFeedEntry

__all__ = [
    "DEFAULT_HOME_FEED_SIZE",
    "due_for_trim",
    "feed_floor",
    "trim_every",
    "trim_feeds",
    "trim_now",
]

#: Entries kept per home feed (Mastodon keeps about 800).
DEFAULT_HOME_FEED_SIZE = 800


def trim_every(keep: int) -> int:
    """How many posts apart the feeds a post reached are trimmed: 1 for tiny feeds, at most 16."""
    return max(1, min(16, keep // 50))


def due_for_trim(status_id: int, keep: int) -> bool:
    """Whether the post *status_id* trims every feed it reached (the inbox worker's way)."""
    return keep > 0 and status_id % trim_every(keep) == 0


async def trim_feeds(
    session: AsyncSession,
    author_id: int,
    keep: int,
    *,
    turn: int | None = None,
    readers: Sequence[int] | None = None,
) -> int:
    """Cut feeds of *author_id* and its accepted followers to their newest *keep* entries.

    With *turn* (a post's id), only the share of the feeds whose turn it is; without, all.
    *readers* are the feeds the post reached, if the caller knows them (fan-out returns
    them); otherwise they are looked up. Then two statements: each chosen feed's
    ``keep``-th newest entry (one index walk per feed), and one delete per cut feed.
    Returns how many feeds were cut.
    """
    if keep <= 0:
        return 0
    return await in_one_hop(session, trim_now, author_id, keep, turn=turn, readers=readers)


def trim_now(
    session: Connection,
    author_id: int,
    keep: int,
    *,
    turn: int | None = None,
    readers: Sequence[int] | None = None,
) -> int:
    """:func:`trim_feeds` in the caller's thread hop (``node.db.hop``)."""
    if keep <= 0:
        return 0
    if readers is None:
        followers = session.scalars(
            select(Follow.account_id).where(
                Follow.target_account_id == author_id, Follow.state == "accepted"
            )
        )
        readers = [*followers, author_id]
    chosen = sorted(set(readers))
    if turn is not None:
        every = trim_every(keep)
        chosen = chosen[turn % every :: every]
    if not chosen:
        return 0
    rows = session.execute(_cut_query(), {"ids": chosen, "skip": keep - 1}).all()
    cuts = [{"a": account_id, "c": value} for account_id, value in rows if value is not None]
    if not cuts:
        return 0
    session.execute(_cut_delete(), cuts)
    return len(cuts)


@functools.cache
def _cut_query() -> Select[Any]:
    """Each chosen feed's ``skip``-th newest entry, built once per process."""
    inner = aliased(HomeFeedEntry)
    cut = (
        select(inner.status_id)
        .where(inner.account_id == Account.id)
        .order_by(inner.status_id.desc())
        .offset(bindparam("skip", type_=Integer()))
        .limit(1)
        .scalar_subquery()
    )
    return select(Account.id, cut).where(Account.id.in_(bindparam("ids", expanding=True)))


@functools.cache
def _cut_delete() -> Delete:
    table = cast(Table, HomeFeedEntry.__table__)
    return delete(table).where(
        table.c.account_id == bindparam("a"), table.c.status_id < bindparam("c")
    )


async def feed_floor(session: AsyncSession, account_id: int, keep: int) -> int | None:
    """The oldest entry of *account_id*'s feed if it holds *keep* entries (so older posts
    may have been cut); None if it holds fewer or nothing is cut (*keep* 0)."""
    if keep <= 0:
        return None
    mine = HomeFeedEntry.account_id == account_id
    head = select(HomeFeedEntry.status_id).where(mine).limit(keep).subquery()
    count = select(func.count()).select_from(head).scalar_subquery()
    oldest = select(func.min(HomeFeedEntry.status_id)).where(mine).scalar_subquery()
    found, floor = (await session.execute(select(count, oldest))).one()
    return int(floor) if found >= keep and floor is not None else None
