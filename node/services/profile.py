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

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select

from activitypub.contexts import default_context
from activitypub.hosts import host_of
from activitypub.sanitize import html_to_plain
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
    PERSON_TERMS,
    PersonProfile,
    profile_attachments,
)
from node.ids import new_id
from node.services.context import NodeContext
from node.services.graph import insert_ignore
from node.services.media import MediaStore
from node.services.media_cleanup import forget_media
from node.services.profile_rules import (
    MAX_DISPLAY_NAME,
    MAX_FIELD_NAME,
    MAX_FREE_FIELDS,
    MAX_NOTE,
    MAX_TEXT,
    TEXT_ATTRIBUTES,
    ProfileError,
    check_email,
    check_free_fields,
    check_items,
    check_languages,
    check_line,
    check_phone,
    label_attribute,
    manager_uri,
)
from node.services.statuses import remove_status
from node.services.text import render_text

__all__ = [
    "MAX_FREE_FIELDS",
    "ProfileChange",
    "ProfileError",
    "change_profile",
    "directory_inbox",
    "known_inboxes",
    "label_attribute",
    "load_profile",
    "note_source",
    "person_document",
    "push_person",
    "remove_person",
]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def note_source(summary_html: str) -> str:
    """The plain text of a stored note, for an edit form (paragraphs and line breaks kept)."""
    return html_to_plain(summary_html)


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
    #: URLs of a new photo and header, already processed and stored (node.services.media).
    avatar_url: str | None = None
    header_url: str | None = None


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


async def known_inboxes(ctx: NodeContext, session: AsyncSession) -> list[str]:
    """The inbox of every allowed node this one knows someone on.

    A person who leaves is deleted there too, not only at their followers' nodes: a node
    that met them in a search keeps their account otherwise. Mastodon sends an account's
    ``Delete`` the same way (followers first, then every known inbox).
    """
    rows = await session.execute(
        select(Account.shared_inbox_url, Account.inbox_url)
        .where(Account.local.is_(False), Account.suspended_at.is_(None))
        .distinct()
    )
    found: list[str] = []
    for inbox in dict.fromkeys(shared or inbox for shared, inbox in rows):
        try:
            if ctx.policy.allows(host_of(inbox)):
                found.append(inbox)
        except ValueError:
            continue  # a stored URL without a usable host: nothing to deliver to
    return found


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
        account.avatar_url,
        account.header_url,
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
        positions: list[int] = []
        for position, (name, value) in enumerate(change.fields):
            attribute = label_attribute(name)
            if attribute is None:
                own.append((name, value))
                positions.append(position)
            else:
                values[attribute] = value
                labels[attribute] = check_line("fields_attributes", name, MAX_FIELD_NAME)
        free = check_free_fields(own, positions)
    for attribute in TEXT_ATTRIBUTES:
        given = getattr(change, attribute)
        if given is not None:
            values[attribute] = given
    new = stored
    for attribute, value in values.items():
        if attribute == "job_title":
            new = replace(new, job_title=check_line(attribute, value, MAX_TEXT))
        elif attribute == "department":
            new = replace(new, department=check_line(attribute, value, MAX_TEXT))
        elif attribute == "location":
            new = replace(new, location=check_line(attribute, value, MAX_TEXT))
        elif attribute == "phone":
            new = replace(new, phone=check_phone(value))
        elif attribute == "email":
            new = replace(new, email=check_email(value))
        elif attribute == "expertise":
            new = replace(new, expertise=check_items("expertise", value))
        else:
            new = replace(new, languages=check_languages(value))
    if free is not None:
        new = replace(new, free_fields=free, labels=tuple(sorted(labels.items())))
    if change.manager is not None:
        new = replace(
            new,
            manager_uri=await manager_uri(ctx, session, change.manager, local_names=local_names),
        )
        if new.manager_uri == account.uri:
            raise ProfileError("manager", "a person cannot be their own manager")
    display_name = None
    if change.display_name is not None:
        display_name = check_line(
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
    if change.avatar_url is not None:
        account.avatar_url = change.avatar_url
    if change.header_url is not None:
        account.header_url = change.header_url
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
        # The directory holds people; a bot's profile goes to its followers only.
        inboxes=directory_inbox(ctx) if account.actor_type == "Person" else (),
    )


async def remove_person(
    ctx: NodeContext, session: AsyncSession, account: Account, *, media: MediaStore | None = None
) -> int:
    """Remove a local person everywhere: ``Delete`` of the actor, posts tombstoned (A6).

    With *media* (the node's store), their uploads go too: rows now, files once committed.

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
        inboxes=[*directory_inbox(ctx), *await known_inboxes(ctx, session)],
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
    if media is not None:
        await forget_media(session, media, account.id)
    account.suspended_at = now
    account.password_hash = None
    account.updated_at = now
    await session.flush()
    return len(statuses)
