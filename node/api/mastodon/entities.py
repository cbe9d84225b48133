"""Mastodon JSON entities built from rows (PROTOCOL.md §6.6: C34–C38; C5 ids as strings; C8 times).

Every builder takes a row mapping from :mod:`node.api.mastodon.queries` (columns labelled
with a prefix per joined table) and returns plain JSON-able dicts. Field names and types
follow the Mastodon entity definitions as Mastodon.py's ``return_types`` records them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from node.api.mastodon.common import datetime_json
from node.api.mastodon.queries import RECORD, UNIT
from node.services.context import NodeContext

__all__ = [
    "DEFAULT_AVATAR_PATH",
    "DEFAULT_HEADER_PATH",
    "account_entity",
    "api_visibility",
    "credential_account",
    "media_attachment_entity",
    "media_attachments",
    "notification_entity",
    "plain_text",
    "relationship_entity",
    "status_edit_entity",
    "status_entity",
]

#: Served by ``node.api.mastodon.placeholders``: clients need a URL even without a picture.
DEFAULT_AVATAR_PATH = "/avatars/original/missing.png"
DEFAULT_HEADER_PATH = "/headers/original/missing.png"

_ROLES = {"admin": "1", "moderator": "2", "communications": "3", "member": "4"}
_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)
Row = Mapping[str, Any]


def plain_text(fragment: str) -> str:
    """Sanitised HTML back to text: paragraphs and breaks become newlines (``source.note``)."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", fragment))).strip()


def api_visibility(visibility: str) -> str:
    """The visibility clients know: ``limited`` shows as private, Kantine's ``local`` as public
    with ``local_only`` (glitch-soc and Hometown do the same)."""
    if visibility == "limited":
        return "private"
    if visibility == "local":
        return "public"
    return visibility


def _acct(ctx: NodeContext, username: str, domain: str) -> str:
    return username if domain == ctx.domain else f"{username}@{domain}"


def _last_status_at(last_id: int | None) -> str | None:
    if last_id is None:
        return None
    return datetime.fromtimestamp((last_id >> 16) / 1000, UTC).date().isoformat()


def _fields(raw: str) -> list[dict[str, Any]]:
    try:
        fields = json.loads(raw or "[]")
    except ValueError:
        return []
    return [
        {"name": str(f.get("name", "")), "value": str(f.get("value", "")), "verified_at": None}
        for f in fields
        if isinstance(f, dict)
    ]


def account_entity(row: Row, ctx: NodeContext, prefix: str = "a_") -> dict[str, Any]:
    """An Account (C34) from columns labelled *prefix* (``queries.account_columns``)."""

    def col(name: str) -> Any:
        return row[prefix + name]

    base = ctx.urls.base
    avatar = col("avatar_url") or base + DEFAULT_AVATAR_PATH
    header = col("header_url") or base + DEFAULT_HEADER_PATH
    discoverable = bool(col("discoverable"))
    return {
        "id": str(col("id")),
        "username": col("username"),
        "acct": _acct(ctx, col("username"), col("domain")),
        "url": col("url") or col("uri"),
        "uri": col("uri"),
        "display_name": col("display_name") or "",
        "note": col("summary") or "",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "locked": bool(col("manually_approves_followers")),
        "bot": col("actor_type") in {"Service", "Application"},
        "group": col("actor_type") == "Group",
        "discoverable": discoverable,
        "indexable": discoverable,
        "noindex": not discoverable,
        "hide_collections": False,
        "created_at": datetime_json(col("created_at")),
        "last_status_at": _last_status_at(col("last_status_id")),
        "statuses_count": int(col("statuses_count") or 0),
        "followers_count": int(col("followers_count") or 0),
        "following_count": int(col("following_count") or 0),
        "fields": _fields(col("fields_json")),
        "emojis": [],
        "roles": [],
        "mute_expires_at": None,
    }


