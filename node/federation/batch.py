"""A run of received ``Create`` activities applied set-wise (PROTOCOL.md A3, A4).

One at a time (:func:`node.federation.handlers.on_create`), a post costs about fifteen
statements, each a hop to the driver's thread and a pass through SQLAlchemy. Here a run of
posts costs a fixed number of statements: one ``IN`` query each for the authors, the
followed authors, the mentioned accounts, blocks and the ids already stored or tombstoned,
then one multi-row INSERT each for statuses, mentions and status tags, one UPDATE linking
early replies, and one INSERT … SELECT for the home feeds. The outcome of every activity
is the one ``on_create`` would give. Only top-level posts come here; a reply needs its
parent (and its thread fetched first), so replies and every other activity stay with the
handlers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Connection,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
)

from activitypub.vocabulary import Activity, Object
from node.db.engine import AsyncSession, insert_for
from node.db.hop import in_one_hop
from node.db.models import (
    Account,
    Block,
    Follow,
    HomeFeedEntry,
    MediaAttachment,
    Mention,
    Notification,
    Status,
)
from node.federation.notes import (
    CONTENT_TYPES,
    MAX_MENTIONS,
    known_uris,
    link_children,
    status_row,
    tag_names,
)
from node.ids import new_id
from node.services.context import NodeContext
from node.services.conversations import track_direct
from node.services.events import record
from node.services.feeds import due_for_trim, trim_now
from node.services.graph import insert_ignore
from node.services.media import remote_media_rows
from node.services.tags import TagIds, link_tags

__all__ = ["apply_creates", "can_batch"]

_STORED = "stored"
_KNOWN = "ignored: already known or deleted"
_UNRELATED = "ignored: not related to anyone here"
_UNKNOWN_ACTOR = "ignored: unknown actor"


def can_batch(activity: Activity) -> bool:
    """Whether *activity* may take the set-wise path: a Create of an embedded top-level post."""
    note = activity.object
    return (
        activity.type == "Create"
        and isinstance(note, Object)
        and note.id is not None
        and note.type in CONTENT_TYPES
        and not note.in_reply_to
    )


@dataclass(frozen=True)
class _Author:
    id: int
    followers_url: str | None


@dataclass(frozen=True)
class _Mentioned:
    id: int
    local: bool


@dataclass
class _Post:
    """One post to store, with what the reads found for it."""

    note: Object
    author: _Author
    mentioned: dict[int, _Mentioned] = field(default_factory=dict)


async def _authors(session: AsyncSession, uris: set[str]) -> dict[str, _Author]:
    rows = await session.execute(_authors_query(), {"uris": list(uris)})
    return {uri: _Author(account_id, followers) for uri, account_id, followers in rows}


async def _followed(session: AsyncSession, author_ids: set[int]) -> set[int]:
    """The authors some local account follows, with the follow accepted (SECURITY.md row 10)."""
    rows = await session.execute(_followed_query(), {"ids": list(author_ids)})
    return set(rows.scalars())


async def _mentionable(session: AsyncSession, hrefs: set[str]) -> dict[str, list[_Mentioned]]:
    """Accounts by each uri and url among *hrefs* (a mention may name either)."""
    by_href: dict[str, list[_Mentioned]] = {}
    if not hrefs:
        return by_href
    listed = list(hrefs)
    rows = await session.execute(_mentionable_query(), {"uris": listed, "urls": listed})
    for account_id, uri, url, local in rows:
        found = _Mentioned(account_id, local)
        for key in {uri, url or uri} & hrefs:
            by_href.setdefault(key, []).append(found)
    return by_href


async def _blocked(session: AsyncSession, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (recipient, sender) pairs where either blocks the other."""
    if not pairs:
        return set()
    recipients, senders = {r for r, _ in pairs}, {s for _, s in pairs}
    rows = await session.execute(
        _blocked_query(),
        {"r1": list(recipients), "s1": list(senders), "r2": list(recipients), "s2": list(senders)},
    )
    found = {(a, b) for a, b in rows}
    return {(r, s) for r, s in pairs if (r, s) in found or (s, r) in found}


