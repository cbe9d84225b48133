"""Instance metadata for Mastodon apps (PROTOCOL.md C15–C18, C29).

``/api/v1/instance`` and ``/api/v2/instance`` (with a trailing slash too, C4), ``peers``,
``rules``, ``custom_emojis`` and ``preferences``. The version string has the compatible form
Mastodon.py, Phanpy and Elk parse (C17); with a 4.2 version no ``api_versions`` is sent, so
no client switches to 4.3+ endpoints we lack (C18). Counts come from the database.
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import distinct, func, select

from config.settings import MediaSettings
from node.api.mastodon.common import ApiRoutes, json_response, require
from node.appkeys import CONTEXT, SETTINGS
from node.db.models import Account, Status
from node.ids import id_for_time
from node.services.accounts import INSTANCE_USERNAME
from node.services.media import MAX_ATTACHMENTS
from node.services.node_settings import get_description
from node.services.profile_rules import MAX_PROFILE_FIELDS
from node.services.statuses import MAX_TEXT

__all__ = ["MASTODON_VERSION", "routes"]

#: The Mastodon release whose client API we implement, in the form of C17.
MASTODON_VERSION = "4.2.0 (compatible; Kantine 0.1.0)"
_THUMBNAIL_PATH = "/instance/thumbnail.png"
_IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]

routes = ApiRoutes()


async def _stats(request: web.Request) -> dict[str, int]:
    ctx = request.app[CONTEXT]
    month_ago = id_for_time(datetime.now(UTC) - timedelta(days=30))
    async with ctx.sessions() as session:
        users = await session.scalar(
            select(func.count())
            .select_from(Account)
            .where(
                Account.local.is_(True),
                Account.username != INSTANCE_USERNAME,
                Account.suspended_at.is_(None),
            )
        )
        statuses = await session.scalar(
            select(func.count())
            .select_from(Status)
            .where(Status.local.is_(True), Status.reblog_of_id.is_(None))
        )
        domains = await session.scalar(
            select(func.count(distinct(Account.domain))).where(Account.local.is_(False))
        )
        active = await session.scalar(
            select(func.count(distinct(Status.account_id))).where(
                Status.local.is_(True), Status.id >= month_ago
            )
        )
    return {
        "user_count": users or 0,
        "status_count": statuses or 0,
        "domain_count": domains or 0,
        "active_month": active or 0,
    }


def _streaming(request: web.Request) -> str:
    base = request.app[CONTEXT].urls.base
    return ("wss://" + base[8:]) if base.startswith("https://") else ("ws://" + base[7:])


def _limits(media: MediaSettings) -> dict[str, Any]:
    return {
        "statuses": {
            "max_characters": MAX_TEXT,
            "max_media_attachments": MAX_ATTACHMENTS,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": _IMAGE_TYPES,
            "description_limit": media.description_limit,
            "image_size_limit": media.max_bytes,
            "image_matrix_limit": media.max_pixels,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
        },
        "polls": {
            "max_options": 4,
            "max_characters_per_option": 50,
            "min_expiration": 300,
            "max_expiration": 2_629_746,
        },
    }


@routes.get("/api/v1/instance")
async def instance_v1(request: web.Request) -> web.StreamResponse:
    """The v1 Instance entity: Tusky needs ``uri`` and ``version`` (C15)."""
    settings = request.app[SETTINGS]
    ctx = request.app[CONTEXT]
    stats = await _stats(request)
    async with ctx.sessions() as session:
        description = await get_description(session, settings.node.description)
    return json_response(
        {
            "uri": ctx.domain,
            "title": settings.node.name,
            "short_description": description,
            "description": description,
            "email": "",
            "version": MASTODON_VERSION,
            "urls": {"streaming_api": _streaming(request)},
            "stats": {k: stats[k] for k in ("user_count", "status_count", "domain_count")},
            "thumbnail": ctx.urls.base + _THUMBNAIL_PATH,
            "languages": ["en"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": {"accounts": {"max_featured_tags": 10}} | _limits(settings.media),
            "contact_account": None,
            "rules": [],
        }
    )


@routes.get("/api/v2/instance")
async def instance_v2(request: web.Request) -> web.StreamResponse:
    """The v2 Instance entity; no ``api_versions`` with a 4.2 version string (C16, C18)."""
    settings = request.app[SETTINGS]
    ctx = request.app[CONTEXT]
    stats = await _stats(request)
    thumbnail = ctx.urls.base + _THUMBNAIL_PATH
    async with ctx.sessions() as session:
        description = await get_description(session, settings.node.description)
    configuration: dict[str, Any] = {
        "urls": {"streaming": _streaming(request), "status": None},
        # No Web Push yet: an empty key tells Phanpy and Elk not to offer it.
        "vapid": {"public_key": ""},
        "accounts": {
            "max_featured_tags": 10,
            "max_pinned_statuses": 5,
            "max_profile_fields": MAX_PROFILE_FIELDS,
        },
        "translation": {"enabled": False},
    } | _limits(settings.media)
    return json_response(
        {
            "domain": ctx.domain,
            "title": settings.node.name,
            "version": MASTODON_VERSION,
            "source_url": "",  # no public repository address is configured yet
            "description": description,
            "usage": {"users": {"active_month": stats["active_month"]}},
            "thumbnail": {"url": thumbnail, "blurhash": None, "versions": {"@1x": thumbnail}},
            "icon": [],
            "languages": ["en"],
            "configuration": configuration,
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "contact": {"email": "", "account": None},
            "rules": [],
        }
    )


@routes.get("/api/v1/instance/peers")
async def peers(request: web.Request) -> web.StreamResponse:
    """The peers this node federates with: the allowlist (C15; open mode: known allowed hosts)."""
    policy = request.app[CONTEXT].policy
    if policy.mode == "allowlist":
        hosts = set(policy.config_allow | policy.db_allow)
    else:
        async with request.app[CONTEXT].sessions() as session:
            rows = await session.scalars(
                select(distinct(Account.domain)).where(Account.local.is_(False))
            )
            hosts = set(rows)
    return json_response(sorted(h for h in hosts if policy.allows(h)))


@routes.get("/api/v1/instance/rules")
async def rules(request: web.Request) -> web.StreamResponse:
    """No server rules: the organisation's policies apply (C29)."""
    return json_response([])


@routes.get("/api/v1/custom_emojis")
async def custom_emojis(request: web.Request) -> web.StreamResponse:
    """No custom emojis (C29)."""
    return json_response([])


@routes.get("/api/v1/preferences")
async def preferences(request: web.Request) -> web.StreamResponse:
    """Posting and reading defaults (C29); needs a token with ``read:accounts``."""
    await require(request, "read:accounts")
    return json_response(
        {
            "posting:default:visibility": "public",
            "posting:default:sensitive": False,
            "posting:default:language": None,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@routes.get(_THUMBNAIL_PATH)
async def thumbnail(request: web.Request) -> web.StreamResponse:
    """A plain banner for the instance, so ``thumbnail`` is never a broken link."""
    return web.Response(
        body=_png(64, 32, (47, 111, 179)),
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )
