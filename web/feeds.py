"""The timelines the pages show, built from the client API's own selects (no second copy).

Each is one ``queries.status_select`` paged by id (PROTOCOL.md C21, PERFORMANCE.md) and
rendered to the same Status entities the Mastodon API sends; templates read those.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select

from node.api.mastodon.access import render_statuses
from node.api.mastodon.common import Page
from node.api.mastodon.filtering import apply_filters
from node.api.mastodon.home import FastReads, core_page, feed_query
from node.api.mastodon.queries import Viewer, public_posts, read_page, status_select
from node.db.models import Status, StatusTag, Tag
from node.services.context import NodeContext
from node.services.text import normalise_tag

__all__ = ["PAGE_SIZE", "Feed", "QueryCache", "home_feed", "public_feed", "tag_feed"]

#: Posts per page of a timeline.
PAGE_SIZE = 40


class QueryCache:
    """Built timeline selects per viewer, reused across requests (hung off the web runtime).

    Building ``status_select`` (its aliases and counting subqueries) costs more than running
    it on a warm database; a ``Select`` is immutable, so a viewer's base query is built once
    and only paged per request. Bounded: the oldest entries go first.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Select[Any]] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Select[Any]]) -> Select[Any]:
        """The query for *key*, built by *build* the first time."""
        found = self._entries.get(key)
        if found is None:
            found = self._entries[key] = build()
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return found


@dataclass(frozen=True)
class Feed:
    """One page of a timeline: Status entities newest first, and the cursor of the next page."""

    statuses: list[dict[str, Any]]
    older: int | None
    newest: int | None


async def _load(
    ctx: NodeContext, viewer: Viewer | None, query: Select[Any], column: Any, page: Page
) -> Feed:
    async with ctx.sessions() as session:
        rows = await read_page(session, query, column, page, "s_id")
        entities = await render_statuses(session, ctx, viewer, rows)
        entities = await apply_filters(session, viewer, "public", entities)
    ids = [row["s_id"] for row in rows]
    older = min(ids) if len(ids) >= page.limit else None
    return Feed(entities, older, max(ids) if ids else None)


def _page(max_id: int | None, limit: int, since_id: int | None = None) -> Page:
    return Page(max_id=max_id, since_id=since_id, min_id=None, limit=limit)


async def home_feed(
    ctx: NodeContext,
    cache: QueryCache,
    viewer: Viewer,
    max_id: int | None,
    *,
    reads: FastReads | None = None,
    limit: int = PAGE_SIZE,
) -> Feed:
    """The viewer's home timeline, as ``/api/v1/timelines/home`` serves it (``home.core_page``:
    the capped fan-out feed, then older posts of the people followed; mutes, exclusive lists
    and filters applied), with the viewer's built ``feed_query`` kept in *cache*.

    On SQLite (*reads*) the page is the API's very answer: ``FastReads.page_of`` reads it
    with plain ``sqlite3`` and the Status JSON cached until the next commit, parsed here."""
    wanted = _page(max_id, limit)
    fast = None if reads is None else reads.page_of(viewer, wanted, ctx)
    if fast is not None:  # SQLite: the API's own fast path and its cached Status JSON
        body, ids = fast
        entities: list[dict[str, Any]] = json.loads(body)
    else:  # PostgreSQL, or a viewer with filters
        feed = cache.get(("home", viewer), lambda: feed_query(viewer))
        entities, ids = await core_page(ctx, viewer, wanted, feed=feed)
    older = min(ids) if len(ids) >= limit else None
    return Feed(entities, older, max(ids) if ids else None)


def _public(query: Select[Any], viewer: Viewer | None, *, local: bool) -> Select[Any]:
    """As ``/api/v1/timelines/public``: public (and local-only) posts, no boosts or replies."""
    query = public_posts(query, viewer)
    return query.where(Status.local.is_(True)) if local else query


async def public_feed(
    ctx: NodeContext, cache: QueryCache, viewer: Viewer | None, max_id: int | None, *, local: bool
) -> Feed:
    """This department's (``local``) or the whole organisation's public posts."""
    query = cache.get(
        ("public", local, viewer), lambda: _public(status_select(viewer), viewer, local=local)
    )
    return await _load(ctx, viewer, query, Status.id, _page(max_id, PAGE_SIZE))


async def tag_feed(ctx: NodeContext, viewer: Viewer | None, tag: str, max_id: int | None) -> Feed:
    """Public posts with hashtag *tag*."""
    query = (
        status_select(viewer)
        .join(StatusTag, StatusTag.status_id == Status.id)
        .join(Tag, Tag.id == StatusTag.tag_id)
        .where(Tag.name == normalise_tag(tag.lstrip("#"))[:255])
    )
    return await _load(
        ctx, viewer, _public(query, viewer, local=False), Status.id, _page(max_id, PAGE_SIZE)
    )
