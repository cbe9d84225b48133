"""The profile settings page: photo, name, bio, the who-is-who fields and the person's own fields.

Everything goes through :func:`node.services.profile.change_profile`, the one profile service
(the Mastodon API and the directory import use it too): it checks every value before it
writes anything, and sends the new profile to the followers' nodes and the directory. A
refused value comes back as a :class:`~node.services.profile_rules.ProfileError` naming the
field, shown beside it. The photo goes through the media service's avatar path first; if
the rest is refused, the stored photo is removed again. The person's own profile fields
(Mastodon's "extra fields", ``PropertyValue`` name/value pairs, at most four) are the
``fields`` of the same change, as ``fields_attributes`` is for the API.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from node.appkeys import CONTEXT, MEDIA
from node.db.models import Account, MediaAttachment
from node.services.media import MediaError
from node.services.profile import (
    ProfileChange,
    ProfileError,
    change_profile,
    load_profile,
    note_source,
)
from node.services.profile_rules import (
    MAX_DISPLAY_NAME,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_FREE_FIELDS,
    MAX_NOTE,
    TEXT_ATTRIBUTES,
    label_attribute,
)
from web.current import gettext, require_user
from web.forms import field
from web.pages.settings import saved_message
from web.render import render

__all__ = ["STRUCTURED", "routes"]

routes = web.RouteTableDef()

#: The structured fields of the form, in order (names as in ``ProfileChange``).
STRUCTURED = (*TEXT_ATTRIBUTES, "manager")
_LIMIT = 4000
#: Rows of own profile fields read from a form: the page shows MAX_FREE_FIELDS, a crafted
#: form may send more and gets the service's "at most 4" back, never a silent cut.
_MAX_ROWS = 16


def _row_names(index: int) -> tuple[str, str]:
    return f"field-{index}-name", f"field-{index}-value"


def _rows(form: MultiDictProxy[Any]) -> list[tuple[str, str]]:
    """The own-field rows of the form, in order, up to the last one sent."""
    rows: list[tuple[str, str]] = []
    for index in range(_MAX_ROWS):
        name_key, value_key = _row_names(index)
        if name_key not in form and value_key not in form:
            break
        rows.append((field(form, name_key, _LIMIT), field(form, value_key, _LIMIT)))
    return rows


def _padded(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return rows + [("", "")] * (MAX_FREE_FIELDS - len(rows))


async def _values(
    request: web.Request, account_id: int
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The form's values as stored, and the own profile fields as rows."""
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None  # the session's own account
        profile = await load_profile(ctx, session, account)
    manager = profile.manager_uri or ""
    local = ctx.urls.actor("")
    if manager.startswith(local):
        manager = manager[len(local) :]
    values = {
        "display_name": account.display_name,
        "note": note_source(account.summary),
        "avatar_url": account.avatar_url or "",
        "job_title": profile.job_title,
        # Empty means the node's own name: show it as the placeholder, not as a value.
        "department": "" if profile.department == ctx.node_name else profile.department,
        "location": profile.location,
        "phone": profile.phone,
        "email": profile.email,
        "expertise": ", ".join(profile.expertise),
        "languages": ", ".join(profile.languages),
        "manager": manager,
    }
    # Stored as Mastodon does, as escaped HTML; the form shows the text as typed.
    own = [(name, html.unescape(value)) for name, value in profile.free_fields]
    return values, _padded(own)


