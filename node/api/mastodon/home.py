"""The home timeline, the busiest read of all (PROTOCOL.md C21, C6; PERFORMANCE.md).

A page reads the fan-out table ``home_feed`` by its primary key ``(account_id,
status_id)``. Feeds are capped (``node.services.feeds``): once a page runs past the oldest
entry of a full feed, the rest of the page comes from the statuses of the people the viewer
follows (and the viewer's own), with the same visibility and mute rules.

On SQLite the whole request (token, page, flags) runs as plain ``sqlite3`` statements on
one read-only connection of this process, synchronously on the event loop: no ORM, no
thread hop per statement (aiosqlite), no pool. The SQL is the same Core ``select()`` the
other paths use (``queries.status_select``), compiled once per shape with bound
parameters, so visibility has one definition. A read in WAL mode never waits for the
writer; one page costs well under a millisecond (docs/performance.md). On PostgreSQL the
page goes through the async session as before.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp import web
from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url

from node.api.mastodon.access import context_of, render_statuses, signed_in
from node.api.mastodon.common import ApiError, Page, json_response, link_header, page
from node.api.mastodon.entities import status_entity
from node.api.mastodon.queries import Viewer, newest_first, paged, status_select, unmuted
from node.auth.scopes import implies
from node.auth.tokens import digest
from node.db.models import Follow, HomeFeedEntry, Status
from node.services.context import NodeContext
from node.services.feeds import feed_floor

__all__ = [
    "FAST_READS",
    "FastReads",
    "feed_query",
    "home_timeline",
    "older_query",
    "open_fast_reads",
]

SCOPE = "read:statuses"
_DATES = (
    "s_published_at", "s_edited_at", "a_created_at", "o_published_at", "o_edited_at",
    "oa_created_at",
)  # fmt: skip


#: ``queries.viewer_flags`` in SQL: the page's ids come as one JSON array parameter.
_FLAGS = (
    "SELECT status_id, 'f' FROM favourites WHERE account_id = ?"
    " AND status_id IN (SELECT value FROM json_each(?))"
    " UNION ALL SELECT reblog_of_id, 'r' FROM statuses WHERE account_id = ?"
    " AND reblog_of_id IN (SELECT value FROM json_each(?))"
    " UNION ALL SELECT status_id, 'b' FROM bookmarks WHERE account_id = ?"
    " AND status_id IN (SELECT value FROM json_each(?))"
    " UNION ALL SELECT status_id, 'p' FROM pins WHERE account_id = ?"
    " AND status_id IN (SELECT value FROM json_each(?))"
)


def feed_query(viewer: Viewer) -> Select[Any]:
    """The viewer's feed entries with everything a Status needs, muted people left out."""
    return (
        status_select(viewer)
        .join(
            HomeFeedEntry,
            (HomeFeedEntry.status_id == Status.id) & (HomeFeedEntry.account_id == viewer.id),
        )
        .where(unmuted(viewer))
    )


def older_query(viewer: Viewer) -> Select[Any]:
    """What a capped feed no longer holds: posts and boosts by the people the viewer follows
    (accepted) and by the viewer, as fan-out would have delivered them."""
    followed = select(Follow.target_account_id).where(
        Follow.account_id == viewer.id, Follow.state == "accepted"
    )
    return status_select(viewer).where(
        unmuted(viewer),
        or_(Status.account_id == viewer.id, Status.account_id.in_(followed)),
        Status.visibility.not_in(("direct", "limited")),
    )


