"""Fan-out on write: a post goes into the home feeds of the local people who may see it.

One synchronous implementation (:func:`spread`) serves every caller: a new local post
runs it inside its one-hop write (``node.services.statuses``), boosts and received posts
through :func:`fan_out`. The statements are built once per process with bound parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import cast

from sqlalchemy import BigInteger, Insert, Table, bindparam, select
from sqlalchemy.engine import Connection

from node.db.engine import AsyncSession, insert_for
from node.db.hop import in_one_hop
from node.db.models import Account, Follow, HomeFeedEntry, Status
from node.services.conversations import track_direct
from node.services.feeds import trim_now

__all__ = ["fan_out", "spread"]


async def fan_out(
    session: AsyncSession, status: Status, mentioned_ids: Sequence[int], *, keep: int = 0
) -> None:
    """Put *status* into the home feeds of the local people who may see it (fan-out on write).

    Followers count only when their follow was accepted (SECURITY.md row 10); direct and
    limited posts go to the mentioned local people only. With *keep*, a share of the feeds
    reached is trimmed to their newest *keep* entries (``node.services.feeds``).
    """
    await in_one_hop(
        session,
        spread,
        status.id,
        status.account_id,
        status.visibility,
        status.local,
        mentioned_ids,
        keep=keep,
    )
    if status.visibility == "direct":
        await track_direct(session, [status.id])


def spread(
    session: Connection,
    status_id: int,
    author_id: int,
    visibility: str,
    local: bool,
    mentioned_ids: Sequence[int],
    *,
    keep: int = 0,
) -> list[int]:
    """:func:`fan_out` in the caller's thread hop (``node.db.hop``), conversations aside;
    returns the followers' feeds it reached."""
    dialect = session.dialect.name
    reached: list[int] = []
    limited = visibility in {"direct", "limited"}
    if not limited:
        result = session.execute(
            _fan_out_insert(dialect), {"f_status": status_id, "f_author": author_id}
        )
        reached = list(result.scalars())
    owners = [*mentioned_ids] if limited else []
    if local:
        owners.append(author_id)
    if owners:
        session.execute(
            _feed_insert(dialect),
            [{"account_id": a, "status_id": status_id} for a in dict.fromkeys(owners)],
        )
    if keep and not limited:
        readers = [*reached, author_id] if local else reached
        trim_now(session, author_id, keep, turn=status_id, readers=readers)
    return reached


@functools.cache
def _fan_out_insert(dialect: str) -> Insert:
    """The accepted local followers' feed rows of one post, built once per process."""
    table = cast(Table, HomeFeedEntry.__table__)
    followers = (
        select(Follow.account_id, bindparam("f_status", type_=BigInteger()))
        .join(Account, Account.id == Follow.account_id)
        .where(
            Follow.target_account_id == bindparam("f_author"),
            Follow.state == "accepted",
            Account.local.is_(True),
        )
    )
    return (
        insert_for(dialect, table)
        .from_select(["account_id", "status_id"], followers)
        .on_conflict_do_nothing()
        .returning(table.c.account_id)
    )


@functools.cache
def _feed_insert(dialect: str) -> Insert:
    return insert_for(dialect, cast(Table, HomeFeedEntry.__table__)).on_conflict_do_nothing()