async def _select(
    session: AsyncSession, creates: Sequence[tuple[Activity, int | None]], outcomes: list[str]
) -> dict[int, _Post]:
    """The posts to store, by index; *outcomes* gets on_create's answer for the others."""
    authors = await _authors(session, {activity.actor for activity, _ in creates})
    posts: dict[int, _Post] = {}
    for index, (activity, _) in enumerate(creates):
        author = authors.get(activity.actor)
        if author is not None:
            assert isinstance(activity.object, Object)
            posts[index] = _Post(activity.object, author)
        else:
            outcomes[index] = _UNKNOWN_ACTOR
    unaddressed = {p.author.id for i, p in posts.items() if creates[i][1] is None}
    followed = await _followed(session, unaddressed) if unaddressed else set()
    hrefs = {m.href for p in posts.values() for m in p.note.mentions[:MAX_MENTIONS]}
    by_href = await _mentionable(session, hrefs)
    for index, post in list(posts.items()):
        for mention in post.note.mentions[:MAX_MENTIONS]:
            post.mentioned.update((m.id, m) for m in by_href.get(mention.href, ()))
        relevant = (
            creates[index][1] is not None
            or post.author.id in followed
            or any(m.local for m in post.mentioned.values())
        )
        if not relevant:  # Mastodon's rule (A3); replies never come here
            outcomes[index] = _UNRELATED
            del posts[index]
    known = await known_uris(session, {p.note.id for p in posts.values() if p.note.id})
    for index, post in list(posts.items()):
        if post.note.id in known:  # CVE-2024-37903: a known id changes nothing
            outcomes[index] = _KNOWN
            del posts[index]
        else:
            assert post.note.id is not None
            known.add(post.note.id)  # the same post twice in one run: the first one counts
    return posts


async def apply_creates(
    ctx: NodeContext,
    session: AsyncSession,
    creates: Sequence[tuple[Activity, int | None]],
    tags: TagIds,
) -> list[str]:
    """Apply (activity, recipient id) pairs that :func:`can_batch` accepted; on_create's outcomes.

    The reads and the sanitising come first, the writes last: on SQLite the write lock is
    taken at the first INSERT, so the inbox's own INSERTs wait only for the writes.
    """
    outcomes = [_STORED] * len(creates)
    if not creates:
        return outcomes
    posts = await _select(session, creates, outcomes)
    if not posts:
        return outcomes
    notices = {
        (m.id, p.author.id)
        for p in posts.values()
        for m in p.mentioned.values()
        if m.local and m.id != p.author.id
    }
    notices -= await _blocked(session, notices)
    rows: list[dict[str, Any]] = []
    mentions: list[dict[str, int]] = []
    links: list[tuple[int, str]] = []
    owners: list[dict[str, int]] = []
    notifications: list[dict[str, Any]] = []
    fanned: list[int] = []
    for post in posts.values():
        now = datetime.now(UTC)
        row = status_row(
            ctx,
            post.note,
            author_id=post.author.id,
            followers_url=post.author.followers_url,
            parent=None,
            now=now,
        )
        rows.append(row)
        status_id = row["id"]
        mentions.extend({"status_id": status_id, "account_id": m} for m in post.mentioned)
        links.extend((status_id, name) for name in tag_names(post.note))
        if row["visibility"] in {"direct", "limited"}:
            # Direct and limited posts reach the mentioned people only (as fan_out does).
            owners.extend({"account_id": m, "status_id": status_id} for m in post.mentioned)
        else:
            fanned.append(status_id)
        notifications.extend(
            {
                "id": new_id(),
                "account_id": m.id,
                "type": "mention",
                "from_account_id": post.author.id,
                "status_id": status_id,
                "created_at": now,
            }
            for m in post.mentioned.values()
            if (m.id, post.author.id) in notices
        )
    await session.execute(insert(cast(Table, Status.__table__)), rows)
    if media := remote_media_rows(rows):
        await session.execute(insert(cast(Table, MediaAttachment.__table__)), media)
    if mentions:
        await session.execute(insert(cast(Table, Mention.__table__)), mentions)
    await link_tags(session, links, tags)
    await link_children(session, [row["uri"] for row in rows])
    if fanned:
        await _fan_out(session, fanned)
        reached = set(fanned)
        due = {
            row["account_id"]
            for row in rows
            if row["id"] in reached and due_for_trim(row["id"], ctx.home_feed_size)
        }
        await _trim(session, due, ctx.home_feed_size)
    if owners:
        await session.execute(insert_ignore(session, HomeFeedEntry), owners)
        await track_direct(session, [row["id"] for row in rows if row["visibility"] == "direct"])
    if notifications:
        await session.execute(insert_ignore(session, Notification), notifications)
    for row in rows:
        record(session, "update", row["id"])
    for notice in notifications:
        record(session, "notification", notice["id"])
    return outcomes