def _page(
    request: web.Request,
    values: dict[str, str],
    rows: list[tuple[str, str]],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext(request)
    context: dict[str, Any] = {
        "title": _("Profile"),
        "values": values,
        "rows": rows,
        "limits": {"name": MAX_FIELD_NAME, "value": MAX_FIELD_VALUE, "count": MAX_FREE_FIELDS},
        "errors": errors or {},
        "saved": saved_message(request),
        "node_department": request.app[CONTEXT].node_name,
    }
    return render(request, "settings/profile.html", context, status=status)


@routes.get("/settings/profile")
async def profile_page(request: web.Request) -> web.StreamResponse:
    """Photo, name, bio and the who-is-who fields."""
    user = require_user(request)
    values, rows = await _values(request, user.account_id)
    return _page(request, values, rows)


def _photo_bytes(form: MultiDictProxy[Any], limit: int) -> bytes | None:
    """The uploaded photo (at most *limit* + 1 bytes read), or None when none was chosen."""
    photo = form.get("avatar")
    if not isinstance(photo, FileField) or not photo.filename:
        return None
    return photo.file.read(limit + 1)


async def _store_photo(
    request: web.Request, account_id: int, data: bytes, errors: dict[str, str]
) -> MediaAttachment | None:
    """Process and keep the photo as a media row (the Mastodon API's avatar path)."""
    _ = gettext(request)
    store = request.app[MEDIA]
    too_large = _("The photo is larger than %(size)d MB.") % {
        "size": store.max_bytes // (1024 * 1024)
    }
    if len(data) > store.max_bytes:
        errors["avatar"] = too_large
        return None
    try:
        return await store.store_upload(
            request.app[CONTEXT].sessions, account_id, data, purpose="avatar"
        )
    except MediaError as exc:
        errors["avatar"] = (
            too_large
            if exc.status == 413
            else _("This file is not a picture we can use (JPEG, PNG, WebP or GIF).")
        )
        return None


def _field_message(request: web.Request, exc: ProfileError) -> str:
    """The service's refusal of an own profile field, in the reader's language."""
    _ = gettext(request)
    if exc.index is None:
        return _("At most %(count)d extra fields.") % {"count": MAX_FREE_FIELDS}
    if "no name" in exc.message:
        return _("Give this field a name too.")
    if "control characters" in exc.message:
        return _("Remove the control characters.")
    if exc.part == "name":
        return _("The name is at most %(count)d characters.") % {"count": MAX_FIELD_NAME}
    return _("The value is at most %(count)d characters.") % {"count": MAX_FIELD_VALUE}


def _field_error_key(exc: ProfileError) -> str:
    return "fields" if exc.index is None else f"field-{exc.index}"


def _profile_message(request: web.Request, exc: ProfileError) -> str:
    """The service's refusal in the reader's language."""
    _ = gettext(request)
    if exc.field == "fields_attributes":
        return _field_message(request, exc)
    text = exc.message
    if "longer than" in text or "too long" in text:
        return _("This is too long.")
    if "control characters" in text:
        return _("Remove the control characters.")
    if "entries" in text:
        return _("At most 30 entries.")
    by_field = {
        "phone": _("Use digits, spaces and + ( ) - . / only."),
        "email": _("Enter an address like name@example.org."),
        "languages": _("Use language codes such as nl or en, separated by commas."),
        "manager": _(
            "No such person found: use a user name, a handle like carol@hr.example, "
            "or their address."
        ),
    }
    return by_field.get(exc.field, text)


@routes.post("/settings/profile")
async def profile_submit(request: web.Request) -> web.StreamResponse:
    """Save the profile; followers' nodes and the directory get ``Update(Person)``."""
    user = require_user(request)
    _ = gettext(request)
    form = await request.post()
    typed = {name: field(form, name, _LIMIT) for name in ("display_name", "note", *STRUCTURED)}
    errors: dict[str, str] = {}
    if not typed["display_name"].strip():
        errors["display_name"] = _("Enter the name people see.")
    elif len(typed["display_name"]) > MAX_DISPLAY_NAME:
        errors["display_name"] = _("At most %(count)d characters.") % {"count": MAX_DISPLAY_NAME}
    if len(typed["note"]) > MAX_NOTE:
        errors["note"] = _("At most %(count)d characters.") % {"count": MAX_NOTE}
    rows = _rows(form)
    for index, (name, _value) in enumerate(rows):
        # A row named like a box above ("Department") would be saved into that box, where
        # the box's own value then overwrites it: say so instead of losing either.
        if label_attribute(name) is not None:
            errors[f"field-{index}"] = _(
                "“%(name)s” has its own box under Who is who: fill it in there."
            ) % {"name": name.strip()}
    store = request.app[MEDIA]
    photo: MediaAttachment | None = None
    data = _photo_bytes(form, store.max_bytes)
    if data is not None and not errors:
        photo = await _store_photo(request, user.account_id, data, errors)
    if not errors:
        change = ProfileChange(
            display_name=typed["display_name"],
            note=typed["note"],
            job_title=typed["job_title"],
            department=typed["department"],
            location=typed["location"],
            phone=typed["phone"],
            email=typed["email"],
            expertise=typed["expertise"],
            languages=typed["languages"],
            manager=typed["manager"],
            fields=rows,
            avatar_url=store.url_of(photo) if photo is not None else None,
        )
        ctx = request.app[CONTEXT]
        try:
            async with ctx.sessions() as session, session.begin():
                account = await session.get(Account, user.account_id)
                assert account is not None
                await change_profile(ctx, session, account, change)
        except ProfileError as exc:
            key = _field_error_key(exc) if exc.field == "fields_attributes" else exc.field
            errors[key] = _profile_message(request, exc)
        except BaseException:
            if photo is not None:
                await store.discard(ctx.sessions, [photo])
            raise
        else:
            raise web.HTTPSeeOther("/settings/profile?saved=1")
        if photo is not None:
            await store.discard(ctx.sessions, [photo])
    values, _stored = await _values(request, user.account_id)
    values |= {name: value[:_LIMIT] for name, value in typed.items()}
    return _page(request, values, _padded(rows), errors=errors, status=422)
