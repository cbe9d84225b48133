"""Streams and what each shows one viewer (PROTOCOL.md C31; SECURITY.md row 11).

A stream event names a status or a notification; :func:`render` loads it *for the viewer*
with the same select and the same visibility predicate as the REST timelines
(``queries.status_select``, ``notifications.notification_select``), and decides per
subscribed channel whether it belongs there: the home feed for ``user``, the public
timeline rules for ``public*`` and ``hashtag*``, direct messages for ``direct``.
Whatever the viewer may not see renders to nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select

from node.api.mastodon.common import ApiError
from node.api.mastodon.conversations import conversation_entities
from node.api.mastodon.entities import notification_entity, status_entity
from node.api.mastodon.filtering import apply_filters, apply_to_notifications
from node.api.mastodon.lists import exclusive_hidden, list_member_filter
from node.api.mastodon.notifications import notification_select
from node.api.mastodon.queries import RECORD, Viewer, status_select, unmuted, viewer_flags
from node.db.engine import AsyncSession
from node.db.models import Conversation, HomeFeedEntry, Notification, Status, UserList
from node.services.context import NodeContext
from node.services.events import StreamEvent
from node.services.text import normalise_tag

__all__ = ["STREAMS", "Channel", "Message", "channel", "render"]

#: The streams Kantine serves.
STREAMS = frozenset(
    {
        "list",
        "user",
        "user:notification",
        "public",
        "public:media",
        "public:local",
        "public:local:media",
        "public:remote",
        "public:remote:media",
        "hashtag",
        "hashtag:local",
        "direct",
    }
)

_PUBLIC_DELETES = {"public", "unlisted", "local"}
_PRIVATE_DELETES = {"user", "direct", "list"}
#: The filter context of each stream (``direct`` has none, as in Mastodon).
_FILTER_CONTEXTS = {"user": "home", "list": "home", "public": "public", "hashtag": "public"}


@dataclass(frozen=True)
class Channel:
    """One subscribed stream: its name and, for hashtag streams, the (folded) tag."""

    name: str
    tag: str = ""

    @property
    def stream(self) -> list[str]:
        """The ``stream`` field of a WebSocket message (``["hashtag", "tag"]``)."""
        return [self.name, self.tag] if self.tag else [self.name]

    @property
    def scope(self) -> str:
        """The scope a token needs for this stream (Mastodon ≥ 4.2, CVE-2025-62176)."""
        if self.name == "list":
            return "read:lists"
        return "read:notifications" if self.name == "user:notification" else "read:statuses"


@dataclass(frozen=True)
class Message:
    """An event for one channel: the event name and its payload string (C31)."""

    channel: Channel
    event: str
    payload: str


def channel(name: str, tag: str | None = None, list_id: str | None = None) -> Channel:
    """The channel *name* (with *tag* for hashtag streams, *list_id* for a list), or 400.

    Whether the list is the viewer's is checked when subscribing (``streaming``) and again
    for every event (:func:`_lists`): another person's list shows nothing.
    """
    if name not in STREAMS:
        raise ApiError(400, "Unknown stream type")
    if name == "list":
        if not list_id or not list_id.isdigit() or len(list_id) > 19:
            raise ApiError(400, "A list stream needs a list id")
        return Channel(name, list_id)
    if name.startswith("hashtag"):
        folded = normalise_tag((tag or "").lstrip("#"))[:255]
        if not folded:
            raise ApiError(400, "A hashtag stream needs a tag")
        return Channel(name, folded)
    return Channel(name)


def _public(row: Mapping[str, Any], viewer: Viewer, name: str) -> bool:
    """The public timeline's rules (``timelines._public``): no boosts, no replies to others."""
    shown = {"public", "local"} if viewer.local else {"public"}
    if row["s_visibility"] not in shown or row["s_reblog_of_id"] is not None:
        return False
    replied = row["s_in_reply_to_account_id"]
    if replied is not None and replied != row["s_account_id"]:
        return False
    if ":local" in name and not row["s_local"]:
        return False
    if ":remote" in name and row["s_local"]:
        return False
    return not (name.endswith(":media") and (row["s_attachments_json"] or "[]") == "[]")


def _belongs(row: Mapping[str, Any], viewer: Viewer, chan: Channel) -> bool:
    name = chan.name
    if name == "user":  # an exclusive list's members show on that list only
        return bool(row["in_home"]) and bool(row["not_exclusive"])
    if name == "direct":
        return bool(row["s_visibility"] == "direct")
    if name.startswith("public"):
        return _public(row, viewer, name)
    if name.startswith("hashtag"):
        tags = (row["s_tags"] or "").split(RECORD)
        scope = "public:local" if name == "hashtag:local" else "public"
        return chan.tag in tags and _public(row, viewer, scope)
    return False


