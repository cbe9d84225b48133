"""Typed, immutable views of Activity Streams 2.0 documents (AS2 Core, AS2 Vocabulary).

Remote JSON is parsed once, at the boundary, into these frozen values; nothing below
reads raw dicts.  The original JSON is kept verbatim in ``raw`` only for forwarding
and audit.  The parsers accept every shape found in the wild (PROTOCOL.md §3): a string,
a list or an embedded object for ``to``/``cc``/``tag``/``attributedTo``/``url``,
``content`` or ``contentMap``, the three spellings of the Public collection, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ACTIVITY_TYPES",
    "ACTOR_TYPES",
    "PUBLIC",
    "Activity",
    "Actor",
    "Attachment",
    "Collection",
    "Emoji",
    "Hashtag",
    "Mention",
    "Object",
    "PropertyValue",
    "PublicKey",
    "Tag",
]

#: The canonical id of the Public collection (AS2 Vocabulary §5.6); ``as:Public`` and
#: ``Public`` are accepted on input and normalised to this.
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
ACTIVITY_TYPES = frozenset(
    {
        "Create", "Update", "Delete", "Follow", "Accept", "Reject", "TentativeAccept",
        "TentativeReject", "Add", "Remove", "Like", "Dislike", "EmojiReact", "Announce",
        "Undo", "Block", "Flag", "Move", "Question", "Listen", "Read", "View", "Invite",
        "Join", "Leave", "Offer", "Arrive", "Travel", "Ignore",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mention:
    """A ``Mention`` tag: ``href`` is the actor id (or profile URL), ``name`` ``@user@host``."""

    href: str
    name: str


@dataclass(frozen=True, slots=True)
class Hashtag:
    """A ``Hashtag`` tag; ``name`` is without ``#`` and normalised (lower case, ASCII-folded)."""

    name: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Emoji:
    """A custom emoji tag (PROTOCOL.md A21); ``name`` includes the colons (``:kappa:``)."""

    name: str
    icon_url: str
    media_type: str | None = None


Tag = Mention | Hashtag | Emoji


@dataclass(frozen=True, slots=True)
class Attachment:
    """A media attachment or link-preview (PROTOCOL.md A23)."""

    type: str
    url: str
    media_type: str | None = None
    #: Alt text (``name``, or ``summary`` as some servers send it).
    name: str | None = None
    blurhash: str | None = None
    width: int | None = None
    height: int | None = None
    focal_point: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An actor's key (``publicKey`` block, or an FEP-521a Multikey when ``pem`` is RSA/Ed25519 SPKI)."""

    id: str
    owner: str
    pem: str


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """A profile field (``attachment`` of ``type: PropertyValue``, PROTOCOL.md D17); ``value`` is HTML."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Actor:
    """A Person, Service, Application, Group or Organization (PROTOCOL.md D13–D18)."""

    id: str
    type: str
    preferred_username: str
    inbox: str
    outbox: str | None = None
    followers: str | None = None
    following: str | None = None
    featured: str | None = None
    shared_inbox: str | None = None
    name: str | None = None
    #: HTML, unsanitised: sanitise before showing it.
    summary: str | None = None
    url: str | None = None
    icon_url: str | None = None
    image_url: str | None = None
    public_keys: tuple[PublicKey, ...] = ()
    manually_approves_followers: bool = False
    discoverable: bool = False
    published: datetime | None = None
    fields: tuple[PropertyValue, ...] = ()
    also_known_as: tuple[str, ...] = ()
    moved_to: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_bot(self) -> bool:
        """Service and Application actors are automated (Mastodon shows ``bot: true``)."""
        return self.type in {"Service", "Application"}

    def key(self, key_id: str) -> PublicKey | None:
        """The key with exactly this id, if the actor lists it (PROTOCOL.md S13)."""
        for key in self.public_keys:
            if key.id == key_id:
                return key
        return None


@dataclass(frozen=True, slots=True)
class Object:
    """A content object: Note, Article, Page, Question, Image, Video, Event, Tombstone, …"""

    type: str
    id: str | None = None
    #: The first actor id of ``attributedTo`` (string, object or list in the wild).
    attributed_to: str | None = None
    #: HTML, unsanitised; ``contentMap``'s first value when ``content`` is absent.
    content: str | None = None
    #: Content warning (``summary``), unsanitised.
    summary: str | None = None
    name: str | None = None
    sensitive: bool = False
    in_reply_to: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    url: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bto: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    conversation: str | None = None
    context: str | None = None
    language: str | None = None
    #: ``replies`` collection id or embedded first page, when present.
    replies: str | Collection | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def mentions(self) -> tuple[Mention, ...]:
        """The ``Mention`` tags."""
        return tuple(t for t in self.tags if isinstance(t, Mention))

    @property
    def hashtags(self) -> tuple[Hashtag, ...]:
        """The ``Hashtag`` tags."""
        return tuple(t for t in self.tags if isinstance(t, Hashtag))

    @property
    def recipients(self) -> tuple[str, ...]:
        """``to ∪ cc ∪ bto ∪ bcc ∪ audience`` in order, without duplicates."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bto, *self.bcc, *self.audience)))


@dataclass(frozen=True, slots=True)
class Collection:
    """A Collection, OrderedCollection or one of their pages (AS2 Core §5)."""

    type: str
    id: str | None = None
    total_items: int | None = None
    #: The first page: an id or an embedded page.
    first: str | Collection | None = None
    next: str | None = None
    part_of: str | None = None
    #: Item ids or embedded objects/activities, in the collection's order.
    items: tuple[str | Object | Activity | Actor, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity: Create, Update, Delete, Follow, Accept, Like, Announce, Undo, Block, …"""

    type: str
    actor: str
    id: str | None = None
    object: str | Object | Activity | Actor | None = None
    target: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bto: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    published: datetime | None = None
    #: ``content`` of a Like/EmojiReact (FEP-c0e0 emoji reaction), else None.
    content: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def object_id(self) -> str | None:
        """The id of ``object`` whether it is a bare id or embedded."""
        if isinstance(self.object, str):
            return self.object
        if self.object is None:
            return None
        return self.object.id

    @property
    def recipients(self) -> tuple[str, ...]:
        """``to ∪ cc ∪ bto ∪ bcc ∪ audience`` in order, without duplicates."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bto, *self.bcc, *self.audience)))
