"""Editing one's own profile: ``PATCH /api/v1/accounts/update_credentials`` (PROTOCOL.md C19, C34; A5).

Text fields (display name, note, locked, bot, discoverable, profile fields) and the
``avatar`` and ``header`` pictures (multipart; processed as media uploads are). The note and field values are typed as plain text and stored as
HTML. Every change is sent to the followers' nodes as ``Update(Person)``, so other
departments see the new name once their inbox worker has applied it.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import func, select

from node.api.mastodon.access import account_row, context_of, flag, signed_in
from node.api.mastodon.common import ApiError, ApiRoutes, json_response
from node.api.mastodon.entities import credential_account
from node.api.mastodon.media import read_upload
from node.appkeys import MEDIA
from node.db.models import Account, Follow, MediaAttachment
from node.federation.documents import actor_document
from node.ids import new_id
from node.services.media import MediaError
from node.services.text import render_text

__all__ = ["MAX_FIELDS", "routes"]

routes = ApiRoutes()

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
#: As ``configuration.accounts.max_profile_fields`` tells clients (``instance``).
MAX_FIELDS = 4
_MAX_NAME = 100
_MAX_NOTE = 2000
_MAX_FIELD_NAME = 255
_MAX_FIELD_VALUE = 2048
_FIELD_KEY = re.compile(r"fields_attributes\[(\d{1,2})?\]\[(name|value)\]")


def _text(values: MultiDictProxy[Any], name: str, limit: int) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be text")
    if len(value) > limit:
        raise ApiError(422, f"{name} is longer than {limit} characters")
    return value


def _fields(values: MultiDictProxy[Any]) -> list[dict[str, str]] | None:
    """``fields_attributes[i][name|value]`` (forms) or ``fields_attributes[][…]`` (flattened JSON)."""
    indexed: dict[int, dict[str, str]] = {}
    unindexed: dict[str, list[str]] = {"name": [], "value": []}
    seen = False
    for key, value in values.items():
        match = _FIELD_KEY.fullmatch(key)
        if match is None:
            continue
        seen = True
        if not isinstance(value, str):
            raise ApiError(422, "profile fields must be text")
        if match[1] is None:
            unindexed[match[2]].append(value)
        else:
            indexed.setdefault(int(match[1]), {})[match[2]] = value
    if not seen:
        return None
    pairs = [(f.get("name", ""), f.get("value", "")) for _, f in sorted(indexed.items())]
    pairs += list(zip(unindexed["name"], unindexed["value"], strict=False))
    pairs = [(n.strip(), v.strip()) for n, v in pairs if n.strip() or v.strip()]
    if len(pairs) > MAX_FIELDS:
        raise ApiError(422, f"at most {MAX_FIELDS} profile fields")
    if any(len(n) > _MAX_FIELD_NAME or len(v) > _MAX_FIELD_VALUE for n, v in pairs):
        raise ApiError(422, "a profile field is too long")
    return [{"name": n, "value": html.escape(v)} for n, v in pairs]


@routes.patch("/api/v1/accounts/update_credentials")
async def update_credentials(request: web.Request) -> web.StreamResponse:
    """Change the caller's profile → CredentialAccount; followers' nodes get ``Update(Person)``."""
    viewer = await signed_in(request, "write:accounts")
    store = request.app[MEDIA]
    upload = await read_upload(request, {"avatar", "header"}, store.max_bytes)
    values = upload.values
    display_name = _text(values, "display_name", _MAX_NAME)
    note = _text(values, "note", _MAX_NOTE)
    fields = _fields(values)
    ctx = context_of(request)
    pictures: dict[str, MediaAttachment] = {}
    try:
        for purpose in ("avatar", "header"):
            if (data := upload.files.get(purpose)) is not None:
                pictures[purpose] = await store.store_upload(
                    ctx.sessions, viewer.id, data, purpose=purpose
                )
    except MediaError as exc:
        await store.discard(ctx.sessions, pictures.values())
        raise ApiError(exc.status, f"{purpose}: {exc.message}") from None
    try:
        replaced = await _save(request, viewer.id, display_name, note, fields, values, pictures)
    except BaseException:
        await store.discard(ctx.sessions, pictures.values())
        raise
    for old in replaced:  # committed: the previous avatar or header is no longer shown
        store.remove(old.file_name, old.preview_name)
    async with ctx.sessions() as session:
        row = await account_row(session, viewer.id)
        requests = await session.scalar(
            select(func.count())
            .select_from(Follow)
            .where(Follow.target_account_id == viewer.id, Follow.state == "pending")
        )
    return json_response(credential_account(row, ctx, int(requests or 0)))


async def _save(
    request: web.Request,
    account_id: int,
    display_name: str | None,
    note: str | None,
    fields: list[dict[str, str]] | None,
    values: MultiDictProxy[Any],
    pictures: dict[str, MediaAttachment],
) -> list[MediaAttachment]:
    """Store the profile changes and queue ``Update(Person)`` to the followers (A5); returns
    the avatar and header rows the new pictures replaced (already deleted)."""
    ctx = context_of(request)
    store = request.app[MEDIA]
    async with ctx.sessions() as session, session.begin():
        me = await session.get(Account, account_id)
        assert me is not None  # the token's account
        replaced = await store.replaced(session, account_id, pictures.values())
        if "avatar" in pictures:
            me.avatar_url = store.url_of(pictures["avatar"])
        if "header" in pictures:
            me.header_url = store.url_of(pictures["header"])
        if display_name is not None:
            me.display_name = ctx.sanitizer.clean_text(display_name).strip()
        if note is not None:

            async def no_lookup(_user: str, _host: str | None) -> Account | None:
                return None  # a profile note links no one: saving it must not WebFinger

            rendered = await render_text(note, lookup=no_lookup, tag_url=ctx.urls.tag)
            me.summary = ctx.sanitizer.clean(rendered.html) if note.strip() else ""
        if "locked" in values:
            me.manually_approves_followers = flag(values.get("locked"), "locked")
        if "bot" in values:
            me.actor_type = "Service" if flag(values.get("bot"), "bot") else "Person"
        if "discoverable" in values:
            me.discoverable = flag(values.get("discoverable"), "discoverable")
        if fields is not None:
            me.fields_json = json.dumps(fields, ensure_ascii=False)
        me.updated_at = datetime.now(UTC)
        person = actor_document(me, ctx.urls)
        person.pop("@context", None)
        await ctx.publisher.publish(
            session,
            me,
            {
                "id": ctx.urls.activity(me.username, new_id()),
                "type": "Update",
                "actor": me.uri,
                "to": [PUBLIC],
                "cc": [me.followers_url],
                "object": person,
            },
            followers=True,
        )
    return replaced
