"""Uploaded media: process, store on disk and in the database, attach to posts (C24).

:func:`store_upload` is the one way in for the Mastodon API and the web pages alike. It
processes the picture in a thread (Pillow is CPU-bound), writes the files under random
names, and inserts the row; if anything fails, neither files nor row remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from node.db.engine import AsyncSession, Sessions
from node.db.models import MediaAttachment
from node.ids import new_id

if TYPE_CHECKING:
    from node.services.images import Processed, Purpose

__all__ = [
    "MAX_ATTACHMENTS",
    "MediaError",
    "MediaStore",
    "apply_attributes",
    "attach_media",
    "attachment_document",
    "link_media",
    "media_path_pattern",
    "parse_focus",
    "remote_media_rows",
]

log = logging.getLogger(__name__)

#: As ``configuration.statuses.max_media_attachments`` tells clients.
MAX_ATTACHMENTS = 4
#: What a file under ``/media/`` may be called: 32 hex digits, ``-small`` for a preview.
media_path_pattern = r"[0-9a-f]{32}(?:-small)?\.(?:jpg|png|gif|webp)"


class MediaError(ValueError):
    """An upload or a media reference was refused: *status* and a message for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_focus(raw: str) -> tuple[float, float]:
    """Mastodon's ``focus="x,y"``, each between -1.0 and 1.0 (C24)."""
    try:
        x_text, y_text = raw.split(",")
        x, y = float(x_text), float(y_text)
    except ValueError:
        raise MediaError(422, "focus must be two numbers: x,y") from None
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):
        raise MediaError(422, "focus coordinates must be between -1.0 and 1.0")
    return x, y