def _secret(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return secret or request.query.get("access_token", "")


class FastReads:
    """One plain ``sqlite3`` connection for the home timeline of a node on SQLite."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA query_only=ON",
            "PRAGMA busy_timeout=5000",
            "PRAGMA cache_size=-65536",
            "PRAGMA mmap_size=1073741824",
            "PRAGMA temp_store=MEMORY",
        ):
            self.db.execute(pragma)
        self._dialect = SQLiteDialect_pysqlite(paramstyle="named")
        self._compiled: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _sql(
        self, kind: str, local: bool, wanted: Page, build: Callable[[Viewer], Select[Any]]
    ) -> tuple[str, dict[str, Any]]:
        """*build*'s query paged like *wanted*, compiled once per shape with named parameters."""
        shape = (kind, local, wanted.max_id is None, wanted.since_id is None, wanted.min_id is None)
        hit = self._compiled.get(shape)
        if hit is None:
            viewer_id = bindparam("viewer_id", 0, type_=Status.id.type)
            viewer = Viewer(cast(int, viewer_id), local)
            column = HomeFeedEntry.status_id if kind == "feed" else Status.id
            cursors = Page(
                max_id=None if wanted.max_id is None else cast(int, bindparam("max_id", 0)),
                since_id=None if wanted.since_id is None else cast(int, bindparam("since_id", 0)),
                min_id=None if wanted.min_id is None else cast(int, bindparam("min_id", 0)),
                limit=cast(int, bindparam("limit", 40)),
            )
            query = paged(build(viewer), column, cursors)
            compiled = query.compile(
                dialect=self._dialect, compile_kwargs={"render_postcompile": True}
            )
            hit = self._compiled[shape] = (str(compiled), dict(compiled.params))
        return hit

    def _rows(
        self, kind: str, viewer: Viewer, wanted: Page, build: Callable[[Viewer], Select[Any]]
    ) -> list[dict[str, Any]]:
        sql, defaults = self._sql(kind, viewer.local, wanted, build)
        params = {
            **defaults,
            "viewer_id": viewer.id,
            "max_id": wanted.max_id,
            "since_id": wanted.since_id,
            "min_id": wanted.min_id,
            "limit": wanted.limit,
        }
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for name in _DATES:
                value = row[name]
                if value is not None:
                    row[name] = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return newest_first(rows, wanted, "s_id")

    def viewer(self, secret: str) -> Viewer:
        """The viewer of a home timeline request: 401 without a valid user token, 403 without
        ``read:statuses`` (as ``access.signed_in``; a revoked token fails at once)."""
        if not secret:
            raise ApiError(401, "The access token is invalid")
        row = self.db.execute(
            "SELECT accounts.id, accounts.local, tokens.scopes FROM tokens"
            " JOIN accounts ON accounts.id = tokens.account_id"
            " WHERE tokens.digest = ? AND tokens.revoked_at IS NULL"
            " AND accounts.suspended_at IS NULL",
            (digest(secret),),
        ).fetchone()
        if row is None:
            raise ApiError(401, "The access token is invalid")
        if not implies(frozenset(row[2].split()), SCOPE):
            raise ApiError(403, "This action is outside the authorized scopes")
        return Viewer(int(row[0]), bool(row[1]))

    def _flags(self, viewer: Viewer, ids: Sequence[int]) -> dict[int, set[str]]:
        """``queries.viewer_flags`` for one page: favourited, reblogged, bookmarked, pinned."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        page_ids = json.dumps(unique)
        params = [viewer.id, page_ids] * 4
        flags: dict[int, set[str]] = {}
        for status_id, mark in self.db.execute(_FLAGS, params):
            flags.setdefault(status_id, set()).add(mark)
        return flags

    def _floor(self, viewer: Viewer, keep: int) -> int | None:
        """The oldest entry of *viewer*'s feed if the feed is full (so older ones were cut)."""
        if keep <= 0:
            return None
        count, oldest = self.db.execute(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM home_feed WHERE account_id = ? LIMIT ?)),"
            " (SELECT min(status_id) FROM home_feed WHERE account_id = ?)",
            (viewer.id, keep, viewer.id),
        ).fetchone()
        return int(oldest) if count >= keep else None

    def home(
        self, viewer: Viewer, wanted: Page, ctx: NodeContext
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """One page of *viewer*'s home timeline: the entities and their ids, in one read
        transaction."""
        self.db.execute("BEGIN")
        try:
            rows = self._rows("feed", viewer, wanted, feed_query)
            if len(rows) < wanted.limit and wanted.min_id is None:
                floor = self._floor(viewer, ctx.home_feed_size)
                if floor is not None:
                    more = _older_page(rows, wanted, floor)
                    rows += self._rows("older", viewer, more, older_query)
            ids = [row["s_id"] for row in rows] + [row["o_id"] for row in rows if row["o_id"]]
            flags = self._flags(viewer, ids)
        finally:
            self.db.execute("COMMIT")
        entities = [status_entity(row, ctx, flags, signed_in=True) for row in rows]
        return entities, [row["s_id"] for row in rows]


def _older_page(rows: Sequence[Any], wanted: Page, floor: int) -> Page:
    """The rest of a page that ran past a full feed: older than anything the feed holds."""
    cursor = min([floor, *(row["s_id"] for row in rows)])
    if wanted.max_id is not None:
        cursor = min(cursor, wanted.max_id)
    return Page(
        max_id=cursor, since_id=wanted.since_id, min_id=None, limit=wanted.limit - len(rows)
    )


#: The app's :class:`FastReads`; absent on PostgreSQL and SQLite in memory.
FAST_READS = web.AppKey("fast_reads", FastReads)


def open_fast_reads(database_url: str) -> FastReads | None:
    """A :class:`FastReads` for a SQLite file database; None for anything else."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in {None, "", ":memory:"}:
        return None
    return FastReads(str(url.database))


async def home_timeline(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/timelines/home``: what was fanned out to the caller, newest first."""
    ctx = context_of(request)
    reads = request.app.get(FAST_READS)
    if reads is not None:
        viewer = reads.viewer(_secret(request))
        wanted = page(request)
        entities, ids = reads.home(viewer, wanted, ctx)
        return json_response(entities, headers=link_header(request, ids))
    viewer = await signed_in(request, SCOPE)
    wanted = page(request)
    async with ctx.sessions() as session:
        query = paged(feed_query(viewer), HomeFeedEntry.status_id, wanted)
        rows = newest_first((await session.execute(query)).mappings().all(), wanted, "s_id")
        if len(rows) < wanted.limit and wanted.min_id is None:
            floor = await feed_floor(session, viewer.id, ctx.home_feed_size)
            if floor is not None:
                older = paged(older_query(viewer), Status.id, _older_page(rows, wanted, floor))
                rows += (await session.execute(older)).mappings().all()
        entities = await render_statuses(session, ctx, viewer, list(rows))
    return json_response(entities, headers=link_header(request, [row["s_id"] for row in rows]))
