"""Typed, immutable views of Activity Streams 2.0 documents (AS2 Core, AS2 Vocabulary).

Remote JSON is parsed once, at the boundary, into these frozen values; nothing below
reads raw dicts.  The original JSON is kept verbatim in ``raw`` only for forwarding
and audit.  The parsers accept every shape found in the wild (PROTOCOL.md §3): a string,
a list or an embedded object for ``to``/``cc``/``tag``/``attributedTo``/``url``,
``content`` or ``contentMap``, the three spellings of the Public collection, and so on.

This module holds the values, the J6 normalisers (``as_list``, ``id_of``, …) and
:func:`check_document`, the gate every remote document passes first (SECURITY.md rows
6 and 17).  The parsers live in :mod:`activitypub.parsing` and are re-exported here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from activitypub.errors import VocabularyError

if TYPE_CHECKING:
    from activitypub.parsing import (
        parse_activity,
        parse_actor,
        parse_collection,
        parse_document,
        parse_object,
        parse_public_keys,
    )

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
    "as_list",
    "check_document",
    "id_of",
    "is_http_url",
    "normalize_hashtag",
    "parse_activity",
    "parse_actor",
    "parse_collection",
    "parse_datetime",
    "parse_document",
    "parse_object",
    "parse_public_keys",
    "pick_url",
    "require_url",
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
    """An actor's key: a ``publicKey`` block, or an FEP-521a Multikey converted to SPKI PEM."""

    id: str
    owner: str
    pem: str


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """A profile field (``attachment`` of type ``PropertyValue``, PROTOCOL.md D17); HTML value."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Actor:
    """A Person, Service, Application, Group or Organization (PROTOCOL.md D13 to D18)."""

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
    #: Emoji (and Hashtag) tags of the profile, for ``:shortcode:`` in name and summary.
    tags: tuple[Tag, ...] = ()
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
        """``to``, ``cc``, ``bto``, ``bcc`` and ``audience`` in order, without duplicates."""
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
    #: ``content`` of a Like/EmojiReact (FEP-c0e0 emoji reaction) or a Flag's comment, else None.
    content: str | None = None
    #: Tags of the activity: the custom ``Emoji`` of an EmojiReact (PROTOCOL.md A13).
    tags: tuple[Tag, ...] = ()
    #: Every object id when ``object`` is a list (``Flag`` reports, A16); else ``(object_id,)``.
    objects: tuple[str, ...] = ()
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
        """``to``, ``cc``, ``bto``, ``bcc`` and ``audience`` in order, without duplicates."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bto, *self.bcc, *self.audience)))


# -- J6 normalisers and the document gate -------------------------------------------------

# Fedify GHSA-9rfg-v8g9-9367: these keywords let a document restructure itself under
# JSON-LD processing, so the shape that was checked is not the shape acted on.
_RESTRUCTURING_KEYWORDS = frozenset({"@graph", "@reverse", "@included"})
MAX_URL_CHARS = 2048


def check_document(
    doc: object, *, max_depth: int = 32, max_items: int = 10_000
) -> Mapping[str, Any]:
    """Reject documents too deep, too wide or restructurable before reading them.

    Iterative (an explicit stack), so hostile nesting raises :class:`VocabularyError`,
    never ``RecursionError`` (SECURITY.md row 17); ``@graph``/``@reverse``/``@included``
    are refused anywhere, including inside ``@context`` (row 6).
    """
    if not isinstance(doc, Mapping):
        raise VocabularyError("document is not a JSON object")
    # Exact type checks first: json.loads only makes dict, list, str, int, float, bool and
    # None, and `type(x) is dict` is several times cheaper than an ABC isinstance check.
    # Anything else (a Mapping or tuple built by hand) takes the general branch.
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            continue
        if depth > max_depth and (
            kind is dict or kind is list or isinstance(value, Mapping | list | tuple)
        ):
            raise VocabularyError(f"document nested deeper than {max_depth}")
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            for key, item in value.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    raise VocabularyError("object key is not a string")
                if key in _RESTRUCTURING_KEYWORDS:
                    raise VocabularyError(f"JSON-LD keyword {key} is not accepted")
                if type(item) is not str:
                    stack.append((item, depth + 1))
        elif kind is list or isinstance(value, list | tuple):
            if len(value) > max_items:  # type: ignore[arg-type]
                raise VocabularyError(f"list longer than {max_items} items")
            stack.extend((item, depth + 1) for item in value if type(item) is not str)  # type: ignore[attr-defined]
        elif not isinstance(value, str | int | float):
            raise VocabularyError(f"not a JSON value: {type(value).__name__}")
    return doc


