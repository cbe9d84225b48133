"""Applying a person's filters (Mastodon filters v2) to the statuses they are shown.

A filter holds keywords and statuses and names the contexts it applies in (``home`` also
covers lists, ``public`` the public and hashtag timelines, ``thread`` a status's context,
``account`` profiles, ``notifications``). ``hide`` removes a matching status from that
context — timelines, notifications, threads and streams alike; ``warn`` leaves it and adds
a FilterResult to its ``filtered`` array, which clients show as a warning. As in Mastodon,
one's own posts are never filtered, and a boost is matched by the post it boosts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

from node.api.mastodon.common import datetime_json
from node.api.mastodon.queries import Viewer
from node.db.engine import AsyncSession
from node.db.models import Filter, FilterKeyword, FilterStatus

__all__ = [
    "CONTEXTS",
    "ActiveFilter",
    "active_filters",
    "apply_filters",
    "apply_to_notifications",
    "filter_entity",
    "keyword_entity",
    "load_filters",
]

#: Where a filter may apply (Mastodon's ``context`` values).
CONTEXTS = ("home", "notifications", "public", "thread", "account")

_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)


@dataclass
class ActiveFilter:
    """A filter with its keywords and statuses, loaded once per request."""

    row: Filter
    keywords: list[FilterKeyword] = field(default_factory=list)
    statuses: list[FilterStatus] = field(default_factory=list)

    @property
    def contexts(self) -> list[str]:
        return [c for c in self.row.contexts.split(",") if c]

    def pattern(self) -> re.Pattern[str] | None:
        """One case-insensitive pattern for all keywords (word boundaries where asked)."""
        parts = []
        for keyword in self.keywords:
            text = re.escape(keyword.keyword)
            if keyword.whole_word:
                start = r"\b" if re.match(r"\w", keyword.keyword) else ""
                end = r"\b" if re.search(r"\w$", keyword.keyword) else ""
                text = f"{start}{text}{end}"
            parts.append(text)
        return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def keyword_entity(keyword: FilterKeyword) -> dict[str, Any]:
    """A FilterKeyword entity."""
    return {"id": str(keyword.id), "keyword": keyword.keyword, "whole_word": keyword.whole_word}


def filter_entity(active: ActiveFilter) -> dict[str, Any]:
    """A Filter (v2) entity with its keywords and statuses."""
    row = active.row
    return {
        "id": str(row.id),
        "title": row.title,
        "context": active.contexts,
        "expires_at": datetime_json(row.expires_at),
        "filter_action": row.action,
        "keywords": [keyword_entity(k) for k in active.keywords],
        "statuses": [{"id": str(s.id), "status_id": str(s.status_id)} for s in active.statuses],
    }


async def load_filters(
    session: AsyncSession, account_id: int, *, filter_id: int | None = None
) -> list[ActiveFilter]:
    """The person's filters (or the one with *filter_id*), expired ones included, oldest first."""
    query = select(Filter).where(Filter.account_id == account_id).order_by(Filter.id)
    if filter_id is not None:
        query = query.where(Filter.id == filter_id)
    found = {row.id: ActiveFilter(row) for row in (await session.scalars(query)).all()}
    if not found:
        return []
    for keyword in await session.scalars(
        select(FilterKeyword).where(FilterKeyword.filter_id.in_(found)).order_by(FilterKeyword.id)
    ):
        found[keyword.filter_id].keywords.append(keyword)
    for status in await session.scalars(
        select(FilterStatus).where(FilterStatus.filter_id.in_(found)).order_by(FilterStatus.id)
    ):
        found[status.filter_id].statuses.append(status)
    return list(found.values())


async def active_filters(
    session: AsyncSession, viewer: Viewer, context: str, *, now: datetime | None = None
) -> list[ActiveFilter]:
    """The viewer's unexpired filters that apply in *context*."""
    now = now or datetime.now(UTC)
    if not await session.scalar(
        select(Filter.id)
        .where(
            Filter.account_id == viewer.id,
            or_(Filter.expires_at.is_(None), Filter.expires_at > now),
        )
        .limit(1)
    ):
        return []  # the usual case: one index read
    return [
        f
        for f in await load_filters(session, viewer.id)
        if context in f.contexts and (f.row.expires_at is None or f.row.expires_at > now)
    ]


def _searchable(entity: dict[str, Any]) -> str:
    content = html.unescape(_TAG.sub(" ", _BREAK.sub("\n", entity.get("content") or "")))
    parts = [entity.get("spoiler_text") or "", content]
    parts += [m.get("description") or "" for m in entity.get("media_attachments") or []]
    return "\n\n".join(parts)


def _results(filters: list[ActiveFilter], entity: dict[str, Any]) -> list[dict[str, Any]]:
    """FilterResults for a (non-boost) status entity."""
    out = []
    text: str | None = None
    for active in filters:
        pattern = active.pattern()
        keyword_matches: list[str] | None = None
        if pattern is not None:
            text = _searchable(entity) if text is None else text
            found = {m.group(0).lower() for m in pattern.finditer(text)}
            keyword_matches = [
                k.keyword for k in active.keywords if k.keyword.lower() in found
            ] or None
            if keyword_matches is None and found:
                keyword_matches = sorted(found)
        status_matches = [
            str(s.status_id) for s in active.statuses if str(s.status_id) == entity["id"]
        ]
        if keyword_matches or status_matches:
            out.append(
                {
                    "filter": filter_entity(active),
                    "keyword_matches": keyword_matches,
                    "status_matches": status_matches or None,
                }
            )
    return out


def _judge(
    filters: list[ActiveFilter], viewer: Viewer, entity: dict[str, Any]
) -> tuple[bool, list[dict[str, Any]]]:
    """(hidden, FilterResults) for one status entity."""
    target = entity.get("reblog") or entity
    if int(target["account"]["id"]) == viewer.id:
        return False, []
    results = _results(filters, target)
    hidden = any(r["filter"]["filter_action"] == "hide" for r in results)
    return hidden, results


async def apply_filters(
    session: AsyncSession, viewer: Viewer | None, context: str, entities: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """*entities* without those a ``hide`` filter removes; ``filtered`` set on the rest."""
    if viewer is None or not entities:
        return entities
    filters = await active_filters(session, viewer, context)
    if not filters:
        return entities
    kept = []
    for entity in entities:
        hidden, results = _judge(filters, viewer, entity)
        if hidden:
            continue
        if results:
            entity["filtered"] = results
            if entity.get("reblog"):
                entity["reblog"]["filtered"] = results
        kept.append(entity)
    return kept


async def apply_to_notifications(
    session: AsyncSession, viewer: Viewer, notifications: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Notifications without those whose status a ``hide`` filter removes (``notifications``)."""
    filters = await active_filters(session, viewer, "notifications")
    if not filters:
        return notifications
    kept = []
    for notification in notifications:
        status = notification.get("status")
        if status:
            hidden, results = _judge(filters, viewer, status)
            if hidden:
                continue
            if results:
                status["filtered"] = results
        kept.append(notification)
    return kept
