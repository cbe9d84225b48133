"""Filters: ``/api/v2/filters`` with keywords and statuses (``filters_v1`` for old clients).

Every filter, keyword and filtered status belongs to one person: another person's is 404.
Bad parameters answer 422 and change nothing (each write is one transaction, validated
first). Titles and keywords have a maximum length and their number a cap (Mastodon
CVE-2026-23963, SECURITY.md row 17). How filters apply is ``node.api.mastodon.filtering``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import delete, func, select

from node.api.mastodon.access import context_of, flag, path_id, signed_in, visible_status
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, params
from node.api.mastodon.filtering import (
    CONTEXTS,
    ActiveFilter,
    filter_entity,
    keyword_entity,
    load_filters,
)
from node.api.mastodon.queries import Viewer
from node.db.engine import AsyncSession
from node.db.models import Filter, FilterKeyword, FilterStatus
from node.ids import new_id

__all__ = [
    "MAX_FILTERS",
    "MAX_KEYWORDS",
    "add_filter",
    "contexts_param",
    "expiry_param",
    "keyword_text",
    "owned_filter",
    "owned_keyword",
    "routes",
]

routes = ApiRoutes()

MAX_FILTERS = 100
MAX_KEYWORDS = 100
MAX_TEXT = 255
_ACTIONS = ("warn", "hide")
_MAX_EXPIRY = 10 * 365 * 86400
_NESTED = re.compile(r"^keywords_attributes\[(\d*)\]\[(\w+)\]$")


def _title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "Validation failed: Title can't be blank")
    if len(value) > MAX_TEXT:
        raise ApiError(422, f"Validation failed: Title is longer than {MAX_TEXT} characters")
    return value.strip()


def contexts_param(values: Any) -> str:
    chosen = values.getall("context[]", []) + values.getall("context", [])
    if not chosen:
        raise ApiError(422, "Validation failed: Context can't be blank")
    wrong = [c for c in chosen if c not in CONTEXTS]
    if wrong:
        raise ApiError(422, f"Validation failed: Context must be among {', '.join(CONTEXTS)}")
    return ",".join(dict.fromkeys(chosen))


def _action(value: Any) -> str:
    if value not in _ACTIONS:
        raise ApiError(422, "filter_action must be warn or hide")
    return str(value)


def expiry_param(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not text.isdigit() or not 0 < int(text) <= _MAX_EXPIRY:
        raise ApiError(422, "expires_in must be a number of seconds")
    return datetime.now(UTC) + timedelta(seconds=int(text))


def keyword_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "Validation failed: Keyword can't be blank")
    if len(value) > MAX_TEXT:
        raise ApiError(422, f"Validation failed: Keyword is longer than {MAX_TEXT} characters")
    return value.strip()


def _nested(values: Any) -> list[dict[str, str]]:
    """``keywords_attributes[][keyword]`` (JSON or form) or ``…[0][keyword]`` as a list."""
    items: list[dict[str, str]] = []
    indexed: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        match = _NESTED.match(key)
        if match is None:
            continue
        index, name = match.groups()
        if index:
            indexed.setdefault(index, {})[name] = value
        elif not items or name in items[-1]:
            items.append({name: value})
        else:
            items[-1][name] = value
    return items + [indexed[k] for k in sorted(indexed, key=int)]


async def owned_filter(session: AsyncSession, filter_id: int, viewer: Viewer) -> ActiveFilter:
    found = await load_filters(session, viewer.id, filter_id=filter_id)
    if not found:
        raise ApiError(404, "Record not found")
    return found[0]


async def owned_keyword(session: AsyncSession, keyword_id: int, viewer: Viewer) -> FilterKeyword:
    row = await session.scalar(
        select(FilterKeyword)
        .join(Filter, Filter.id == FilterKeyword.filter_id)
        .where(FilterKeyword.id == keyword_id, Filter.account_id == viewer.id)
    )
    if row is None:
        raise ApiError(404, "Record not found")
    return row


async def _status_row(session: AsyncSession, row_id: int, viewer: Viewer) -> FilterStatus:
    row = await session.scalar(
        select(FilterStatus)
        .join(Filter, Filter.id == FilterStatus.filter_id)
        .where(FilterStatus.id == row_id, Filter.account_id == viewer.id)
    )
    if row is None:
        raise ApiError(404, "Record not found")
    return row


async def _keyword_count(session: AsyncSession, filter_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(FilterKeyword)
            .where(FilterKeyword.filter_id == filter_id)
        )
        or 0
    )


async def _apply_keywords(
    session: AsyncSession, filter_id: int, items: list[dict[str, str]]
) -> None:
    """Add, change or (``_destroy``) remove keywords, validated before any write."""
    plans: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        raw_id = item.get("id")
        if raw_id:
            if not raw_id.isdigit() or len(raw_id) > 19:
                raise ApiError(404, "Record not found")
            row = await session.get(FilterKeyword, int(raw_id))
            if row is None or row.filter_id != filter_id:
                raise ApiError(404, "Record not found")
            if flag(item.get("_destroy"), "_destroy"):
                plans.append(("delete", {"row": row}))
                continue
            changes: dict[str, Any] = {"row": row}
            if "keyword" in item:
                changes["keyword"] = keyword_text(item["keyword"])
            if "whole_word" in item:
                changes["whole_word"] = flag(item["whole_word"], "whole_word")
            plans.append(("update", changes))
        else:
            whole = item.get("whole_word")
            plans.append(
                (
                    "add",
                    {
                        "keyword": keyword_text(item.get("keyword")),
                        "whole_word": True if whole is None else flag(whole, "whole_word"),
                    },
                )
            )
    added = sum(1 for kind, _ in plans if kind == "add")
    if added and await _keyword_count(session, filter_id) + added > MAX_KEYWORDS:
        raise ApiError(422, f"A filter may have at most {MAX_KEYWORDS} keywords")
    for kind, plan in plans:
        if kind == "delete":
            await session.delete(plan["row"])
        elif kind == "update":
            row = plan.pop("row")
            for name, value in plan.items():
                setattr(row, name, value)
        else:
            session.add(FilterKeyword(id=new_id(), filter_id=filter_id, **plan))


@routes.get("/api/v2/filters")
async def all_filters(request: web.Request) -> web.StreamResponse:
    """The caller's filters with their keywords and statuses."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        return json_response([filter_entity(f) for f in await load_filters(session, viewer.id)])


