"""The Core selects behind the Mastodon read paths (PERFORMANCE.md; PROTOCOL.md C6, C34, C35).

A page of statuses is one ``SELECT``: each row carries the status, its author, the boosted
original and its author, with mentions, hashtags and account counts as correlated
subqueries. The viewer's own flags (favourited, reblogged) for the whole page are one more
query. Who may see what is one SQL predicate, :func:`visible_to`, the list form of
``node.services.visibility.can_see`` (SECURITY.md rows 11–12).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast as typed

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import KeyedColumnElement

from node.api.mastodon.common import Page
from node.db.engine import AsyncSession
from node.db.models import (
    Account,
    Bookmark,
    Favourite,
    Follow,
    Mention,
    Mute,
    Pin,
    Status,
    StatusTag,
    Tag,
    ThreadMute,
)

__all__ = [
    "ORIGINAL",
    "ORIGINAL_AUTHOR",
    "Viewer",
    "account_columns",
    "account_select",
    "join_status",
    "newest_first",
    "paged",
    "public_posts",
    "read_page",
    "status_by_id",
    "status_columns",
    "status_select",
    "unmuted",
    "viewer_flags",
    "visible_to",
]

#: Separators inside aggregated strings: ASCII unit and record separators never occur in
#: user names, host names or URLs.
UNIT = "\x1f"
RECORD = "\x1e"

_ACCOUNT_FIELDS = (
    "id", "uri", "url", "username", "domain", "local", "actor_type", "display_name", "summary",
    "avatar_url", "header_url", "manually_approves_followers", "discoverable", "fields_json",
    "role", "created_at",
)  # fmt: skip
_STATUS_FIELDS = (
    "id", "uri", "url", "account_id", "local", "content", "text", "summary", "sensitive",
    "language", "visibility", "in_reply_to_id", "in_reply_to_account_id", "reblog_of_id",
    "attachments_json", "replies_count", "favourites_count", "reblogs_count", "published_at",
    "edited_at",
)  # fmt: skip

#: The boosted original of a status row, and its author.
ORIGINAL = aliased(Status, name="original")
ORIGINAL_AUTHOR = aliased(Account, name="original_author")

_PUBLICISH = ("public", "unlisted")


@dataclass(frozen=True)
class Viewer:
    """Who is reading: an account id and whether it is one of this node's people."""

    id: int
    local: bool


def account_columns(account: Any, prefix: str) -> list[KeyedColumnElement[Any]]:
    """An account's columns labelled ``prefix + name``, with its counts as subqueries (C34)."""
    columns: list[KeyedColumnElement[Any]] = [
        getattr(account, name).label(prefix + name) for name in _ACCOUNT_FIELDS
    ]
    posts = aliased(Status)
    follows = aliased(Follow)
    followed = aliased(Follow)
    columns += [
        select(func.count())
        .select_from(posts)
        .where(posts.account_id == account.id)
        .scalar_subquery()
        .label(prefix + "statuses_count"),
        # The newest id stands for the newest post's time (ids sort by time; node.ids).
        select(func.max(posts.id))
        .where(posts.account_id == account.id)
        .scalar_subquery()
        .label(prefix + "last_status_id"),
        select(func.count())
        .select_from(follows)
        .where(follows.target_account_id == account.id, follows.state == "accepted")
        .scalar_subquery()
        .label(prefix + "followers_count"),
        select(func.count())
        .select_from(followed)
        .where(followed.account_id == account.id, followed.state == "accepted")
        .scalar_subquery()
        .label(prefix + "following_count"),
    ]
    return columns


