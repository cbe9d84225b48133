"""Seeding a node's database before it starts, through the node's own services.

Accounts, remote actors and follows are written with the functions the node uses itself
(``create_local_account``, ``store_actor``, ``add_follow``), so the rows are exactly what
federation would have produced; the timed run then measures the steady state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from activitypub.sanitize import HtmlSanitizer
from activitypub.vocabulary import parse_actor
from node.auth.tokens import issue_token
from node.db import create_engine, migrate, sessionmaker_for
from node.db.models import Account, HomeFeedEntry, InboxItem, Notification, Status
from node.federation.actors import store_actor
from node.federation.documents import Urls
from node.services.accounts import create_local_account
from node.services.graph import add_follow

__all__ = ["Progress", "Seeded", "progress", "seed"]


@dataclass(frozen=True)
class Seeded:
    """Ids of the seeded local accounts by user name, and a token per account."""

    ids: dict[str, int]
    tokens: dict[str, str]


async def seed(
    database_url: str,
    base_url: str,
    *,
    local: Sequence[str],
    remote: Sequence[dict[str, Any]],
    follows: Sequence[tuple[str, str]],
) -> Seeded:
    """Migrate, create *local* users (with tokens) and *remote* actor documents, then follows.

    *follows* are (follower, followed) pairs of a local user name or a remote actor id;
    every follow is accepted.
    """
    domain = base_url.split("://", 1)[1]
    urls = Urls(base_url)
    sanitizer = HtmlSanitizer()
    engine = create_engine(database_url, pool_size=2)
    try:
        await migrate(engine)
        sessions = sessionmaker_for(engine)
        async with sessions() as session, session.begin():
            accounts: dict[str, Account] = {}
            tokens: dict[str, str] = {}
            for name in local:
                accounts[name] = await create_local_account(session, domain, urls, name)
                tokens[name] = await issue_token(session, accounts[name], "read write follow")
            for doc in remote:
                # A fresh time per actor: ids are the time plus only 16 random bits.
                accounts[doc["id"]] = await store_actor(
                    session, parse_actor(doc), sanitizer, now=datetime.now(UTC)
                )
            for n, (follower, followed) in enumerate(follows):
                await add_follow(
                    session,
                    accounts[follower],
                    accounts[followed],
                    f"{accounts[follower].uri}#follows/{n}",
                    accepted=True,
                )
        return Seeded({name: accounts[name].id for name in local}, tokens)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Progress:
    """How far the inbox worker got: rows by state and what people can see."""

    done: int
    failed: int
    pending: int
    statuses: int
    home_feed: int
    mentions: int


async def progress(sessions: Any, *, follower_id: int, mentioned_id: int) -> Progress:
    """Count applied inbox rows, stored statuses, the follower's feed and the mention notices."""
    by_state = select(InboxItem.state, func.count()).group_by(InboxItem.state)
    async with sessions() as session:
        states = dict((await session.execute(by_state)).tuples().all())
        statuses = await session.scalar(select(func.count()).select_from(Status))
        feed = await session.scalar(
            select(func.count())
            .select_from(HomeFeedEntry)
            .where(HomeFeedEntry.account_id == follower_id)
        )
        mentions = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.account_id == mentioned_id, Notification.type == "mention")
        )
    return Progress(
        int(states.get("done", 0)),
        int(states.get("failed", 0)),
        int(states.get("pending", 0)),
        int(statuses or 0),
        int(feed or 0),
        int(mentions or 0),
    )