async def add_filter(
    session: AsyncSession,
    viewer: Viewer,
    title: str,
    contexts: str,
    action: str,
    expires_at: datetime | None,
) -> Filter:
    """Store a new filter of *viewer* (flushed, so it has its id), or 422 when they already
    have :data:`MAX_FILTERS`; for the v2 and the v1 API alike."""
    count = await session.scalar(
        select(func.count()).select_from(Filter).where(Filter.account_id == viewer.id)
    )
    if (count or 0) >= MAX_FILTERS:
        raise ApiError(422, f"You can have at most {MAX_FILTERS} filters")
    made = Filter(
        id=new_id(),
        account_id=viewer.id,
        title=title,
        contexts=contexts,
        action=action,
        expires_at=expires_at,
        created_at=datetime.now(UTC),
    )
    session.add(made)
    await session.flush()
    return made


@routes.post("/api/v2/filters")
async def create_filter(request: web.Request) -> web.StreamResponse:
    """Make a filter: ``title``, ``context[]``, ``filter_action``, ``expires_in``, keywords."""
    viewer = await signed_in(request, "write:filters")
    values = await params(request)
    title = _title(values.get("title"))
    contexts = contexts_param(values)
    action = _action(values.get("filter_action") or "warn")
    expires_at = expiry_param(values.get("expires_in"))
    items = _nested(values)
    if len(items) > MAX_KEYWORDS:
        raise ApiError(422, f"A filter may have at most {MAX_KEYWORDS} keywords")
    async with context_of(request).sessions() as session, session.begin():
        made = await add_filter(session, viewer, title, contexts, action, expires_at)
        await _apply_keywords(session, made.id, items)
    async with context_of(request).sessions() as session:
        return json_response(filter_entity(await owned_filter(session, made.id, viewer)))


@routes.get("/api/v2/filters/{id}")
async def show_filter(request: web.Request) -> web.StreamResponse:
    """One of the caller's filters."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        return json_response(filter_entity(await owned_filter(session, path_id(request), viewer)))


@routes.put("/api/v2/filters/{id}")
async def update_filter(request: web.Request) -> web.StreamResponse:
    """Change a filter; only the parameters sent change."""
    viewer = await signed_in(request, "write:filters")
    values = await params(request)
    filter_id = path_id(request)
    async with context_of(request).sessions() as session, session.begin():
        row = (await owned_filter(session, filter_id, viewer)).row
        title = _title(values["title"]) if "title" in values else row.title
        sent = "context[]" in values or "context" in values
        contexts = contexts_param(values) if sent else row.contexts
        action = _action(values["filter_action"]) if "filter_action" in values else row.action
        expires_at = (
            expiry_param(values["expires_in"]) if "expires_in" in values else row.expires_at
        )
        await _apply_keywords(session, filter_id, _nested(values))
        row.title, row.contexts, row.action, row.expires_at = title, contexts, action, expires_at
    async with context_of(request).sessions() as session:
        return json_response(filter_entity(await owned_filter(session, filter_id, viewer)))


@routes.delete("/api/v2/filters/{id}")
async def delete_filter(request: web.Request) -> web.StreamResponse:
    """Delete a filter with its keywords and statuses."""
    viewer = await signed_in(request, "write:filters")
    async with context_of(request).sessions() as session, session.begin():
        row = (await owned_filter(session, path_id(request), viewer)).row
        await session.execute(delete(Filter).where(Filter.id == row.id))
    return json_response({})


@routes.get("/api/v2/filters/{id}/keywords")
async def filter_keywords(request: web.Request) -> web.StreamResponse:
    """A filter's keywords."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        active = await owned_filter(session, path_id(request), viewer)
    return json_response([keyword_entity(k) for k in active.keywords])