def status_columns(status: Any, prefix: str) -> list[KeyedColumnElement[Any]]:
    """A status's columns labelled ``prefix + name``, with mentions and hashtags aggregated."""
    columns: list[KeyedColumnElement[Any]] = [
        getattr(status, name).label(prefix + name) for name in _STATUS_FIELDS
    ]
    mention = aliased(Mention)
    mentioned = aliased(Account)
    status_tag = aliased(StatusTag)
    tag = aliased(Tag)
    entry = (
        cast(mentioned.id, String)
        + UNIT
        + mentioned.username
        + UNIT
        + mentioned.domain
        + UNIT
        + func.coalesce(mentioned.url, mentioned.uri)
    )
    columns += [
        select(func.aggregate_strings(entry, RECORD))
        .select_from(mention)
        .join(mentioned, mentioned.id == mention.account_id)
        .where(mention.status_id == status.id)
        .scalar_subquery()
        .label(prefix + "mentions"),
        select(func.aggregate_strings(tag.name, RECORD))
        .select_from(status_tag)
        .join(tag, tag.id == status_tag.tag_id)
        .where(status_tag.status_id == status.id)
        .scalar_subquery()
        .label(prefix + "tags"),
    ]
    return columns


@functools.cache
def _status_bundle() -> list[KeyedColumnElement[Any]]:
    # Built once: making these ~80 labelled columns and their subqueries costs milliseconds
    # of SQLAlchemy work per call, and reusing the same constructs lets SQLAlchemy reuse
    # their cache keys. The constructs are immutable; each select() only references them.
    return (
        status_columns(Status, "s_")
        + account_columns(Account, "a_")
        + status_columns(ORIGINAL, "o_")
        + account_columns(ORIGINAL_AUTHOR, "oa_")
    )


def join_status(query: Select[Any]) -> Select[Any]:
    """Join a query holding ``statuses`` to the author, the original and its author."""
    return (
        query.join(Account, Account.id == Status.account_id)
        .outerjoin(ORIGINAL, ORIGINAL.id == Status.reblog_of_id)
        .outerjoin(ORIGINAL_AUTHOR, ORIGINAL_AUTHOR.id == ORIGINAL.account_id)
    )


def status_select(viewer: Viewer | None, *extra: Any) -> Select[Any]:
    """Statuses *viewer* may see, with everything a Status entity needs (rows labelled s_/a_/o_/oa_)."""
    query = select(*_status_bundle(), *extra).select_from(Status)
    return join_status(query).where(
        visible_to(Status, viewer),
        or_(Status.reblog_of_id.is_(None), visible_to(ORIGINAL, viewer)),
    )


@functools.cache
def status_by_id(local: bool | None) -> Select[Any]:
    """:func:`status_select` for one status, with bound parameters ``status_id`` and (for a
    signed-in viewer, *local* or not) ``viewer_id``; built once per process, so SQLAlchemy
    reuses its cache key instead of walking ~80 columns on every read."""
    viewer = None
    if local is not None:
        viewer = Viewer(typed(int, bindparam("viewer_id", type_=BigInteger())), local)
    return status_select(viewer).where(Status.id == bindparam("status_id", type_=BigInteger()))


def account_select(*extra: Any) -> Select[Any]:
    """Accounts with what an Account entity needs (rows labelled a_); suspended ones left out."""
    return (
        select(*account_columns(Account, "a_"), *extra)
        .select_from(Account)
        .where(Account.suspended_at.is_(None))
    )


def visible_to(status: Any, viewer: Viewer | None) -> ColumnElement[bool]:
    """SQL for ``can_see``: public and unlisted for all; private for accepted followers and the
    mentioned; direct for the mentioned; local-only for this node's people; all for the author.
    """
    if viewer is None:
        return status.visibility.in_(_PUBLICISH)  # type: ignore[no-any-return]
    mention = aliased(Mention)
    follow = aliased(Follow)
    mentioned = exists().where(mention.status_id == status.id, mention.account_id == viewer.id)
    follows = exists().where(
        follow.account_id == viewer.id,
        follow.target_account_id == status.account_id,
        follow.state == "accepted",
    )
    return or_(
        status.account_id == viewer.id,
        status.visibility.in_(_PUBLICISH),
        status.visibility == "local" if viewer.local else false(),
        and_(status.visibility.in_(("private", "direct", "limited")), mentioned),
        and_(status.visibility == "private", follows),
    )


