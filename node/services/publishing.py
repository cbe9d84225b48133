"""Sending: an activity of a local account becomes an outbox row plus one delivery per inbox."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from activitypub.contexts import default_context
from node.db.engine import AsyncSession
from node.db.hop import in_one_hop
from node.db.models import Account, Follow, OutboxActivity
from node.federation.delivery import enqueue_now
from node.ids import new_id

__all__ = ["Publisher", "follower_inboxes", "inbox_of"]


def inbox_of(account: Account) -> str:
    """Where to deliver to *account*: its host's shared inbox when it has one (A26)."""
    return account.shared_inbox_url or account.inbox_url


async def follower_inboxes(session: AsyncSession, account_id: int) -> list[str]:
    """Inboxes of the remote followers whose follow was *accepted* (SECURITY.md row 10)."""
    return await in_one_hop(session, _follower_inboxes, account_id)


def _follower_inboxes(session: Connection, account_id: int) -> list[str]:
    rows = session.execute(_followers_query(), {"author": account_id})
    return list(dict.fromkeys(shared or inbox for shared, inbox in rows))


@functools.cache
def _followers_query() -> Select[str | None, str]:
    return (
        select(Account.shared_inbox_url, Account.inbox_url)
        .join(Follow, Follow.account_id == Account.id)
        .where(
            Follow.target_account_id == bindparam("author"),
            Follow.state == "accepted",
            Account.local.is_(False),
            Account.suspended_at.is_(None),
        )
    )


@functools.cache
def _outbox_insert() -> Insert:
    return insert(cast(Table, OutboxActivity.__table__))


class Publisher:
    """Stores outgoing activities and queues their deliveries in the caller's transaction."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def publish(
        self,
        session: AsyncSession,
        actor: Account,
        activity: dict[str, Any],
        *,
        followers: bool = False,
        recipients: Iterable[Account] = (),
        public: bool = False,
        object_uri: str | None = None,
        inboxes: Iterable[str] = (),
    ) -> int:
        """Record *activity* (with ``id`` set) and queue it for its remote audience; returns
        the outbox row's id.

        *inboxes* are further inboxes by URL (the directory node's, issue 5).
        """
        targets = [inbox_of(a) for a in recipients if not a.local]
        targets += inboxes
        row_id, queued = await in_one_hop(
            session,
            self.store,
            actor.id,
            activity,
            followers=followers,
            inboxes=targets,
            public=public,
            object_uri=object_uri,
        )
        if queued:
            self.wake_after_commit(session)
        return row_id

    def store(
        self,
        session: Connection,
        actor_id: int,
        activity: dict[str, Any],
        *,
        followers: bool,
        inboxes: Iterable[str],
        public: bool,
        object_uri: str | None,
    ) -> tuple[int, bool]:
        """:meth:`publish` in the caller's thread hop (``node.db.hop``): the outbox row, the
        accepted remote followers' inboxes (when *followers*) and *inboxes*, one delivery
        each. Returns the row's id and whether any delivery was queued (then the caller
        calls :meth:`wake_after_commit`)."""
        body = {"@context": default_context(), **activity}
        row_id = new_id()
        session.execute(
            _outbox_insert(),
            {
                "id": row_id,
                "uri": activity["id"],
                "account_id": actor_id,
                "type": activity["type"],
                "object_uri": object_uri,
                "public": public,
                "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                "created_at": datetime.now(UTC),
            },
        )
        targets = _follower_inboxes(session, actor_id) if followers else []
        targets += inboxes
        return row_id, bool(enqueue_now(session, row_id, dict.fromkeys(targets)))

    def wake_after_commit(self, session: AsyncSession) -> None:
        """Wake the delivery worker once *session*'s transaction has committed."""
        event.listen(session.sync_session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, _session: Session) -> None:
        self._wake()
