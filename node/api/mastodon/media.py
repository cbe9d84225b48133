"""Media: upload, show and describe pictures (PROTOCOL.md C24), and serve the files.

``POST /api/v2/media`` and ``/api/v1/media`` (Elk still uploads through v1) process an
image synchronously and answer 200 with the MediaAttachment. ``GET``/``PUT
/api/v1/media/:id`` reach only the caller's own media that is not posted yet — anything
else is 404, as in Mastodon. Files are served at ``/media/<random name>`` with a fixed
image type, ``nosniff`` and a year of caching (SECURITY.md rows 2 and 16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage
from multidict import MultiDict, MultiDictProxy

from node.api.mastodon.access import context_of, path_id, signed_in
from node.api.mastodon.common import ApiError, ApiRoutes, json_response, params
from node.api.mastodon.entities import media_attachment_entity
from node.appkeys import MEDIA
from node.db.models import MediaAttachment
from node.services.media import (
    MediaError,
    MediaStore,
    attachment_document,
    media_path_pattern,
    parse_focus,
)

__all__ = ["Upload", "media_attributes", "media_entity", "read_upload", "routes"]

routes = ApiRoutes()

_MAX_TEXT_PART = 64 * 1024
_MAX_PARTS = 100
_CHUNK = 256 * 1024
_ATTRIBUTE = re.compile(r"media_attributes\[(\d{0,2})\]\[(id|description|focus|thumbnail)\]")
_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


@dataclass
class Upload:
    """A request's text parameters and the files it carried (by field name)."""

    values: MultiDictProxy[Any]
    files: dict[str, bytes] = field(default_factory=dict)


async def _read_part(part: BodyPartReader, limit: int, too_large: ApiError) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


async def read_upload(request: web.Request, file_fields: set[str], max_bytes: int) -> Upload:
    """Parameters plus uploaded files, streamed from a multipart body: a file above
    *max_bytes* is refused with 413 as soon as it is known, never held whole in memory."""
    if not request.content_type.startswith("multipart/"):
        return Upload(await params(request))
    try:
        return await _read_multipart(request, file_fields, max_bytes)
    except (BadHttpMessage, ValueError, AssertionError):
        # A header line too long, a broken boundary: the body is not a form we can read.
        raise ApiError(422, "the multipart body could not be read") from None


async def _read_multipart(request: web.Request, file_fields: set[str], max_bytes: int) -> Upload:
    values: MultiDict[Any] = MultiDict(request.query)
    files: dict[str, bytes] = {}
    reader = await request.multipart()
    for _ in range(_MAX_PARTS):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or not part.name:
            raise ApiError(422, "unexpected nested multipart body")
        if part.name in file_fields and part.filename is not None:
            files[part.name] = await _read_part(
                part, max_bytes, ApiError(413, f"the file is larger than {max_bytes} bytes")
            )
        else:
            raw = await _read_part(part, _MAX_TEXT_PART, ApiError(422, f"{part.name} is too long"))
            values.add(part.name, raw.decode("utf-8", errors="replace"))
    else:
        raise ApiError(422, "too many form fields")
    return Upload(MultiDictProxy(values), files)


def media_attributes(values: MultiDictProxy[Any]) -> dict[str, dict[str, str]]:
    """``media_attributes[][id|description|focus]`` of a status edit, by media id (Mastodon
    4.0; Mastodon.py and Elk send them to change the alt text of posted media).

    Unindexed entries (flattened JSON, forms with ``[]``) start a new item at each ``id``.
    """
    items: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for key, value in values.items():
        match = _ATTRIBUTE.fullmatch(key)
        if match is None:
            continue
        if not isinstance(value, str):
            raise ApiError(422, "media_attributes must be text")
        index, name = match[1], match[2]
        if index:
            current = items.setdefault(f"#{index}", {})
        elif name == "id" or current is None:
            current = items.setdefault(f"#{len(items)}", {})
        current[name] = value
    out: dict[str, dict[str, str]] = {}
    for item in items.values():
        if not item.get("id"):
            raise ApiError(422, "each media_attributes entry needs an id")
        out[item.pop("id")] = item
    return out


def media_entity(store: MediaStore, media: MediaAttachment) -> dict[str, Any]:
    """The MediaAttachment entity (C37) of a local upload."""
    return media_attachment_entity(attachment_document(store, media), str(media.id))


def _text(values: MultiDictProxy[Any], name: str) -> str | None:
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(422, f"{name} must be text")
    return value


async def _create(request: web.Request) -> web.StreamResponse:
    viewer = await signed_in(request, "write:media")
    store = request.app[MEDIA]
    upload = await read_upload(request, {"file"}, store.max_bytes)
    data = upload.files.get("file")
    if data is None:
        raise ApiError(422, "file is missing")
    focus_raw = _text(upload.values, "focus")
    try:
        media = await store.store_upload(
            context_of(request).sessions,
            viewer.id,
            data,
            description=_text(upload.values, "description"),
            focus=parse_focus(focus_raw) if focus_raw else (0.0, 0.0),
        )
    except MediaError as exc:
        raise ApiError(exc.status, exc.message) from None
    return json_response(media_entity(store, media))


@routes.post("/api/v2/media")
async def create_media_v2(request: web.Request) -> web.StreamResponse:
    """Upload a picture (C24); images are processed at once, so the answer is 200."""
    return await _create(request)


@routes.post("/api/v1/media")
async def create_media_v1(request: web.Request) -> web.StreamResponse:
    """The older upload route, still used by Elk (C24)."""
    return await _create(request)


async def _own_unposted(request: web.Request, viewer_id: int) -> MediaAttachment:
    media_id = path_id(request)
    async with context_of(request).sessions() as session:
        media = await session.get(MediaAttachment, media_id)
    if (
        media is None
        or media.account_id != viewer_id
        or media.status_id is not None
        or media.purpose != "attachment"
    ):
        raise ApiError(404, "Record not found")
    return media


@routes.get("/api/v1/media/{id}")
async def show_media(request: web.Request) -> web.StreamResponse:
    """One's own media that is not posted yet (C24); others' and posted media are 404."""
    viewer = await signed_in(request, "write:media")
    media = await _own_unposted(request, viewer.id)
    return json_response(media_entity(request.app[MEDIA], media))


@routes.put("/api/v1/media/{id}")
async def update_media(request: web.Request) -> web.StreamResponse:
    """Change the alt text or focal point of one's own unposted media (C24)."""
    viewer = await signed_in(request, "write:media")
    store = request.app[MEDIA]
    media = await _own_unposted(request, viewer.id)
    values = await params(request)
    description = _text(values, "description")
    focus_raw = _text(values, "focus")
    try:
        checked = store.check_description(description)
        focus = parse_focus(focus_raw) if focus_raw else None
    except MediaError as exc:
        raise ApiError(exc.status, exc.message) from None
    async with context_of(request).sessions() as session, session.begin():
        row = await session.get(MediaAttachment, media.id)
        if row is None or row.status_id is not None:  # posted meanwhile
            raise ApiError(404, "Record not found")
        if description is not None:
            row.description = checked
        if focus is not None:
            row.focus_x, row.focus_y = focus
        media = row
    return json_response(media_entity(store, media))


@routes.get("/media/{name:" + media_path_pattern + "}")
async def serve_media(request: web.Request) -> web.StreamResponse:
    """A stored file: always its image type, never sniffed, cached for a year (the name is
    random and the content never changes)."""
    name = request.match_info["name"]
    path = request.app[MEDIA].path(name)
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _TYPES[name.rsplit(".", 1)[1]],
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": "inline",
        },
    )
