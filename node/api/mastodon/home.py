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
from sqlalchemy import Select, bindparam, column, func, literal, select, union_all
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from node.api.mastodon.access import context_of, render_statuses, signed_in
from node.api.mastodon.common import ApiError, Page, json_response, link_header, page
from node.api.mastodon.entities import status_entity
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.lists import exclusive_hidden
from node.api.mastodon.queries import (
    Viewer,
    account_columns,
    paged,
    read_page,
    status_columns,
    status_select,
    unmuted,
)
from node.auth.scopes import implies
from node.auth.tokens import digest
from node.db.models import Account, Follow, HomeFeedEntry, Status, UTCDateTime
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
    " UNION ALL SELECT s.id, 'm' FROM statuses AS s JOIN thread_mutes AS t"
    " ON t.context = coalesce(s.context, s.uri) WHERE t.account_id = ?"
    " AND s.id IN (SELECT value FROM json_each(?))"
)


#: How many of the followed people's newest posts below the cursor a page past the feed
#: looks at before the visibility and mute checks (so those run for a few rows, not all).
OLDER_SCAN = 100


def feed_query(viewer: Viewer, _wanted: Page | None = None) -> Select[Any]:
    """The viewer's feed entries with everything a Status needs, muted people and members
    of the viewer's exclusive lists left out."""
    return (
        status_select(viewer)
        .join(
            HomeFeedEntry,
            (HomeFeedEntry.status_id == Status.id) & (HomeFeedEntry.account_id == viewer.id),
        )
        .where(unmuted(viewer), exclusive_hidden(viewer))
    )


def older_query(viewer: Viewer, wanted: Page) -> Select[Any]:
    """What a capped feed no longer holds: posts and boosts by the people the viewer follows
    (accepted) and by the viewer, as fan-out would have delivered them.

    The newest :data:`OLDER_SCAN` candidates below the cursor come from the index on
    ``(account_id, id)`` first; only they are checked for visibility and mutes (a page
    with many muted or invisible candidates may come back short).
    """
    post = aliased(Status)
    me: Any = viewer.id  # an int, or a bound parameter when compiled once (FastReads)
    authors = union_all(
        select((me if isinstance(me, BindParameter) else literal(me)).label("id")),
        select(Follow.target_account_id).where(
            Follow.account_id == viewer.id, Follow.state == "accepted"
        ),
    )
    candidates = paged(
        select(post.id).where(
            post.account_id.in_(authors), post.visibility.not_in(("direct", "limited"))
        ),
        post.id,
        Page(max_id=wanted.max_id, since_id=wanted.since_id, min_id=None, limit=OLDER_SCAN),
    )
    return status_select(viewer).where(
        unmuted(viewer), exclusive_hidden(viewer), Status.id.in_(candidates)
    )


def _secret(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return secret or request.query.get("access_token", "")


class FastReads:
    """One plain ``sqlite3`` connection for the home timeline of a node on SQLite.

    Each status's JSON, without the viewer's flags, is kept between requests as a string
    and the flags are appended per viewer. The cache is dropped whenever anything was
    committed to the database since the last request (``PRAGMA data_version``, checked
    inside the read transaction), so edits, deletes, counts and profile changes show at
    once; a node that reads far more than it writes reuses the strings.
    """

    #: Cached statuses before the cache is started afresh.
    CACHE_LIMIT = 50_000

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
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._version = -1
        #: Status id → its JSON without flags and ``reblog``, the closing brace left off.
        self._json: dict[int, str] = {}
        #: Account id → its row (``a_`` columns with the counts), for rendering statuses.
        self._accounts: dict[int, dict[str, Any]] = {}
        self.hits = 0
        self.misses = 0

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _sql(
        self, kind: str, local: bool, wanted: Page, build: Callable[[Viewer, Page], Select[Any]]
    ) -> tuple[str, dict[str, Any]]:
        """*build*'s ids paged like *wanted*, compiled once per shape with named parameters."""
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
            query = paged(build(viewer, cursors), column, cursors).with_only_columns(
                Status.id.label("s_id"), Status.reblog_of_id.label("o_id")
            )
            compiled = query.compile(
                dialect=self._dialect, compile_kwargs={"render_postcompile": True}
            )
            hit = self._compiled[shape] = (str(compiled), dict(compiled.params))
        return hit

    def _ids(
        self, kind: str, viewer: Viewer, wanted: Page, build: Callable[[Viewer, Page], Select[Any]]
    ) -> list[tuple[int, int | None]]:
        """(status id, boosted id) of one page, newest first."""
        sql, defaults = self._sql(kind, viewer.local, wanted, build)
        params = {
            **defaults,
            "viewer_id": viewer.id,
            "max_id": wanted.max_id,
            "since_id": wanted.since_id,
            "min_id": wanted.min_id,
            "limit": wanted.limit,
        }
        rows: list[tuple[int, int | None]] = self.db.execute(sql, params).fetchall()
        if wanted.min_id is not None:
            rows.sort(reverse=True)
        return rows

    def _viewer(self, secret: str) -> Viewer:
        """401 without a valid user token, 403 without ``read:statuses`` (as
        ``access.signed_in``; a revoked token fails at once)."""
        if not secret:
            raise ApiError(401, "The access token is invalid")
        row = self.db.execute(_GRANT_SQL, (digest(secret),)).fetchone()
        if row is None:
            raise ApiError(401, "The access token is invalid")
        if not implies(frozenset(row[2].split()), SCOPE):
            raise ApiError(403, "This action is outside the authorized scopes")
        return Viewer(int(row[0]), bool(row[1]))

    def _flags(self, viewer: Viewer, ids: Sequence[int]) -> dict[int, str]:
        """``queries.viewer_flags`` for one page, as the JSON each status ends with."""
        params = [viewer.id, json.dumps(list(ids))] * 5
        found: dict[int, str] = {}
        for status_id, mark in self.db.execute(_FLAGS, params):
            found[status_id] = found.get(status_id, "") + mark
        return {i: _flag_json(found[i]) for i in found}

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

    def _select(
        self, key: str, query: Callable[[], Select[Any]], ids: list[int]
    ) -> list[dict[str, Any]]:
        """Rows of *query* (built and compiled once under *key*) for *ids*, with datetimes."""
        sql = self._compiled.get((key,))
        if sql is None:
            compiled = query().compile(
                dialect=self._dialect, compile_kwargs={"render_postcompile": True}
            )
            sql = self._compiled[(key,)] = (str(compiled), dict(compiled.params))
        cursor = self.db.execute(sql[0], {**sql[1], "ids": json.dumps(ids)})
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        for row in rows:
            for name in _DATES:
                if row.get(name) is not None:
                    row[name] = datetime.fromisoformat(row[name]).replace(tzinfo=UTC)
        return rows

    def _fill(self, ids: list[int], ctx: NodeContext) -> None:
        """Render the statuses of *ids* that are not cached: one query for the statuses, one
        for the authors not cached yet (an author's counts are the costly part)."""
        missing = [i for i in ids if i not in self._json]
        self.hits += len(ids) - len(missing)
        if not missing:
            return
        self.misses += len(missing)
        if len(self._json) + len(missing) > self.CACHE_LIMIT:
            self._json.clear()
            self._accounts.clear()
        rows = self._select(
            "statuses",
            lambda: select(*status_columns(Status, "s_")).where(Status.id.in_(_page_ids())),
            missing,
        )
        authors = list({row["s_account_id"] for row in rows} - self._accounts.keys())
        if authors:
            found = self._select(
                "accounts",
                lambda: select(*account_columns(Account, "a_")).where(Account.id.in_(_page_ids())),
                authors,
            )
            self._accounts.update((row["a_id"], row) for row in found)
        for row in rows:
            row.update(self._accounts[row["s_account_id"]])
            row["o_id"] = None
            entity = status_entity(row, ctx, {}, signed_in=False)
            del entity["reblog"]
            self._json[row["s_id"]] = _dumps(entity)[:-1]

    def status(self, viewer: Viewer, status_id: int, ctx: NodeContext) -> str | None:
        """The Status JSON of one post (not a boost) that *viewer* is known to see, as
        ``access.status_json`` gives it (the answer to ``POST /api/v1/statuses``); None if
        it is not there."""
        self.db.execute("BEGIN")
        try:
            (version,) = self.db.execute("PRAGMA data_version").fetchone()
            if version != self._version:
                self._json.clear()
                self._accounts.clear()
                self._version = version
            self._fill([status_id], ctx)
            if status_id not in self._json:
                return None
            flags = self._flags(viewer, [status_id])
        finally:
            self.db.execute("COMMIT")
        return self._json[status_id] + flags.get(status_id, _NO_FLAGS)

    def page(
        self, secret: str, wanted: Callable[[], Page], ctx: NodeContext
    ) -> tuple[str, list[int]] | None:
        """One page of the home timeline of the token *secret*: its JSON and its ids, read in
        one transaction; None for a viewer with filters (the session path applies them)."""
        return self._page(lambda: self._viewer(secret), wanted, ctx)

    def page_of(
        self, viewer: Viewer, wanted: Page, ctx: NodeContext
    ) -> tuple[str, list[int]] | None:
        """As :meth:`page`, for a *viewer* already known to be signed in (the web pages'
        browser session, checked by ``node.services.web_sessions``), not a bearer token."""
        return self._page(lambda: viewer, lambda: wanted, ctx)

    def rows(
        self, key: str, build: Callable[[], Select[Any]], **params: Any
    ) -> list[dict[str, Any]]:
        """The rows of the Core select *build* (compiled once under *key*) with *params*
        bound, timestamps read back as aware datetimes, as the async session gives them."""
        sql = self._compiled.get(("rows", key))
        if sql is None:
            query = build()
            compiled = query.compile(
                dialect=self._dialect, compile_kwargs={"render_postcompile": True}
            )
            dates = [c.key for c in query.selected_columns if isinstance(c.type, UTCDateTime)]
            sql = self._compiled[("rows", key)] = (str(compiled), dict(compiled.params), dates)
        cursor = self.db.execute(sql[0], {**sql[1], **params})
        names = [d[0] for d in cursor.description]
        found = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        for row in found:
            for name in sql[2]:
                if row[name] is not None:
                    row[name] = datetime.fromisoformat(row[name]).replace(tzinfo=UTC)
        return found

    def _page(
        self, who: Callable[[], Viewer], wanted: Callable[[], Page], ctx: NodeContext
    ) -> tuple[str, list[int]] | None:
        """One page of *who*'s home timeline, read in one transaction (see :meth:`page`)."""
        self.db.execute("BEGIN")
        try:
            viewer = who()
            if self.db.execute(_HAS_FILTERS, (viewer.id,)).fetchone() is not None:
                return None
            (version,) = self.db.execute("PRAGMA data_version").fetchone()
            if version != self._version:
                self._json.clear()
                self._accounts.clear()
                self._version = version
            want = wanted()
            rows = self._ids("feed", viewer, want, feed_query)
            if len(rows) < want.limit and want.min_id is None:
                floor = self._floor(viewer, ctx.home_feed_size)
                if floor is not None:
                    cursor = min([floor, *(r[0] for r in rows)])
                    more = _older_page(cursor, want, len(rows))
                    rows += self._ids("older", viewer, more, older_query)
            ids = [r[0] for r in rows] + [r[1] for r in rows if r[1] is not None]
            self._fill(ids, ctx)
            flags = self._flags(viewer, ids)
        finally:
            self.db.execute("COMMIT")
        cache = self._json
        parts = []
        for status_id, original in rows:
            if original is None:
                parts.append(cache[status_id] + flags.get(status_id, _NO_FLAGS))
            else:
                own = flags.get(original, _NO_FLAGS)
                parts.append(
                    f'{cache[status_id]},"reblog":{cache[original]}{own}{own[len(_NULL_REBLOG) :]}'
                )
        return "[" + ",".join(parts) + "]", [r[0] for r in rows]


def _older_page(cursor: int, wanted: Page, found: int) -> Page:
    """The rest of a page that ran past a full feed: older than anything the feed holds."""
    if wanted.max_id is not None:
        cursor = min(cursor, wanted.max_id)
    return Page(max_id=cursor, since_id=wanted.since_id, min_id=None, limit=wanted.limit - found)


def _page_ids() -> Select[Any]:
    """The ids of one page, passed as one JSON array parameter ``ids``."""
    return select(column("value")).select_from(func.json_each(bindparam("ids", "[]")))


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


_NULL_REBLOG = ',"reblog":null'


def _flag_json(marks: str) -> str:
    """The end of a Status for a viewer: ``reblog`` (null) and the viewer's flags (C35)."""
    return (
        f'{_NULL_REBLOG},"favourited":{_dumps("f" in marks)},"reblogged":{_dumps("r" in marks)},'
        f'"bookmarked":{_dumps("b" in marks)},"muted":{_dumps("m" in marks)},'
        f'"pinned":{_dumps("p" in marks)},'
        '"filtered":[]}'
    )


_NO_FLAGS = _flag_json("")
_HAS_FILTERS = "SELECT 1 FROM filters WHERE account_id = ? LIMIT 1"
_GRANT_SQL = (
    "SELECT accounts.id, accounts.local, tokens.scopes FROM tokens"
    " JOIN accounts ON accounts.id = tokens.account_id"
    " WHERE tokens.digest = ? AND tokens.revoked_at IS NULL AND accounts.suspended_at IS NULL"
)


#: The app's :class:`FastReads`; absent on PostgreSQL and SQLite in memory.
FAST_READS = web.AppKey("fast_reads", FastReads)


def open_fast_reads(database_url: str) -> FastReads | None:
    """A :class:`FastReads` for a SQLite file database; None for anything else."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in {None, "", ":memory:"}:
        return None
    return FastReads(str(url.database))


async def core_page(
    ctx: NodeContext, viewer: Viewer, wanted: Page, *, feed: Select[Any] | None = None
) -> tuple[list[dict[str, Any]], list[int]]:
    """One page through the async session (PostgreSQL; the reference for the SQLite path).

    *feed* is ``feed_query(viewer)`` built earlier (the web pages keep one per viewer:
    building it costs more than running it)."""
    async with ctx.sessions() as session:
        base = feed if feed is not None else feed_query(viewer)
        rows = await read_page(session, base, HomeFeedEntry.status_id, wanted, "s_id")
        if len(rows) < wanted.limit and wanted.min_id is None:
            floor = await feed_floor(session, viewer.id, ctx.home_feed_size)
            if floor is not None:
                cursor = min([floor, *(row["s_id"] for row in rows)])
                more = _older_page(cursor, wanted, len(rows))
                older = paged(older_query(viewer, more), Status.id, more)
                rows += (await session.execute(older)).mappings().all()
        entities = await render_statuses(session, ctx, viewer, list(rows))
        entities = await apply_filters(session, viewer, "home", entities)
    return entities, [row["s_id"] for row in rows]


async def home_timeline(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/timelines/home``: what was fanned out to the caller, newest first."""
    ctx = context_of(request)
    reads = request.app.get(FAST_READS)
    fast = None if reads is None else reads.page(_secret(request), lambda: page(request), ctx)
    if fast is not None:
        body, ids = fast
        return web.Response(
            body=body.encode(),
            content_type="application/json",
            charset="utf-8",
            headers=link_header(request, ids),
        )
    viewer = await signed_in(request, SCOPE)
    entities, ids = await core_page(ctx, viewer, page(request))
    return json_response(entities, headers=link_header(request, ids))
