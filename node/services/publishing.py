"""Sending: an activity of a local account becomes an outbox row plus one delivery per inbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from activitypub.contexts import default_context
from node.db.engine import AsyncSession
from node.db.models import Account, Follow, OutboxActivity
from node.federation.delivery import enqueue
from node.ids import new_id

__all__ = ["Publisher", "follower_inboxes", "inbox_of"]


def inbox_of(account: Account) -> str:
    """Where to deliver to *account*: its host's shared inbox when it has one (A26)."""
    return account.shared_inbox_url or account.inbox_url


async def follower_inboxes(session: AsyncSession, account_id: int) -> list[str]:
    """Inboxes of the remote followers whose follow was *accepted* (SECURITY.md row 10)."""
    rows = await session.execute(
        select(Account.shared_inbox_url, Account.inbox_url)
        .join(Follow, Follow.account_id == Account.id)
        .where(
            Follow.target_account_id == account_id,
            Follow.state == "accepted",
            Account.local.is_(False),
            Account.suspended_at.is_(None),
        )
    )
    return list(dict.fromkeys(shared or inbox for shared, inbox in rows))


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
    ) -> OutboxActivity:
        """Record *activity* (with ``id`` set) and queue it for its remote audience.

        *inboxes* are further inboxes by URL (the directory node's, issue 5).
        """
        body = {"@context": default_context(), **activity}
        row = OutboxActivity(
            id=new_id(),
            uri=activity["id"],
            account_id=actor.id,
            type=activity["type"],
            object_uri=object_uri,
            public=public,
            body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            created_at=datetime.now(UTC),
        )
        session.add(row)
        await session.flush()
        targets: list[str] = await follower_inboxes(session, actor.id) if followers else []
        targets += [inbox_of(a) for a in recipients if not a.local]
        targets += inboxes
        if await enqueue(session, row, dict.fromkeys(targets)):
            event.listen(session.sync_session, "after_commit", self._after_commit, once=True)
        return row

    def _after_commit(self, _session: Session) -> None:
        self._wake()