def credential_account(row: Row, ctx: NodeContext, follow_requests: int) -> dict[str, Any]:
    """A CredentialAccount: the Account plus ``source`` and ``role`` (C19)."""
    entity = account_entity(row, ctx)
    entity["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "note": plain_text(row["a_summary"] or ""),
        "fields": [{**f, "value": plain_text(f["value"])} for f in _fields(row["a_fields_json"])],
        "follow_requests_count": follow_requests,
        "discoverable": entity["discoverable"],
        "indexable": entity["indexable"],
        "hide_collections": False,
    }
    role = row["a_role"] or "member"
    entity["role"] = {
        "id": _ROLES.get(role, "4"),
        "name": "" if role == "member" else role,
        "permissions": "0",
        "color": "",
        "highlighted": role != "member",
    }
    return entity


def _mentions(raw: str | None, ctx: NodeContext) -> list[dict[str, Any]]:
    out = []
    for record in (raw or "").split(RECORD):
        parts = record.split(UNIT)
        if len(parts) == 4:
            account_id, username, domain, url = parts
            out.append(
                {
                    "id": account_id,
                    "username": username,
                    "acct": _acct(ctx, username, domain),
                    "url": url,
                }
            )
    return out


def _tags(raw: str | None, ctx: NodeContext) -> list[dict[str, Any]]:
    return [{"name": name, "url": ctx.urls.tag(name)} for name in (raw or "").split(RECORD) if name]


def _media_type(media_type: str, *, local: bool = False) -> str:
    if media_type == "image/gif" and not local:  # our own GIFs stay GIFs, not videos
        return "gifv"
    kind = media_type.split("/", 1)[0]
    return kind if kind in {"image", "video", "audio"} else "unknown"


def _size(width: Any, height: Any) -> dict[str, Any] | None:
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return {
            "width": width,
            "height": height,
            "size": f"{width}x{height}",
            "aspect": width / height,
        }
    return None


def media_attachment_entity(item: Mapping[str, Any], fallback_id: str) -> dict[str, Any]:
    """A MediaAttachment (C37) from one ``attachments_json`` entry: a local upload (``_local``,
    with its preview) or what a remote post carried (``remote_url`` is the peer's URL)."""
    local = bool(item.get("_local"))
    meta: dict[str, Any] = {}
    original = _size(item.get("width"), item.get("height"))
    if original:
        small = _size(item.get("_preview_width"), item.get("_preview_height")) or dict(original)
        meta = {"original": original, "small": small}
    point = item.get("focalPoint")
    if isinstance(point, list) and len(point) == 2:
        meta["focus"] = {"x": float(point[0]), "y": float(point[1])}
    return {
        "id": str(item["_id"]) if "_id" in item else fallback_id,
        "type": _media_type(str(item.get("mediaType") or ""), local=local),
        "url": item["url"],
        "preview_url": item.get("_preview_url") or item["url"],
        "remote_url": None if local else item["url"],
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": item.get("name"),
        "blurhash": item.get("blurhash"),
    }


def media_attachments(raw: str, status_id: int) -> list[dict[str, Any]]:
    """MediaAttachments (C37) of a status's ``attachments_json``."""
    try:
        items = json.loads(raw or "[]")
    except ValueError:
        return []
    return [
        media_attachment_entity(item, f"{status_id}{index:02d}")
        for index, item in enumerate(items if isinstance(items, list) else [])
        if isinstance(item, dict) and isinstance(item.get("url"), str)
    ]


