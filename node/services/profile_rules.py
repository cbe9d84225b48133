"""The rules a profile value must meet, each refusal a :class:`ProfileError` naming the field.

Plain text only: tags are kept as text (escaped wherever shown), control characters are
refused, and every value has a length limit. A manager is an actor id on this node or an
allowlisted one, a handle looked up with WebFinger, or a local user name.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from sqlalchemy import select

from activitypub.errors import ActivityPubError
from activitypub.hosts import host_of
from activitypub.webfinger import parse_handle
from node.db.engine import AsyncSession
from node.db.models import Account
from node.federation.person import LABELS
from node.services.context import NodeContext
from node.services.statuses import find_account

__all__ = [
    "MAX_DISPLAY_NAME",
    "MAX_FIELD_NAME",
    "MAX_FREE_FIELDS",
    "MAX_NOTE",
    "MAX_PROFILE_FIELDS",
    "MAX_TEXT",
    "TEXT_ATTRIBUTES",
    "ProfileError",
    "check_email",
    "check_free_fields",
    "check_items",
    "check_languages",
    "check_line",
    "check_phone",
    "label_attribute",
    "manager_uri",
]

#: The person's own profile fields (Mastodon's limit).
MAX_FREE_FIELDS = 4
#: What ``configuration.accounts.max_profile_fields`` tells apps: the own fields plus one
#: per structured field, so an app that shows and sends back only that many rows keeps
#: them all.
MAX_PROFILE_FIELDS = MAX_FREE_FIELDS + len(LABELS)
#: The structured fields set as text, in their order (the manager is looked up instead).
TEXT_ATTRIBUTES = tuple(label.attribute for label in LABELS)
MAX_DISPLAY_NAME = 100
MAX_NOTE = 2000
MAX_TEXT = 200
MAX_PHONE = 40
MAX_EMAIL = 254
MAX_LIST_ITEMS = 30
MAX_ITEM = 100
#: A profile field's name and value, as Mastodon allows a local account
#: (``Account::Field::MAX_CHARACTERS_LOCAL``).
MAX_FIELD_NAME = 255
MAX_FIELD_VALUE = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9 ()./\-]{3,40}(?: ?(?:x|ext\.?) ?[0-9]{1,6})?")
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}")
_LOCAL_NAME = re.compile(r"[a-z0-9_]{1,30}")


class ProfileError(ValueError):
    """A profile value is refused; ``field`` names it (``phone``, ``fields_attributes``).

    For a profile field, ``index`` is its position (0-based) in the list given and ``part``
    says whether its ``name`` or its ``value`` is refused.
    """

    def __init__(
        self, field: str, message: str, *, index: int | None = None, part: str | None = None
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.index = index
        self.part = part


def label_attribute(name: str) -> str | None:
    """The structured attribute a profile field's name stands for ("Afdeling" → department)."""
    key = " ".join(name.lower().replace("_", " ").split()).rstrip(":")
    for label in LABELS:
        if key == label.label.lower() or key in label.aliases:
            return label.attribute
    return None


def check_line(field: str, value: str, limit: int) -> str:
    """One line of plain text: tags are text too (escaped when shown), controls refused."""
    value = " ".join(value.split())
    if _CONTROL.search(value):
        raise ProfileError(field, "contains control characters")
    if len(value) > limit:
        raise ProfileError(field, f"is longer than {limit} characters")
    return value


def check_items(field: str, values: Sequence[str] | str) -> tuple[str, ...]:
    """A list given as a list, or as one text separated by ``;`` or ``,``."""
    if isinstance(values, str):
        values = re.split(r"[;,]", values)
    items = [check_line(field, v, MAX_ITEM) for v in values]
    unique = tuple(dict.fromkeys(i for i in items if i))
    if len(unique) > MAX_LIST_ITEMS:
        raise ProfileError(field, f"at most {MAX_LIST_ITEMS} entries")
    return unique


def check_phone(value: str) -> str:
    value = check_line("phone", value, MAX_PHONE)
    if value and not _PHONE.fullmatch(value):
        raise ProfileError("phone", "expected digits, spaces and + ( ) - . / only")
    return value


def check_email(value: str) -> str:
    value = check_line("email", value, MAX_EMAIL)
    if value and not _EMAIL.fullmatch(value):
        raise ProfileError("email", "expected an address like name@example.org")
    return value


def check_languages(values: Sequence[str] | str) -> tuple[str, ...]:
    items = check_items("languages", values)
    bad = [i for i in items if not _LANGUAGE.fullmatch(i)]
    if bad:
        raise ProfileError("languages", f"expected language codes such as nl or en, got {bad[0]!r}")
    return tuple(i.lower() for i in items)


async def manager_uri(
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


def check_free_fields(
    pairs: Sequence[tuple[str, str]], positions: Sequence[int] | None = None
) -> tuple[tuple[str, str], ...]:
    """A person's own profile fields: at most four, each with a name, each part ≤ 255 characters.

    *positions* are the places of *pairs* in the list the person sent (errors name those);
    rows with neither a name nor a value are left out, as Mastodon does.
    """
    cleaned: list[tuple[str, str]] = []
    for n, (name, value) in enumerate(pairs):
        index = positions[n] if positions is not None else n
        name, value = name.strip(), value.strip()
        if not name and not value:
            continue
        where = f"profile field {index + 1}"
        for part, text, limit in (
            ("name", name, MAX_FIELD_NAME),
            ("value", value, MAX_FIELD_VALUE),
        ):
            if len(text) > limit:
                raise ProfileError(
                    "fields_attributes",
                    f"{where}: the {part} is too long (at most {limit} characters)",
                    index=index,
                    part=part,
                )
            if _CONTROL.search(text):
                raise ProfileError(
                    "fields_attributes",
                    f"{where}: the {part} contains control characters",
                    index=index,
                    part=part,
                )
        if not name:
            raise ProfileError(
                "fields_attributes", f"{where} has a value but no name", index=index, part="name"
            )
        cleaned.append((name, value))
    if len(cleaned) > MAX_FREE_FIELDS:
        raise ProfileError("fields_attributes", f"at most {MAX_FREE_FIELDS} profile fields")
    # Stored like Mastodon: the value as escaped HTML (apps render it as HTML).
    return tuple((n, html.escape(v)) for n, v in cleaned)