def unmuted(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: neither the status's author nor a boosted original's author is muted by *viewer* (C19)."""
    mute = aliased(Mute)
    return ~exists().where(
        mute.account_id == viewer.id,
        mute.target_account_id.in_((Status.account_id, func.coalesce(ORIGINAL.account_id, 0))),
    )


def public_posts(query: Select[Any], viewer: Viewer | None) -> Select[Any]:
    """*query* kept to the public timelines' posts: public ones (and local-only ones for this
    node's people), as in Mastodon without boosts and replies to others."""
    shown = ["public", "local"] if viewer is not None and viewer.local else ["public"]
    return query.where(
        Status.visibility.in_(shown),
        Status.reblog_of_id.is_(None),
        or_(
            Status.in_reply_to_account_id.is_(None),
            Status.in_reply_to_account_id == Status.account_id,
        ),
    )


def paged(query: Select[Any], column: Any, page: Page) -> Select[Any]:
    """Apply ``max_id``/``since_id``/``min_id``/``limit`` on *column* (C6).

    ``min_id`` pages forward from the cursor: the oldest rows after it, which the caller
    returns newest first (:func:`newest_first`).
    """
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        return query.where(column > page.min_id).order_by(column.asc()).limit(page.limit)
    return query.order_by(column.desc()).limit(page.limit)


def newest_first(rows: Sequence[Any], page: Page, key: str) -> list[Any]:
    """Rows of a :func:`paged` query, newest first whichever way they were fetched."""
    if page.min_id is not None:
        return sorted(rows, key=lambda row: row[key], reverse=True)
    return list(rows)


async def read_page(
    session: AsyncSession, query: Select[Any], column: Any, page: Page, key: str
) -> list[Any]:
    """One :func:`paged` page of *query*'s rows (mappings) by *column*, newest first by *key*."""
    rows = (await session.execute(paged(query, column, page))).mappings().all()
    return newest_first(rows, page, key)


@functools.cache
def _flags_query() -> CompoundSelect[Any]:
    """The union behind :func:`viewer_flags`, built once (parameters ``viewer_id``, ``ids``)."""
    viewer = bindparam("viewer_id", type_=BigInteger())
    ids = bindparam("ids", expanding=True, type_=BigInteger())
    boosts = aliased(Status)
    muted = aliased(Status)
    return union_all(
        select(Favourite.status_id.label("status_id"), literal("f").label("flag")).where(
            Favourite.account_id == viewer, Favourite.status_id.in_(ids)
        ),
        select(boosts.reblog_of_id.label("status_id"), literal("r").label("flag")).where(
            boosts.account_id == viewer, boosts.reblog_of_id.in_(ids)
        ),
        select(Bookmark.status_id, literal("b")).where(
            Bookmark.account_id == viewer, Bookmark.status_id.in_(ids)
        ),
        select(Pin.status_id, literal("p")).where(Pin.account_id == viewer, Pin.status_id.in_(ids)),
        # A muted thread (``muting``): the status's thread is one the viewer muted.
        select(muted.id, literal("m"))
        .join(
            ThreadMute,
            (ThreadMute.account_id == viewer)
            & (ThreadMute.context == func.coalesce(muted.context, muted.uri)),
        )
        .where(muted.id.in_(ids)),
    )


async def viewer_flags(
    session: AsyncSession, viewer: Viewer | None, status_ids: Iterable[int]
) -> dict[int, set[str]]:
    """Which of *status_ids* the viewer favourited (``f``), boosted (``r``), bookmarked (``b``),
    pinned (``p``) or whose thread they muted (``m``): one query."""
    ids = list({i for i in status_ids if i is not None})
    if viewer is None or not ids:
        return {}
    flags: dict[int, set[str]] = {}
    values = {"viewer_id": viewer.id, "ids": ids}
    for status_id, flag in (await session.execute(_flags_query(), values)).all():
        flags.setdefault(status_id, set()).add(flag)
    return flags