def _status_body(
    row: Row, ctx: NodeContext, flags: Mapping[int, set[str]], signed_in: bool, s: str, a: str
) -> dict[str, Any]:
    """One status without its ``reblog``, from columns labelled *s* (status) and *a* (author)."""

    def col(name: str) -> Any:
        return row[s + name]

    status_id: int = col("id")
    own = flags.get(status_id, set())
    entity: dict[str, Any] = {
        "id": str(status_id),
        "uri": col("uri"),
        "url": col("url") or (col("uri") if col("reblog_of_id") is None else None),
        "created_at": datetime_json(col("published_at")),
        "account": account_entity(row, ctx, a),
        "content": col("content") or "",
        "visibility": api_visibility(col("visibility")),
        "local_only": col("visibility") == "local",
        "sensitive": bool(col("sensitive")),
        "spoiler_text": col("summary") or "",
        "media_attachments": media_attachments(col("attachments_json"), status_id),
        "mentions": _mentions(col("mentions"), ctx),
        "tags": _tags(col("tags"), ctx),
        "emojis": [],
        "reblogs_count": int(col("reblogs_count") or 0),
        "favourites_count": int(col("favourites_count") or 0),
        "replies_count": int(col("replies_count") or 0),
        "in_reply_to_id": _id(col("in_reply_to_id")),
        "in_reply_to_account_id": _id(col("in_reply_to_account_id")),
        "reblog": None,
        "poll": None,
        "card": None,
        "language": col("language"),
        "edited_at": datetime_json(col("edited_at")),
        "application": None,
    }
    if signed_in:
        entity.update(
            favourited="f" in own,
            reblogged="r" in own,
            bookmarked="b" in own,
            muted="m" in own,
            pinned="p" in own,
        )
        entity["filtered"] = []
    return entity


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def status_entity(
    row: Row, ctx: NodeContext, flags: Mapping[int, set[str]], *, signed_in: bool
) -> dict[str, Any]:
    """A Status (C35) from a ``queries.status_select`` row; a boost nests its original."""
    entity = _status_body(row, ctx, flags, signed_in, "s_", "a_")
    if row["s_reblog_of_id"] is not None and row["o_id"] is not None:
        original = _status_body(row, ctx, flags, signed_in, "o_", "oa_")
        entity["reblog"] = original
        if signed_in:
            for flag in ("favourited", "reblogged", "bookmarked", "muted", "pinned"):
                entity[flag] = original[flag]
    return entity


def relationship_entity(account_id: int, states: set[str]) -> dict[str, Any]:
    """A Relationship (C38) from the viewer's follow and block states toward one account.

    *states* holds ``following``/``requested`` (the viewer → them), ``followed_by``/
    ``requested_by`` (them → the viewer), ``blocking``, ``blocked_by`` and ``muting``.
    """
    following = "following" in states
    return {
        "id": str(account_id),
        "following": following,
        "showing_reblogs": following,
        "notifying": False,
        "languages": None,
        "followed_by": "followed_by" in states,
        "blocking": "blocking" in states,
        "blocked_by": "blocked_by" in states,
        "muting": "muting" in states,
        "muting_notifications": "muting_notifications" in states,
        "requested": "requested" in states,
        "requested_by": "requested_by" in states,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }


def notification_entity(
    row: Row, ctx: NodeContext, flags: Mapping[int, set[str]]
) -> dict[str, Any]:
    """A Notification (C36): columns ``n_*``, the sender ``na_*`` and the status (if any)."""
    notification_id = str(row["n_id"])
    return {
        "id": notification_id,
        "type": row["n_type"],
        "created_at": datetime_json(row["n_created_at"]),
        "account": account_entity(row, ctx, "na_"),
        "status": status_entity(row, ctx, flags, signed_in=True)
        if row["s_id"] is not None
        else None,
        "group_key": f"ungrouped-{notification_id}",
    }


def status_edit_entity(
    account: dict[str, Any],
    *,
    content: str,
    spoiler_text: str,
    sensitive: bool,
    created_at: datetime,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One version in a status's edit history (StatusEdit, C20 ``…/:id/history``)."""
    return {
        "content": content,
        "spoiler_text": spoiler_text,
        "sensitive": sensitive,
        "created_at": datetime_json(created_at),
        "account": account,
        "poll": None,
        "media_attachments": attachments or [],
        "emojis": [],
    }
