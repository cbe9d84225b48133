"""A local person's profile: the one place that changes it and tells the organisation.

Every entry point (``PATCH /api/v1/accounts/update_credentials``, the web settings page,
``kantine directory import``) builds a :class:`ProfileChange` and calls
:func:`change_profile`. It validates everything before it writes anything (a bad value
raises :class:`ProfileError` naming the field, and nothing changes), applies the change,
and, when something really changed, queues an ``Update`` of the ``Person`` through the
durable delivery queue to the followers' nodes and to the directory node (issue 5, the
directory contract §2). :func:`push_person` re-sends a profile unchanged (``kantine
directory sync``) and :func:`remove_person` deletes a person everywhere.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select

from activitypub.contexts import default_context
from activitypub.errors import ActivityPubError
from activitypub.hosts import host_of
from activitypub.webfinger import parse_handle
from node.db.engine import AsyncSession
from node.db.models import (
    Account,
    Delivery,
    Follow,
    OutboxActivity,
    Profile,
    Status,
    Tombstone,
)
from node.federation.documents import actor_document
from node.federation.person import (
    LABELS,
    PERSON_TERMS,
    PersonProfile,
    profile_attachments,
)
from node.ids import new_id
from node.services.context import NodeContext
from node.services.graph import insert_ignore
from node.services.statuses import find_account, remove_status
from node.services.text import render_text

__all__ = [
    "MAX_FREE_FIELDS",
    "ProfileChange",
    "ProfileError",
    "change_profile",
    "directory_inbox",
    "label_attribute",
    "load_profile",
    "person_document",
    "push_person",
    "remove_person",
]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
#: The person's own profile fields, as ``configuration.accounts.max_profile_fields`` says.
MAX_FREE_FIELDS = 4
MAX_DISPLAY_NAME = 100
MAX_NOTE = 2000
MAX_TEXT = 200
MAX_PHONE = 40
MAX_EMAIL = 254
MAX_LIST_ITEMS = 30
MAX_ITEM = 100
MAX_FIELD_NAME = 255
MAX_FIELD_VALUE = 2048
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9 ()./\-]{3,40}(?: ?(?:x|ext\.?) ?[0-9]{1,6})?")
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}")
_LOCAL_NAME = re.compile(r"[a-z0-9_]{1,30}")


class ProfileError(ValueError):
    """A profile value is refused; ``field`` names it (``phone``, ``fields_attributes``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ProfileChange:
    """What to change; ``None`` leaves a value as it is, ``""`` or ``()`` clears it.

    Texts are plain text as people typed them; ``note`` becomes HTML here. ``manager`` is an
    actor id, a handle (``carol@hr.example``) or a local user name.
    """

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    job_title: str | None = None
    department: str | None = None
    location: str | None = None
    phone: str | None = None
    email: str | None = None
    expertise: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    manager: str | None = None
    #: (name, value) pairs, plain text; fields named like a structured one set that instead.
    fields: Sequence[tuple[str, str]] | None = None


def label_attribute(name: str) -> str | None:
    """The structured attribute a profile field's name stands for ("Afdeling" → department)."""
    key = " ".join(name.lower().replace("_", " ").split()).rstrip(":")
    for label in LABELS:
        if key == label.label.lower() or key in label.aliases:
            return label.attribute
    return None


def _line(field: str, value: str, limit: int) -> str:
    """One line of plain text: tags are text too (escaped when shown), controls refused."""
    value = " ".join(value.split())
    if _CONTROL.search(value):
        raise ProfileError(field, "contains control characters")
    if len(value) > limit:
        raise ProfileError(field, f"is longer than {limit} characters")
    return value


def _items(field: str, values: Sequence[str] | str) -> tuple[str, ...]:
    """A list given as a list, or as one text separated by ``;`` or ``,``."""
    if isinstance(values, str):
        values = re.split(r"[;,]", values)
    items = [_line(field, v, MAX_ITEM) for v in values]
    unique = tuple(dict.fromkeys(i for i in items if i))
    if len(unique) > MAX_LIST_ITEMS:
        raise ProfileError(field, f"at most {MAX_LIST_ITEMS} entries")
    return unique


def _phone(value: str) -> str:
    value = _line("phone", value, MAX_PHONE)
    if value and not _PHONE.fullmatch(value):
        raise ProfileError("phone", "expected digits, spaces and + ( ) - . / only")
    return value


def _email(value: str) -> str:
    value = _line("email", value, MAX_EMAIL)
    if value and not _EMAIL.fullmatch(value):
        raise ProfileError("email", "expected an address like name@example.org")
    return value


def _languages(values: Sequence[str] | str) -> tuple[str, ...]:
    items = _items("languages", values)
    bad = [i for i in items if not _LANGUAGE.fullmatch(i)]
    if bad:
        raise ProfileError("languages", f"expected language codes such as nl or en, got {bad[0]!r}")
    return tuple(i.lower() for i in items)


async def _manager_uri(
    ctx: NodeContext, session: AsyncSession, value: str, *, local_names: frozenset[str]
) -> str | None:
    """An actor id for a manager given as id, handle or local name; ProfileError if unknown."""
    value = value.strip()
    if not value:
        return None
    if len(value) > 2048:
        raise ProfileError("manager", "is too long")
    if value.startswith(("https://", "http://")):
        try:
            host = host_of(value)
        except ValueError:
            raise ProfileError("manager", "is not a valid URL") from None
        if host != ctx.domain and not ctx.policy.allows(host):
            raise ProfileError("manager", f"{host} is not a node of this organisation")
        return value
    if "@" in value.lstrip("@"):
        try:
            user, host = parse_handle(value)
        except ValueError as exc:
            raise ProfileError("manager", str(exc)) from None
        try:
            found = await find_account(ctx, session, user, host)
        except ActivityPubError as exc:
            raise ProfileError("manager", f"{value} could not be looked up: {exc.reason}") from None
        if found is None:
            raise ProfileError("manager", f"no person {value} found")
        return found.uri
    name = value.lstrip("@").lower()
    if not _LOCAL_NAME.fullmatch(name):
        raise ProfileError("manager", f"expected a user name, handle or actor id, got {value!r}")
    if name not in local_names:
        known = await session.scalar(
            select(Account.id).where(
                Account.username == name, Account.domain == ctx.domain, Account.local.is_(True)
            )
        )
        if known is None:
            raise ProfileError("manager", f"no person {name} on this node")
    return ctx.urls.actor(name)


def _free_fields(pairs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    cleaned: list[tuple[str, str]] = []
    for name, value in pairs:
        name, value = name.strip(), value.strip()
        if not name and not value:
            continue
        if len(name) > MAX_FIELD_NAME or len(value) > MAX_FIELD_VALUE:
            raise ProfileError("fields_attributes", "a profile field is too long")
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise ProfileError("fields_attributes", "a profile field contains control characters")
        cleaned.append((name, value))
    if len(cleaned) > MAX_FREE_FIELDS:
        raise ProfileError("fields_attributes", f"at most {MAX_FREE_FIELDS} profile fields")
    # Stored like Mastodon: the value as escaped HTML (apps render it as HTML).
    return tuple((n, html.escape(v)) for n, v in cleaned)


def _json_list(raw: str) -> tuple[str, ...]:
    try:
        data = json.loads(raw or "[]")
    except ValueError:
        return ()
    return tuple(str(v) for v in data) if isinstance(data, list) else ()


def _stored_fields(raw: str) -> tuple[tuple[str, str], ...]:
    try:
        data = json.loads(raw or "[]")
    except ValueError:
        return ()
    if not isinstance(data, list):
        return ()
    return tuple(
        (str(f.get("name", "")), str(f.get("value", ""))) for f in data if isinstance(f, dict)
    )


def _labels(raw: str) -> tuple[tuple[str, str], ...]:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return ()
    if not isinstance(data, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in data.items()))


def _as_profile(row: Profile | None, account: Account, node_name: str) -> PersonProfile:
    if row is None:
        # Before the first structured edit, the account's fields are all its own.
        return PersonProfile(department=node_name, free_fields=_stored_fields(account.fields_json))
    return PersonProfile(
        job_title=row.job_title,
        department=row.department or node_name,
        location=row.location,
        phone=row.phone,
        email=row.email,
        expertise=_json_list(row.expertise_json),
        languages=_json_list(row.languages_json),
        manager_uri=row.manager_uri,
        free_fields=_stored_fields(row.free_fields_json),
        labels=_labels(row.labels_json),
    )


async def load_profile(ctx: NodeContext, session: AsyncSession, account: Account) -> PersonProfile:
    """The person's profile as the actor document shows it (department defaults to the node)."""
    row = await session.get(Profile, account.id)
    return _as_profile(row, account, ctx.node_name)


async def person_document(
    ctx: NodeContext, session: AsyncSession, account: Account
) -> dict[str, Any]:
    """The full actor document of a local account, with its who-is-who profile (contract §1)."""
    if account.actor_type == "Application":
        return actor_document(account, ctx.urls)
    return actor_document(account, ctx.urls, await load_profile(ctx, session, account))


def directory_inbox(ctx: NodeContext) -> list[str]:
    """The directory node's shared inbox, or nothing when the node has no directory."""
    return [f"{ctx.directory_url}/inbox"] if ctx.directory_url else []


def _snapshot(account: Account, profile: PersonProfile) -> tuple[Any, ...]:
    return (
        account.display_name,
        account.summary,
        account.manually_approves_followers,
        account.actor_type,
        account.discoverable,
        profile,
    )


async def change_profile(
    ctx: NodeContext,
    session: AsyncSession,
    account: Account,
    change: ProfileChange,
    *,
    local_names: frozenset[str] = frozenset(),
) -> bool:
    """Validate and apply *change* to a local *account*; push it if anything changed.

    Raises :class:`ProfileError` before anything is written. *local_names* are people
    who will exist by the end of an import (a manager may come later in the file).
    Returns whether the profile changed (and an ``Update`` was queued).
    """
    row = await session.get(Profile, account.id)
    stored = _as_profile(row, account, "")  # department as stored: "" means the node's name
    values: dict[str, Any] = {}
    free = None
    labels = dict(stored.labels)
    if change.fields is not None:
        # Profile fields named like a structured one edit that one (Mastodon apps), and the
        # name the person chose ("Afdeling") stays the name shown.
        own: list[tuple[str, str]] = []
        for name, value in change.fields:
            attribute = label_attribute(name)
            if attribute is None:
                own.append((name, value))
            else:
                values[attribute] = value
                labels[attribute] = _line("fields_attributes", name, MAX_FIELD_NAME)
        free = _free_fields(own)
    for attribute in (
        "job_title",
        "department",
        "location",
        "phone",
        "email",
        "expertise",
        "languages",
    ):
        given = getattr(change, attribute)
        if given is not None:
            values[attribute] = given
    new = stored
    for attribute, value in values.items():
        if attribute == "job_title":
            new = replace(new, job_title=_line(attribute, value, MAX_TEXT))
        elif attribute == "department":
            new = replace(new, department=_line(attribute, value, MAX_TEXT))
        elif attribute == "location":
            new = replace(new, location=_line(attribute, value, MAX_TEXT))
        elif attribute == "phone":
            new = replace(new, phone=_phone(value))
        elif attribute == "email":
            new = replace(new, email=_email(value))
        elif attribute == "expertise":
            new = replace(new, expertise=_items("expertise", value))
        else:
            new = replace(new, languages=_languages(value))
    if free is not None:
        new = replace(new, free_fields=free, labels=tuple(sorted(labels.items())))
    if change.manager is not None:
        new = replace(
            new,
            manager_uri=await _manager_uri(ctx, session, change.manager, local_names=local_names),
        )
        if new.manager_uri == account.uri:
            raise ProfileError("manager", "a person cannot be their own manager")
    display_name = None
    if change.display_name is not None:
        display_name = _line(
            "display_name", ctx.sanitizer.clean_text(change.display_name), MAX_DISPLAY_NAME
        )
    summary = None
    if change.note is not None:
        if len(change.note) > MAX_NOTE:
            raise ProfileError("note", f"is longer than {MAX_NOTE} characters")

        async def no_lookup(_user: str, _host: str | None) -> Account | None:
            return None  # a profile note links no one: saving it must not WebFinger

        rendered = await render_text(change.note, lookup=no_lookup, tag_url=ctx.urls.tag)
        summary = ctx.sanitizer.clean(rendered.html) if change.note.strip() else ""
    # Everything is valid: write.
    old = _snapshot(account, stored)
    if display_name is not None:
        account.display_name = display_name or account.username
    if summary is not None:
        account.summary = summary
    if change.locked is not None:
        account.manually_approves_followers = change.locked
    if change.bot is not None:
        account.actor_type = "Service" if change.bot else "Person"
    if change.discoverable is not None:
        account.discoverable = change.discoverable
    if _snapshot(account, new) == old:
        return False
    now = datetime.now(UTC)
    if row is None:
        row = Profile(account_id=account.id)
        session.add(row)
    row.job_title = new.job_title
    row.department = new.department
    row.location = new.location
    row.phone = new.phone
    row.email = new.email
    row.expertise_json = json.dumps(list(new.expertise), ensure_ascii=False)
    row.languages_json = json.dumps(list(new.languages), ensure_ascii=False)
    row.manager_uri = new.manager_uri
    row.free_fields_json = json.dumps(
        [{"name": n, "value": v} for n, v in new.free_fields], ensure_ascii=False
    )
    row.labels_json = json.dumps(dict(new.labels), ensure_ascii=False)
    row.updated_at = now
    shown = replace(new, department=new.department or ctx.node_name)
    account.fields_json = json.dumps(
        [{"name": a["name"], "value": a["value"]} for a in profile_attachments(shown)],
        ensure_ascii=False,
    )
    account.updated_at = now
    await session.flush()
    await push_person(ctx, session, account, shown)
    return True


async def push_person(
    ctx: NodeContext,
    session: AsyncSession,
    account: Account,
    profile: PersonProfile | None = None,
) -> None:
    """Queue ``Update(Person)`` to the followers' nodes and the directory (contract §2)."""
    if profile is None:
        profile = await load_profile(ctx, session, account)
    person = actor_document(account, ctx.urls, profile)
    context = person.pop("@context")
    await ctx.publisher.publish(
        session,
        account,
        {
            "@context": context,
            "id": ctx.urls.activity(account.username, new_id()),
            "type": "Update",
            "actor": account.uri,
            "to": [PUBLIC],
            "cc": [account.followers_url],
            "object": person,
        },
        followers=True,
        inboxes=directory_inbox(ctx),
    )


async def remove_person(ctx: NodeContext, session: AsyncSession, account: Account) -> int:
    """Remove a local person everywhere: ``Delete`` of the actor, posts tombstoned (A6).

    The account row stays, suspended and without password or follows, so its key can sign
    the ``Delete`` and its id is never handed to someone else. Returns the posts removed.
    """
    now = datetime.now(UTC)
    # What the person sent and was not yet delivered is moot now, and would be refused
    # anyway (their actor answers 410 from now on): only the Delete goes out.
    await session.execute(
        delete(Delivery).where(
            Delivery.state == "pending",
            Delivery.activity_id.in_(
                select(OutboxActivity.id).where(OutboxActivity.account_id == account.id)
            ),
        )
    )
    await ctx.publisher.publish(
        session,
        account,
        {
            "@context": [*default_context(), dict(PERSON_TERMS)],
            "id": ctx.urls.activity(account.username, new_id()),
            "type": "Delete",
            "actor": account.uri,
            "to": [PUBLIC],
            "object": account.uri,
        },
        followers=True,
        inboxes=directory_inbox(ctx),
    )
    statuses = (
        (await session.execute(select(Status).where(Status.account_id == account.id)))
        .scalars()
        .all()
    )
    for status in statuses:
        await session.execute(
            insert_ignore(session, Tombstone).values(uri=status.uri, deleted_at=now)
        )
        await remove_status(session, status)
    await session.execute(
        delete(Follow).where(
            or_(Follow.account_id == account.id, Follow.target_account_id == account.id)
        )
    )
    account.suspended_at = now
    account.password_hash = None
    account.updated_at = now
    await session.flush()
    return len(statuses)
