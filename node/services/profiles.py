"""Editing one's own profile, shared by the Mastodon API and the web settings (A5, C19).

Names are plain text; the note is typed as plain text and stored as sanitised HTML. Every
change is sent to the followers' nodes as ``Update(Person)``, so other departments see the
new name once their inbox worker has applied it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from activitypub.sanitize import html_to_plain
from node.db.engine import AsyncSession
from node.db.models import Account
from node.federation.documents import actor_document
from node.ids import new_id
from node.services.context import NodeContext
from node.services.text import render_text

__all__ = ["MAX_DISPLAY_NAME", "MAX_NOTE", "ProfileChanges", "note_source", "update_profile"]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
MAX_DISPLAY_NAME = 100
MAX_NOTE = 2000


@dataclass(frozen=True)
class ProfileChanges:
    """What to change; None leaves a value as it is."""

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    #: Profile fields as ``{"name", "value"}`` with the value already HTML-escaped.
    fields: list[dict[str, str]] | None = None
    #: URLs of newly stored pictures (``node.services.media``).
    avatar_url: str | None = None
    header_url: str | None = None


async def _no_lookup(_user: str, _host: str | None) -> Account | None:
    return None  # a profile note links no one: saving it must not WebFinger


def note_source(summary_html: str) -> str:
    """The plain text of a stored note, for the edit form (paragraphs and line breaks kept)."""
    return html_to_plain(summary_html)


async def update_profile(
    ctx: NodeContext, session: AsyncSession, account: Account, changes: ProfileChanges
) -> Account:
    """Apply *changes* to the local *account* and publish ``Update(Person)`` to its followers."""
    if changes.avatar_url is not None:
        account.avatar_url = changes.avatar_url
    if changes.header_url is not None:
        account.header_url = changes.header_url
    if changes.display_name is not None:
        account.display_name = ctx.sanitizer.clean_text(changes.display_name).strip()
    if changes.note is not None:
        rendered = await render_text(changes.note, lookup=_no_lookup, tag_url=ctx.urls.tag)
        account.summary = ctx.sanitizer.clean(rendered.html) if changes.note.strip() else ""
    if changes.locked is not None:
        account.manually_approves_followers = changes.locked
    if changes.bot is not None:
        account.actor_type = "Service" if changes.bot else "Person"
    if changes.discoverable is not None:
        account.discoverable = changes.discoverable
    if changes.fields is not None:
        account.fields_json = json.dumps(changes.fields, ensure_ascii=False)
    account.updated_at = datetime.now(UTC)
    person = actor_document(account, ctx.urls)
    person.pop("@context", None)
    await ctx.publisher.publish(
        session,
        account,
        {
            "id": ctx.urls.activity(account.username, new_id()),
            "type": "Update",
            "actor": account.uri,
            "to": [PUBLIC],
            "cc": [account.followers_url],
            "object": person,
        },
        followers=True,
    )
    return account