@dataclass(frozen=True)
class MediaStore:
    """Where media files live and how large they may be; one per application."""

    directory: Path
    base_url: str
    max_bytes: int
    max_pixels: int
    description_limit: int

    def url(self, name: str) -> str:
        return f"{self.base_url}/media/{name}"

    def url_of(self, media: MediaAttachment, *, preview: bool = False) -> str:
        """Where *media* is seen: our ``/media/`` file (or its preview), or the peer's URL."""
        name = (media.preview_name if preview else None) or media.file_name
        if name is None:
            return media.remote_url or ""
        return self.url(name)

    def path(self, name: str) -> Path:
        return self.directory / name

    def _write(self, processed: Processed) -> tuple[str, str]:
        """Write both files (each to a temporary name first, then renamed into place)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        names = (
            f"{token}.{processed.original.extension}",
            f"{token}-small.{processed.preview.extension}",
        )
        written: list[Path] = []
        try:
            for name, encoded in zip(names, (processed.original, processed.preview), strict=True):
                final = self.path(name)
                partial = final.with_suffix(final.suffix + ".part")
                written.append(partial)
                partial.write_bytes(encoded.data)
                os.replace(partial, final)
                written.append(final)
        except OSError:  # a full disk, say: take back whatever was written
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return names

    def remove(self, *names: str | None) -> None:
        """Delete files (a missing one is fine: removing is idempotent)."""
        for name in names:
            if name:
                with contextlib.suppress(OSError):
                    self.path(name).unlink(missing_ok=True)

    def check_description(self, description: str | None) -> str | None:
        """Alt text within ``media.description_limit`` (422 otherwise); blank means none."""
        if description is None:
            return None
        if len(description) > self.description_limit:
            raise MediaError(422, f"description is longer than {self.description_limit} characters")
        return description.strip() or None

    async def discard(self, sessions: Sessions, media: Iterable[MediaAttachment]) -> None:
        """Undo :meth:`store_upload`s whose purpose failed later: rows and files go."""
        rows = list(media)
        if not rows:
            return
        async with sessions() as session, session.begin():
            await session.execute(
                delete(MediaAttachment).where(MediaAttachment.id.in_([m.id for m in rows]))
            )
        for m in rows:
            self.remove(m.file_name, m.preview_name)

    async def replaced(
        self, session: AsyncSession, account_id: int, new: Iterable[MediaAttachment]
    ) -> list[MediaAttachment]:
        """Delete the rows of the avatar and header that *new* ones replace; returns them so
        their files can be removed once the transaction has committed (:meth:`remove`)."""
        old: list[MediaAttachment] = []
        for media in new:
            old += (
                await session.execute(
                    select(MediaAttachment).where(
                        MediaAttachment.account_id == account_id,
                        MediaAttachment.purpose == media.purpose,
                        MediaAttachment.id != media.id,
                    )
                )
            ).scalars()
        if old:
            await session.execute(
                delete(MediaAttachment).where(MediaAttachment.id.in_([m.id for m in old]))
            )
        return old

    async def store_upload(
        self,
        sessions: Sessions,
        account_id: int,
        data: bytes,
        *,
        purpose: Purpose = "attachment",
        description: str | None = None,
        focus: tuple[float, float] = (0.0, 0.0),
    ) -> MediaAttachment:
        """Process *data* and keep it as a new media row of *account_id* (C24).

        Raises :class:`MediaError` (413 too large, 422 not an acceptable picture); then
        nothing was written.
        """
        if len(data) > self.max_bytes:
            raise MediaError(413, f"the file is larger than {self.max_bytes} bytes")
        description = self.check_description(description)
        # Imported on the first upload: Pillow is memory an idle node need not hold.
        from node.services.images import ImageError, process_image

        try:
            processed = await asyncio.to_thread(
                process_image, data, max_pixels=self.max_pixels, purpose=purpose
            )
        except ImageError as exc:
            raise MediaError(422, str(exc)) from None
        file_name, preview_name = await asyncio.to_thread(self._write, processed)
        original, preview = processed.original, processed.preview
        row = MediaAttachment(
            id=new_id(),
            account_id=account_id,
            status_id=None,
            purpose=purpose,
            content_type=original.content_type,
            file_name=file_name,
            preview_name=preview_name,
            file_size=len(original.data),
            width=original.width,
            height=original.height,
            preview_width=preview.width,
            preview_height=preview.height,
            blurhash=processed.blurhash,
            description=description,
            focus_x=focus[0],
            focus_y=focus[1],
        )
        try:
            async with sessions() as session, session.begin():
                session.add(row)
        except BaseException:
            self.remove(file_name, preview_name)
            raise
        log.info("stored %s %s for account %s", purpose, file_name, account_id)
        return row


def attachment_document(store: MediaStore, media: MediaAttachment) -> dict[str, Any]:
    """How a local attachment is kept in ``Status.attachments_json`` and sent in a Note
    (PROTOCOL.md A23, Mastodon's ``MediaAttachmentSerializer``). Keys starting with ``_``
    are ours (the media id and preview) and are left out of the Note."""
    return {
        "type": "Document",
        "mediaType": media.content_type,
        "url": store.url_of(media),
        "name": media.description,
        "blurhash": media.blurhash,
        "focalPoint": [media.focus_x, media.focus_y],
        "width": media.width,
        "height": media.height,
        "_id": str(media.id),
        "_local": True,
        "_preview_url": store.url_of(media, preview=True),
        "_preview_width": media.preview_width,
        "_preview_height": media.preview_height,
    }


async def attach_media(
    session: AsyncSession,
    store: MediaStore,
    account_id: int,
    media_ids: Sequence[str],
    *,
    status_id: int | None = None,
) -> list[MediaAttachment]:
    """The caller's attachments *media_ids*, in order, that are free (or already on
    *status_id*, when editing). Anything else — unknown, someone else's, an avatar,
    already posted — is refused with 422, as Mastodon does."""
    if len(media_ids) > MAX_ATTACHMENTS:
        raise MediaError(422, f"a post may have at most {MAX_ATTACHMENTS} attachments")
    if not media_ids:
        return []
    if not all(m.isdigit() and len(m) <= 20 for m in media_ids):
        raise MediaError(422, "media_ids must be ids")
    ids = [int(m) for m in dict.fromkeys(media_ids)]
    rows = {
        m.id: m
        for m in (
            await session.execute(select(MediaAttachment).where(MediaAttachment.id.in_(ids)))
        ).scalars()
    }
    missing = [
        str(i)
        for i in ids
        if (media := rows.get(i)) is None
        or media.account_id != account_id
        or media.purpose != "attachment"
        or media.status_id not in (None, status_id)
    ]
    if missing:
        raise MediaError(422, f"media attachments not found: {', '.join(missing)}")
    return [rows[i] for i in ids]


async def link_media(
    session: AsyncSession, status_id: int, media: Sequence[MediaAttachment]
) -> None:
    """Make *media* the attachments of *status_id*. Ones an edit dropped stay linked to the
    post, as in Mastodon: its edit history still shows them, and they cannot be reused."""
    if not media:
        return
    await session.execute(
        update(MediaAttachment)
        .where(MediaAttachment.id.in_([m.id for m in media]))
        .values(status_id=status_id)
    )


def remote_media_rows(statuses: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Media rows for the attachments of remote posts (rows of ``statuses`` whose
    ``attachments_json`` gave each attachment its ``_id``): the peer's URL, type, alt text,
    blurhash, size and focal point; no file is kept here (A23)."""
    rows = []
    for status in statuses:
        for item in json.loads(status["attachments_json"]):
            if not isinstance(item, dict) or "_id" not in item:
                continue
            focus = item.get("focalPoint") or [0.0, 0.0]
            rows.append(
                {
                    "id": int(item["_id"]),
                    "account_id": status["account_id"],
                    "status_id": status["id"],
                    "purpose": "attachment",
                    "content_type": str(item.get("mediaType") or "")[:64],
                    "file_name": None,
                    "preview_name": None,
                    "remote_url": item["url"],
                    "file_size": 0,
                    "width": item.get("width"),
                    "height": item.get("height"),
                    "preview_width": None,
                    "preview_height": None,
                    "blurhash": (item.get("blurhash") or None) and str(item["blurhash"])[:128],
                    "description": item.get("name"),
                    "focus_x": float(focus[0]),
                    "focus_y": float(focus[1]),
                    "created_at": status.get("created_at") or datetime.now(UTC),
                }
            )
    return rows


def apply_attributes(
    store: MediaStore, media: Sequence[MediaAttachment], attributes: Mapping[str, Mapping[str, str]]
) -> None:
    """Set the alt text and focal point of posted *media* from a status edit's
    ``media_attributes`` (by media id); naming media the post does not have is a 422."""
    by_id = {str(m.id): m for m in media}
    unknown = [i for i in attributes if i not in by_id]
    if unknown:
        raise MediaError(422, f"media_attributes name media the post lacks: {', '.join(unknown)}")
    for media_id, changes in attributes.items():
        row = by_id[media_id]
        if "description" in changes:
            row.description = store.check_description(changes["description"])
        if changes.get("focus"):
            row.focus_x, row.focus_y = parse_focus(changes["focus"])
