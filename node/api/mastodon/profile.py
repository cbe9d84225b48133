"""Editing one's own profile: ``PATCH /api/v1/accounts/update_credentials`` (PROTOCOL.md C19, C34; A5).

Text fields (display name, note, locked, bot, discoverable, profile fields) and the
who-is-who profile (issue 5): ``job_title``, ``department``, ``location``, ``phone``,
``email``, ``expertise[]``, ``languages[]``, ``manager``, or, as any Mastodon app sends them,
profile fields named "Department", "Afdeling", "Location", …, and the ``avatar`` and
``header`` pictures (multipart; processed as media uploads are). The handler parses;
:func:`node.services.profile.change_profile` validates, stores and sends ``Update(Person)``
to the followers' nodes and the directory.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from node.api.mastodon.access import context_of, credential_json, flag, signed_in
from node.api.mastodon.common import ApiError, ApiRoutes, json_response
from node.api.mastodon.media import read_upload
from node.appkeys import MEDIA
from node.db.models import Account, MediaAttachment
from node.services.media import MediaError
from node.services.profile import MAX_FREE_FIELDS, ProfileChange, ProfileError, change_profile

__all__ = ["MAX_FIELDS", "routes"]

routes = ApiRoutes()

#: The person's own fields; fields named like a structured one ("Department") come on top
#: (``configuration.accounts.max_profile_fields`` counts both).
MAX_FIELDS = MAX_FREE_FIELDS
#: Raw parameters longer than this are refused outright; the service has the real limits.
_MAX_INPUT = 10_000
#: Own fields plus the structured ones an app may show and send back.
_MAX_PAIRS = 16
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


def _fields(values: MultiDictProxy[Any]) -> list[tuple[str, str]] | None:
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
    if len(pairs) > _MAX_PAIRS:
        raise ApiError(422, f"at most {_MAX_PAIRS} profile fields")
    return pairs


def _list(values: MultiDictProxy[Any], name: str) -> list[str] | None:
    """A list parameter: ``name[]`` repeated (forms, flattened JSON) or one text with ``;``/``,``."""
    items = values.getall(f"{name}[]", None)
    if items is None:
        single = values.get(name)
        return None if single is None else [str(single)]
    if not all(isinstance(i, str) for i in items):
        raise ApiError(422, f"{name} must be text")
    return [str(i) for i in items]


def _flag(values: MultiDictProxy[Any], name: str) -> bool | None:
    return flag(values.get(name), name) if name in values else None


@routes.patch("/api/v1/accounts/update_credentials")
async def update_credentials(request: web.Request) -> web.StreamResponse:
    """Change the caller's profile → CredentialAccount; followers' nodes get ``Update(Person)``."""
    viewer = await signed_in(request, "write:accounts")
    store = request.app[MEDIA]
    upload = await read_upload(request, {"avatar", "header"}, store.max_bytes)
    values = upload.values
    expertise = _list(values, "expertise")
    languages = _list(values, "languages")
    change = ProfileChange(
        display_name=_text(values, "display_name", _MAX_INPUT),
        note=_text(values, "note", _MAX_INPUT),
        locked=_flag(values, "locked"),
        bot=_flag(values, "bot"),
        discoverable=_flag(values, "discoverable"),
        job_title=_text(values, "job_title", _MAX_INPUT),
        department=_text(values, "department", _MAX_INPUT),
        location=_text(values, "location", _MAX_INPUT),
        phone=_text(values, "phone", _MAX_INPUT),
        email=_text(values, "email", _MAX_INPUT),
        expertise=expertise,
        languages=languages,
        manager=_text(values, "manager", _MAX_INPUT),
        fields=_fields(values),
    )
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
    if "avatar" in pictures:
        change = replace(change, avatar_url=store.url_of(pictures["avatar"]))
    if "header" in pictures:
        change = replace(change, header_url=store.url_of(pictures["header"]))
    try:
        async with ctx.sessions() as session, session.begin():
            me = await session.get(Account, viewer.id)
            assert me is not None  # the token's account
            # The avatar or header the new ones replace: rows go with this transaction.
            replaced = await store.replaced(session, viewer.id, pictures.values())
            try:
                await change_profile(ctx, session, me, change)
            except ProfileError as exc:
                # Raised before anything was written; the transaction is rolled back anyway.
                raise ApiError(422, str(exc)) from None
    except BaseException:
        await store.discard(ctx.sessions, pictures.values())
        raise
    for old in replaced:  # committed: the previous pictures are no longer shown
        store.remove(old.file_name, old.preview_name)
    async with ctx.sessions() as session:
        return json_response(await credential_json(session, ctx, viewer.id))