async def _statuses(
    session: AsyncSession,
    ctx: NodeContext,
    viewer: Viewer,
    channels: Collection[Channel],
    item: StreamEvent,
) -> list[Message]:
    in_home = exists().where(
        HomeFeedEntry.account_id == viewer.id, HomeFeedEntry.status_id == Status.id
    )
    query = status_select(
        viewer,
        in_home.label("in_home"),
        unmuted(viewer).label("unmuted"),
        exclusive_hidden(viewer).label("not_exclusive"),
    ).where(Status.id == item.id)
    row = (await session.execute(query)).mappings().first()
    if row is None or not row["unmuted"]:  # muted people stay out of every stream (C19)
        return []
    wanted = [chan for chan in channels if chan.name != "list" and _belongs(row, viewer, chan)]
    wanted += await _lists(session, viewer, channels, row)
    if not wanted:
        return []
    flags = await viewer_flags(session, viewer, [row["s_id"], row["o_id"]])
    entity = status_entity(row, ctx, flags, signed_in=True)
    messages = []
    for chan in wanted:
        context = _FILTER_CONTEXTS.get(chan.name.split(":")[0])
        shown = [copy.deepcopy(entity)]
        if context is not None:
            shown = await apply_filters(session, viewer, context, shown)
        if shown:  # a ``hide`` filter keeps it off this stream
            messages.append(Message(chan, item.kind, _encode(shown[0])))
    return messages


async def _lists(
    session: AsyncSession, viewer: Viewer, channels: Collection[Channel], row: Mapping[str, Any]
) -> list[Channel]:
    """The viewer's own list channels *row* belongs on (it reached their home, and the
    list's members and replies policy take it)."""
    wanted = [chan for chan in channels if chan.name == "list"]
    if not wanted or not row["in_home"]:
        return []
    owned = {
        str(found.id): found
        for found in await session.scalars(
            select(UserList).where(
                UserList.id.in_([int(chan.tag) for chan in wanted]),
                UserList.account_id == viewer.id,
            )
        )
    }
    out = []
    for chan in wanted:
        chosen = owned.get(chan.tag)
        if chosen is not None and await session.scalar(
            select(Status.id).where(Status.id == row["s_id"], list_member_filter(chosen, viewer))
        ):
            out.append(chan)
    return out


async def _conversation(
    session: AsyncSession,
    ctx: NodeContext,
    viewer: Viewer,
    channels: Collection[Channel],
    item: StreamEvent,
) -> list[Message]:
    """A changed conversation of the viewer's own, on their ``direct`` stream."""
    wanted = [chan for chan in channels if chan.name == "direct"]
    if not wanted:
        return []
    found = await session.scalar(
        select(Conversation).where(
            Conversation.account_id == viewer.id, Conversation.last_status_id == item.id
        )
    )
    if found is None:  # not the viewer's, or a newer message came since
        return []
    payload = _encode((await conversation_entities(session, ctx, viewer, [found]))[0])
    return [Message(chan, "conversation", payload) for chan in wanted]


async def _notification(
    session: AsyncSession,
    ctx: NodeContext,
    viewer: Viewer,
    channels: Collection[Channel],
    item: StreamEvent,
) -> list[Message]:
    wanted = [chan for chan in channels if chan.name in {"user", "user:notification"}]
    if not wanted:
        return []
    query = notification_select(viewer).where(Notification.id == item.id)
    row = (await session.execute(query)).mappings().first()
    if row is None:  # someone else's, about a status the viewer may not see, or muted
        return []
    flags = await viewer_flags(session, viewer, [row["s_id"], row["o_id"]])
    shown = await apply_to_notifications(session, viewer, [notification_entity(row, ctx, flags)])
    if not shown:  # a ``hide`` filter in the notifications context
        return []
    payload = _encode(shown[0])
    return [Message(chan, "notification", payload) for chan in wanted]


def _deletes(viewer: Viewer, channels: Collection[Channel], item: StreamEvent) -> list[Message]:
    """A deleted status's bare id: on the user and direct streams of those who had it (its
    author and the home feeds it was in: even an id is not told to anyone else, SECURITY.md
    row 11), on public ones only when the status was public there."""
    return [
        Message(chan, "delete", str(item.id))
        for chan in channels
        if (chan.name in _PRIVATE_DELETES and viewer.id in item.audience)
        or (chan.name not in _PRIVATE_DELETES and item.visibility in _PUBLIC_DELETES)
    ]


async def render(
    session: AsyncSession,
    ctx: NodeContext,
    viewer: Viewer,
    channels: Collection[Channel],
    item: StreamEvent,
) -> list[Message]:
    """What *item* shows *viewer* on each of *channels*; empty when nothing (C31)."""
    if not channels:
        return []
    if item.kind == "delete":
        return _deletes(viewer, channels, item)
    if item.kind == "notification":
        return await _notification(session, ctx, viewer, channels, item)
    if item.kind == "conversation":
        return await _conversation(session, ctx, viewer, channels, item)
    statuses = [chan for chan in channels if chan.name != "user:notification"]
    if not statuses:
        return []
    return await _statuses(session, ctx, viewer, statuses, item)


def _encode(entity: dict[str, Any]) -> str:
    return json.dumps(entity, ensure_ascii=False, separators=(",", ":"))