async def _trim(session: AsyncSession, author_ids: set[int], keep: int) -> None:
    """Trim every feed the due posts reached (their authors' and their accepted followers'),
    as ``trim_feeds`` would for each author, in one hop and three statements for the batch."""
    if author_ids and keep > 0:
        await in_one_hop(session, _trim_now, sorted(author_ids), keep)


def _trim_now(connection: Connection, author_ids: list[int], keep: int) -> int:
    followers = connection.scalars(
        select(Follow.account_id)
        .distinct()
        .where(Follow.target_account_id.in_(author_ids), Follow.state == "accepted")
    )
    return trim_now(connection, author_ids[0], keep, readers=[*followers, *author_ids])


async def _fan_out(session: AsyncSession, status_ids: list[int]) -> None:
    """Home feeds of the local accepted followers of each post's author (SECURITY.md row 10)."""
    statement = _fan_out_statement(session.get_bind().dialect.name)
    await session.execute(statement, {"ids": status_ids})


# The statements of a batch, built once per process: building them per batch (ORM
# attributes, coercion of every IN value) cost more than running them.


def _in(name: str) -> BindParameter[Any]:
    return bindparam(name, expanding=True)


@functools.cache
def _authors_query() -> Select[str, int, str | None]:
    return select(Account.uri, Account.id, Account.followers_url).where(
        Account.uri.in_(_in("uris"))
    )


@functools.cache
def _followed_query() -> Select[Any]:
    return (
        select(Follow.target_account_id)
        .distinct()
        .join(Account, Account.id == Follow.account_id)
        .where(
            Follow.target_account_id.in_(_in("ids")),
            Follow.state == "accepted",
            Account.local.is_(True),
        )
    )


@functools.cache
def _mentionable_query() -> Select[int, str, str | None, bool]:
    return select(Account.id, Account.uri, Account.url, Account.local).where(
        or_(Account.uri.in_(_in("uris")), Account.url.in_(_in("urls")))
    )


@functools.cache
def _blocked_query() -> Select[int, int]:
    return select(Block.account_id, Block.target_account_id).where(
        or_(
            and_(Block.account_id.in_(_in("r1")), Block.target_account_id.in_(_in("s1"))),
            and_(Block.account_id.in_(_in("s2")), Block.target_account_id.in_(_in("r2"))),
        )
    )


@functools.cache
def _fan_out_statement(dialect: str) -> Insert:
    followers = (
        select(Follow.account_id, Status.id)
        .join(Status, Status.account_id == Follow.target_account_id)
        .join(Account, Account.id == Follow.account_id)
        .where(
            Status.id.in_(_in("ids")),
            Follow.state == "accepted",
            Account.local.is_(True),
        )
    )
    # The table, not the model: an ORM insert given parameters would be a bulk insert.
    feed = cast(Table, HomeFeedEntry.__table__)
    return (
        insert_for(dialect, feed)
        .on_conflict_do_nothing()
        .from_select(["account_id", "status_id"], followers)
    )