@routes.post("/api/v2/filters/{id}/keywords")
async def addkeyword_text(request: web.Request) -> web.StreamResponse:
    """Add a keyword (``keyword``, ``whole_word``) to a filter."""
    viewer = await signed_in(request, "write:filters")
    values = await params(request)
    whole = values.get("whole_word")
    async with context_of(request).sessions() as session, session.begin():
        active = await owned_filter(session, path_id(request), viewer)
        keyword = keyword_text(values.get("keyword"))
        if len(active.keywords) >= MAX_KEYWORDS:
            raise ApiError(422, f"A filter may have at most {MAX_KEYWORDS} keywords")
        row = FilterKeyword(
            id=new_id(),
            filter_id=active.row.id,
            keyword=keyword,
            whole_word=True if whole is None else flag(whole, "whole_word"),
        )
        session.add(row)
    return json_response(keyword_entity(row))


@routes.get("/api/v2/filters/keywords/{id}")
async def showkeyword_text(request: web.Request) -> web.StreamResponse:
    """One keyword of one of the caller's filters."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        return json_response(keyword_entity(await owned_keyword(session, path_id(request), viewer)))


@routes.put("/api/v2/filters/keywords/{id}")
async def updatekeyword_text(request: web.Request) -> web.StreamResponse:
    """Change a keyword's text or ``whole_word``."""
    viewer = await signed_in(request, "write:filters")
    values = await params(request)
    async with context_of(request).sessions() as session, session.begin():
        row = await owned_keyword(session, path_id(request), viewer)
        keyword = keyword_text(values["keyword"]) if "keyword" in values else row.keyword
        whole = values.get("whole_word")
        row.whole_word = row.whole_word if whole is None else flag(whole, "whole_word")
        row.keyword = keyword
        answer = keyword_entity(row)
    return json_response(answer)


@routes.delete("/api/v2/filters/keywords/{id}")
async def deletekeyword_text(request: web.Request) -> web.StreamResponse:
    """Remove a keyword from its filter."""
    viewer = await signed_in(request, "write:filters")
    async with context_of(request).sessions() as session, session.begin():
        await session.delete(await owned_keyword(session, path_id(request), viewer))
    return json_response({})


def _status_entity(row: FilterStatus) -> dict[str, Any]:
    return {"id": str(row.id), "status_id": str(row.status_id)}


@routes.get("/api/v2/filters/{id}/statuses")
async def filter_statuses(request: web.Request) -> web.StreamResponse:
    """The statuses a filter matches."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        active = await owned_filter(session, path_id(request), viewer)
    return json_response([_status_entity(s) for s in active.statuses])


@routes.post("/api/v2/filters/{id}/statuses")
async def add_status(request: web.Request) -> web.StreamResponse:
    """Make a filter match a status the caller may see (``status_id``)."""
    viewer = await signed_in(request, "write:filters")
    raw = (await params(request)).get("status_id", "")
    async with context_of(request).sessions() as session, session.begin():
        active = await owned_filter(session, path_id(request), viewer)
        if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 19:
            raise ApiError(422, "status_id must be an id")
        status = await visible_status(session, int(raw), viewer)
        if any(s.status_id == status.id for s in active.statuses):
            raise ApiError(422, "Validation failed: Status has already been taken")
        row = FilterStatus(id=new_id(), filter_id=active.row.id, status_id=status.id)
        session.add(row)
    return json_response(_status_entity(row))


@routes.get("/api/v2/filters/statuses/{id}")
async def show_filter_status(request: web.Request) -> web.StreamResponse:
    """One filtered status of one of the caller's filters."""
    viewer = await signed_in(request, "read:filters")
    async with context_of(request).sessions() as session:
        return json_response(_status_entity(await _status_row(session, path_id(request), viewer)))


@routes.delete("/api/v2/filters/statuses/{id}")
async def delete_filter_status(request: web.Request) -> web.StreamResponse:
    """Stop a filter matching a status."""
    viewer = await signed_in(request, "write:filters")
    async with context_of(request).sessions() as session, session.begin():
        await session.delete(await _status_row(session, path_id(request), viewer))
    return json_response({})
