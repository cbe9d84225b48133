"""Filters the v1 way (``/api/v1/filters``), for old clients: one keyword of a v2 filter each.

As in Mastodon, a v1 filter's id is its keyword's; creating one makes a v2 filter titled by
the phrase, ``irreversible`` meaning ``hide``. The same ownership (404) and validation
(422, nothing changed) as ``filters`` apply.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import delete

from node.api.mastodon.access import context_of, flag, path_id, signed_in
from node.api.mastodon.common import ApiRoutes, datetime_json, json_response, params
from node.api.mastodon.filtering import ActiveFilter, load_filters
from node.api.mastodon.filters import (
    add_filter,
    contexts_param,
    expiry_param,
    keyword_text,
    owned_filter,
    owned_keyword,
)
from node.db.models import Filter, FilterKeyword
from node.ids import new_id

__all__ = ["routes"]

routes = ApiRoutes()


def _v1(active: ActiveFilter, keyword: FilterKeyword) -> dict[str, Any]:
    """A v1 Filter: one per keyword, as Mastodon shows v2 filters to old clients."""
    return {
        "id": str(keyword.id),
        "phrase": keyword.keyword,
        "context": active.contexts,
        "whole_word": keyword.whole_word,
        "expires_at": datetime_json(active.row.expires_at),
        "irreversible": active.row.action == "hide",
    }


@routes.get("/api/v1/filters")
async def v1_filters(request: web.Request) -> web.StreamResponse:
    """The caller's filter keywords in the v1 form (old clients)."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        found = await load_filters(session, viewer.id)
    return json_response([_v1(f, k) for f in found for k in f.keywords])


@routes.get("/api/v1/filters/{id}")
async def v1_filter(request: web.Request) -> web.StreamResponse:
    """One filter keyword in the v1 form."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        keyword = await owned_keyword(session, path_id(request), viewer)
        active = await owned_filter(session, keyword.filter_id, viewer)
    return json_response(_v1(active, keyword))


@routes.post("/api/v1/filters")
async def v1_create(request: web.Request) -> web.StreamResponse:
    """Make a one-keyword filter the v1 way: ``phrase``, ``context[]``, ``irreversible``
    (``hide``), ``whole_word``, ``expires_in``."""
    viewer = await signed_in(request, "write:filters")
    values = await params(request)
    phrase = keyword_text(values.get("phrase"))
    contexts = contexts_param(values)
    action = "hide" if flag(values.get("irreversible"), "irreversible") else "warn"
    whole = values.get("whole_word")
    expires_at = expiry_param(values.get("expires_in"))
    async with context_of(request).sessions() as session, session.begin():
        made = await add_filter(session, viewer, phrase, contexts, action, expires_at)
        keyword = FilterKeyword(
            id=new_id(),
            filter_id=made.id,
            keyword=phrase,
            whole_word=True if whole is None else flag(whole, "whole_word"),
        )
        session.add(keyword)
        answer = _v1(ActiveFilter(made, [keyword]), keyword)
    return json_response(answer)


@routes.put("/api/v1/filters/{id}")
async def v1_update(request: web.Request) -> web.StreamResponse:
    """Change a v1 filter: the keyword's phrase and ``whole_word``, its filter's contexts,
    action and expiry."""
    viewer = await signed_in(request, "write:filters")
    values = await params(request)
    async with context_of(request).sessions() as session, session.begin():
        keyword = await owned_keyword(session, path_id(request), viewer)
        active = await owned_filter(session, keyword.filter_id, viewer)
        row = active.row
        phrase = keyword_text(values["phrase"]) if "phrase" in values else keyword.keyword
        sent = "context[]" in values or "context" in values
        contexts = contexts_param(values) if sent else row.contexts
        raw = values.get("irreversible")
        action = row.action if raw is None else ("hide" if flag(raw, "irreversible") else "warn")
        whole = values.get("whole_word")
        whole_word = keyword.whole_word if whole is None else flag(whole, "whole_word")
        expires_at = (
            expiry_param(values["expires_in"]) if "expires_in" in values else row.expires_at
        )
        keyword.keyword, keyword.whole_word = phrase, whole_word
        row.contexts, row.action, row.expires_at = contexts, action, expires_at
        answer = _v1(active, keyword)
    return json_response(answer)


@routes.delete("/api/v1/filters/{id}")
async def v1_delete(request: web.Request) -> web.StreamResponse:
    """Delete a v1 filter: its keyword, and its filter when nothing else is left in it."""
    viewer = await signed_in(request, "write:filters")
    async with context_of(request).sessions() as session, session.begin():
        keyword = await owned_keyword(session, path_id(request), viewer)
        active = await owned_filter(session, keyword.filter_id, viewer)
        await session.delete(keyword)
        if len(active.keywords) == 1 and not active.statuses:
            await session.execute(delete(Filter).where(Filter.id == active.row.id))
    return json_response({})