# -- shapes (J6 helpers) ------------------------------------------------------------------


def as_list(value: object) -> list[object]:
    """``None`` → ``[]``, a scalar or object → ``[value]``, a list → a copy (J6)."""
    if value is None:
        return []
    if type(value) is list or isinstance(value, list | tuple):
        return list(value)
    return [value]


# Scheme, then no whitespace or control characters anywhere: one C-level scan instead of a
# Python loop per character (this runs for every id and recipient of every activity).
_NOT_SPACE = r"[^\s\x00-\x1f\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: ``(?=…)``: at least one character after the scheme; group 1 is the authority.
_HTTP_URL = re.compile(rf"(?i:https?)://(?={_NOT_SPACE}])({_NOT_SPACE}/?#]*){_NOT_SPACE}]*\Z")


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host, no whitespace or controls, of sane length."""
    if len(value) > MAX_URL_CHARS:
        return False
    match = _HTTP_URL.match(value)
    if match is None:
        return False
    # urlsplit's netloc, its checks and the hostname depend on the scheme and the netloc
    # only (the regex leaves nothing for urlsplit to strip), so ``scheme://netloc`` gives
    # the same answer as the whole URL; the authorities of an inbox's traffic recur.
    return _has_host(value[: match.end(1)])


@functools.lru_cache(maxsize=1024)
def _has_host(value: str) -> bool:
    # Cached: an inbox sees the same hosts over and over, and urlsplit is the dearest part
    # of the check. A pure function of a bounded string.
    try:
        return bool(urlsplit(value).hostname)
    except ValueError:
        return False


def require_url(value: object, field: str) -> str:
    """``value`` if it is an http(s) URL string, else :class:`VocabularyError` naming ``field``."""
    if not isinstance(value, str):
        raise VocabularyError(f"{field}: expected a URL string, got {type(value).__name__}")
    if not is_http_url(value):
        raise VocabularyError(f"{field}: not an http(s) URL")
    return value


def id_of(value: object, field: str = "id") -> str | None:
    """The id of a bare id, an embedded object or the first entry of a list (J6 ``id_of``)."""
    if type(value) is str:  # the usual shape, checked first (exact type: no ABC lookup)
        return require_url(value, field)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    if type(value) is dict or isinstance(value, Mapping):
        value = value.get("id")
    return require_url(value, field)


def parse_datetime(value: object) -> datetime | None:
    """An aware datetime from RFC 3339 / ISO 8601 (J7); anything unparseable is None.

    Naive timestamps are taken as UTC (PeerTube and Lemmy always send an offset;
    older Pleroma did not).
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def normalize_hashtag(name: str) -> str:
    """``#Café`` → ``cafe``: no ``#``, NFKC, Latin diacritics folded, lower case (A20).

    Only letters that decompose into an ASCII base plus combining marks are folded,
    so Japanese ``が`` keeps its dakuten (Mastodon's ``HashtagNormalizer`` does the same).
    """
    if name.isascii():
        # NFKC and NFKD leave ASCII as it is, and no ASCII letter has a diacritic to fold.
        return name.strip().lstrip("#").lower()
    text = unicodedata.normalize("NFKC", name.strip().lstrip("#"))
    folded = []
    for ch in text:
        decomposed = unicodedata.normalize("NFKD", ch)
        if ch.isascii() or not decomposed[0].isascii():
            folded.append(ch)
        elif all(unicodedata.combining(c) for c in decomposed[1:]):
            folded.append(decomposed[0])
        else:
            folded.append(ch)
    return "".join(folded).lower()


def pick_url(value: object, _depth: int = 0) -> str | None:
    """A presentation URL: string, ``Link``, or list preferring ``text/html`` (Mastodon
    ``url_to_href``; PeerTube lists one Link per rendition).  Invalid values give None."""
    first: str | None = None
    for item in as_list(value)[:1000]:
        href: object = item
        media_type: object = None
        if isinstance(item, Mapping):
            media_type = item.get("mediaType")
            href = item.get("href", item.get("url"))
            if not isinstance(href, str) and _depth < 2:
                href = pick_url(href, _depth + 1)
        if isinstance(href, str) and is_http_url(href):
            if media_type == "text/html":
                return href
            first = first or href
    return first


_PARSERS = frozenset(
    {
        "parse_activity",
        "parse_actor",
        "parse_collection",
        "parse_document",
        "parse_object",
        "parse_public_keys",
    }
)


def __getattr__(name: str) -> object:
    """Re-export the parsers lazily: :mod:`activitypub.parsing` imports this module."""
    if name in _PARSERS:
        from activitypub import parsing

        return getattr(parsing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
