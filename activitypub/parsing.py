"""Parse remote Activity Streams JSON into the frozen values of :mod:`activitypub.vocabulary`.

Documents are read as compacted JSON with normalisers, never JSON-LD expanded
(PROTOCOL.md J6, as Mastodon does).  Every shape of J7 is accepted: string, list or
embedded object for ``to``/``cc``/``tag``/``attributedTo``/``url``/``actor``;
``content`` or ``contentMap``; ``type`` as a list; the three Public spellings.  What a
schema-hostile peer sends (wrong types, non-http(s) ids, absurd sizes, JSON-LD
restructuring keywords, SECURITY.md rows 6 and 17) raises :class:`VocabularyError`
with a reason; unknown properties are ignored (J6).  Malformed *entries* of
presentation lists (one bad tag or attachment) are skipped, as Mastodon skips them.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from activitypub.addressing import is_public
from activitypub.errors import VocabularyError
from activitypub.vocabulary import (
    ACTIVITY_TYPES,
    ACTOR_TYPES,
    PUBLIC,
    Activity,
    Actor,
    Attachment,
    Collection,
    Emoji,
    Hashtag,
    Mention,
    Object,
    PropertyValue,
    PublicKey,
    Tag,
    as_list,
    check_document,
    id_of,
    is_http_url,
    normalize_hashtag,
    parse_datetime,
    pick_url,
    require_url,
)

__all__ = [
    "COLLECTION_TYPES",
    "check_document",
    "parse_activity",
    "parse_actor",
    "parse_collection",
    "parse_document",
    "parse_object",
    "parse_public_keys",
]

COLLECTION_TYPES = frozenset(
    {"Collection", "OrderedCollection", "CollectionPage", "OrderedCollectionPage"}
)
MEDIA_TYPES = frozenset({"Document", "Image", "Video", "Audio", "Link"})
_AS_PREFIXES = ("https://www.w3.org/ns/activitystreams#", "as:")

MAX_NAME_CHARS = 10_000
MAX_HTML_CHARS = 1_048_576  # J3: no document may exceed 1 MiB anyway
MAX_TAGS = 1_000
MAX_ATTACHMENTS = 100
MAX_KEYS = 32


def _optional_id(doc: Mapping[str, Any], field: str) -> str | None:
    return id_of(doc.get(field), field)


def _text(doc: Mapping[str, Any], field: str, limit: int = MAX_NAME_CHARS) -> str | None:
    """A string property, or the first value of its ``…Map`` twin (``nameMap``)."""
    value = doc.get(field)
    if value is None:
        mapped = doc.get(field + "Map")
        if mapped is not None and isinstance(mapped, Mapping):
            value = next((v for v in mapped.values() if isinstance(v, str)), None)
    if value is None:
        return None
    if not isinstance(value, str):
        raise VocabularyError(f"{field}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise VocabularyError(f"{field}: longer than {limit} characters")
    return value


_KNOWN_TYPES = ACTIVITY_TYPES | ACTOR_TYPES | COLLECTION_TYPES | MEDIA_TYPES


def _type(doc: Mapping[str, Any]) -> str:
    """The type name; a list picks its first known entry (J7), ``as:`` prefixes dropped."""
    kind = doc.get("type")
    if type(kind) is str and 0 < len(kind) <= 256 and not kind.startswith(_AS_PREFIXES):
        return kind  # one plain name, the usual shape: what the general case gives for it
    names = [t for t in as_list(doc.get("type")) if isinstance(t, str) and 0 < len(t) <= 256]
    names = [next((t[len(p) :] for p in _AS_PREFIXES if t.startswith(p)), t) for t in names]
    if not names:
        raise VocabularyError("missing type")
    return next((t for t in names if t in _KNOWN_TYPES), names[0])


def _audience(doc: Mapping[str, Any], field: str) -> tuple[str, ...]:
    """Recipient ids; every Public spelling becomes :data:`PUBLIC` (AP §5.6, J6)."""
    value = doc.get(field)
    if value is None:
        return ()
    ids: list[str] = []
    for item in as_list(value):
        if type(item) is not str and (type(item) is dict or isinstance(item, Mapping)):
            item = item.get("id")
        if isinstance(item, str) and is_public(item):
            ids.append(PUBLIC)
        else:
            ids.append(require_url(item, field))
    return tuple(dict.fromkeys(ids))


# -- content -----------------------------------------------------------------------------


def _text_to_html(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    return "<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>"


def _content(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(HTML content, language) by GoToSocial's algorithm (J7)."""
    content = _text(doc, "content", MAX_HTML_CHARS) if "content" in doc else None
    content_map = doc.get("contentMap")
    language: str | None = None
    if isinstance(content_map, Mapping):
        entries = [(k, v) for k, v in content_map.items() if isinstance(v, str)]
        if content is None and entries:
            language, content = entries[0]
        else:
            language = next((k for k, v in entries if v == content), None)
    if content is not None and _plain_media_type(doc) in {"text/markdown", "text/plain"}:
        # PeerTube sends a Video's description as markdown in ``content``: not HTML.
        content = _text_to_html(content)
    if content is None:
        # Misskey's MFM (``_misskey_content``) and Lemmy's markdown ``source`` are not HTML;
        # show them as escaped text rather than nothing.
        source = doc.get("source")
        raw = source.get("content") if isinstance(source, Mapping) else None
        raw = raw if isinstance(raw, str) else doc.get("_misskey_content")
        if isinstance(raw, str) and len(raw) <= MAX_HTML_CHARS:
            content = _text_to_html(raw)
    if language is None:
        lang = doc.get("language")  # Lemmy/PeerTube: {"identifier": "fr", "name": …}
        identifier = lang.get("identifier") if isinstance(lang, Mapping) else None
        language = identifier if isinstance(identifier, str) else None
    if language is not None and not 0 < len(language) <= 35:
        language = None
    return content, language


def _tags(value: object) -> tuple[Tag, ...]:
    entries = as_list(value)
    if len(entries) > MAX_TAGS:
        raise VocabularyError(f"tag: more than {MAX_TAGS} entries")
    tags: list[Tag] = []
    for entry in entries:
        if type(entry) is not dict and not isinstance(entry, Mapping):
            continue
        kind, name, href = entry.get("type"), entry.get("name"), entry.get("href")
        href = href if isinstance(href, str) and is_http_url(href) else None
        if not isinstance(name, str) or not 0 < len(name) <= 512:
            continue
        if kind == "Mention" and href is not None:
            tags.append(Mention(href=href, name=name))
        elif kind == "Hashtag" and (normalized := normalize_hashtag(name)):
            tags.append(Hashtag(name=normalized, href=href))
        elif kind == "Emoji":
            icon = entry.get("icon")
            icon_url = pick_url(icon)
            media = icon.get("mediaType") if isinstance(icon, Mapping) else None
            if icon_url is not None:
                media_type = media if isinstance(media, str) else None
                tags.append(Emoji(name=name, icon_url=icon_url, media_type=media_type))
    return tuple(tags)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _plain_type(entry: Mapping[str, Any]) -> str | None:
    """An embedded object's ``type`` when it is one string: a list or an object there (a
    hostile document) matches no known type instead of failing a set lookup."""
    kind = entry.get("type")
    return kind if isinstance(kind, str) else None


def _plain_media_type(doc: Mapping[str, Any]) -> str | None:
    """``mediaType`` when it is one string (as :func:`_plain_type`)."""
    media_type = doc.get("mediaType")
    return media_type if isinstance(media_type, str) else None


def _attachments(value: object) -> tuple[Attachment, ...]:
    entries = as_list(value)
    if len(entries) > MAX_ATTACHMENTS:
        raise VocabularyError(f"attachment: more than {MAX_ATTACHMENTS} entries")
    result: list[Attachment] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or _plain_type(entry) not in MEDIA_TYPES:
            continue
        url = pick_url(entry.get("href") if entry.get("type") == "Link" else entry.get("url"))
        if url is None:
            continue
        alt = entry.get("name") or entry.get("summary")  # GoToSocial sends alt as summary
        media_type, blurhash, focal = entry.get("mediaType"), entry.get("blurhash"), None
        point = entry.get("focalPoint")
        pair = point if isinstance(point, list) and len(point) == 2 else []
        if pair and all(isinstance(c, int | float) and not isinstance(c, bool) for c in pair):
            focal = (float(pair[0]), float(pair[1]))
        result.append(
            Attachment(
                type=str(entry["type"]),
                url=url,
                media_type=media_type if isinstance(media_type, str) else None,
                name=alt[:MAX_NAME_CHARS] if isinstance(alt, str) else None,
                blurhash=blurhash if isinstance(blurhash, str) else None,
                width=_int(entry.get("width")),
                height=_int(entry.get("height")),
                focal_point=focal,
            )
        )
    return tuple(result)


def _attributed_to(value: object) -> str | None:
    """The author: PeerTube lists ``[Person, Group]``, so prefer a non-Group entry (J7)."""
    entries = as_list(value)
    people = [e for e in entries if isinstance(e, Mapping) and _plain_type(e) in ACTOR_TYPES]
    preferred = [e for e in people if e.get("type") != "Group"]
    return id_of((preferred or entries)[:1], "attributedTo")


# -- documents ---------------------------------------------------------------------------


def _embedded(value: object, field: str) -> str | Object | Activity | Actor | None:
    """An embedded object parsed, or its id when it is a bare id or cannot be parsed.

    Falling back to the id makes the caller re-fetch it from its origin (FEP-c7d3),
    which is what it must do with a cross-origin embed anyway.
    """
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if type(value) is not dict and not isinstance(value, Mapping):
        return id_of(value, field)
    try:
        parsed = _parse_any(value)
    except VocabularyError:
        return id_of(value, field)
    return parsed.id if isinstance(parsed, Collection) else parsed


def _parse_any(doc: Mapping[str, Any]) -> Activity | Object | Actor | Collection:
    kind = _type(doc)
    if kind in ACTOR_TYPES:
        return _parse_actor(doc)
    if kind in COLLECTION_TYPES:
        return _parse_collection(doc)
    # Mastodon's polls are ``Question`` objects without an actor (A25).
    if kind in ACTIVITY_TYPES and not (kind == "Question" and "actor" not in doc):
        return _parse_activity(doc)
    return _parse_object(doc)


def _parse_activity(doc: Mapping[str, Any]) -> Activity:
    kind = _type(doc)
    if "actor" not in doc:
        raise VocabularyError(f"{kind} activity has no actor")
    actor = id_of(doc["actor"], "actor")
    if actor is None:
        raise VocabularyError(f"{kind} activity has no actor")
    objects = as_list(doc.get("object"))
    content = _text(doc, "content", MAX_NAME_CHARS)
    if content is None and isinstance(doc.get("_misskey_reaction"), str):
        content = _text(doc, "_misskey_reaction")  # Misskey's reaction on a Like
    return Activity(
        type=kind,
        actor=actor,
        id=_optional_id(doc, "id"),
        object=_embedded(doc.get("object"), "object"),
        target=_optional_id(doc, "target"),
        to=_audience(doc, "to"),
        cc=_audience(doc, "cc"),
        bto=_audience(doc, "bto"),
        bcc=_audience(doc, "bcc"),
        audience=_audience(doc, "audience"),
        published=parse_datetime(doc.get("published")),
        content=content if kind in {"Like", "EmojiReact", "Flag"} else None,
        tags=_tags(doc.get("tag")),
        objects=tuple(i for o in objects if (i := id_of(o, "object")) is not None),
        raw=doc,
    )


def _parse_object(doc: Mapping[str, Any]) -> Object:
    content, language = _content(doc)
    replies = doc.get("replies")
    parsed_replies: str | Collection | None
    if (
        replies is not None
        and isinstance(replies, Mapping)
        and _type_or_none(replies) in COLLECTION_TYPES
    ):
        parsed_replies = _parse_collection(replies)
    else:
        parsed_replies = id_of(replies, "replies") if isinstance(replies, str) else None
    conversation, context = doc.get("conversation"), doc.get("context")
    return Object(
        type=_type(doc),
        id=_optional_id(doc, "id"),
        attributed_to=_attributed_to(doc.get("attributedTo")),
        content=content,
        summary=_text(doc, "summary", MAX_HTML_CHARS) or None,  # GTS: "" means no CW
        name=_text(doc, "name", MAX_HTML_CHARS),
        sensitive=doc.get("sensitive") is True,
        in_reply_to=_optional_id(doc, "inReplyTo"),
        published=parse_datetime(doc.get("published")),
        updated=parse_datetime(doc.get("updated")),
        url=pick_url(doc.get("url")),
        to=_audience(doc, "to"),
        cc=_audience(doc, "cc"),
        bto=_audience(doc, "bto"),
        bcc=_audience(doc, "bcc"),
        audience=_audience(doc, "audience"),
        tags=_tags(doc.get("tag")),
        attachments=_attachments(doc.get("attachment")),
        # ``conversation`` is often an OStatus ``tag:`` URI, so it is not URL-checked.
        conversation=conversation if isinstance(conversation, str) else None,
        context=context if isinstance(context, str) else None,
        language=language,
        replies=parsed_replies,
        raw=doc,
    )


def _type_or_none(doc: Mapping[str, Any]) -> str | None:
    try:
        return _type(doc)
    except VocabularyError:
        return None


def _keys(doc: Mapping[str, Any], actor_id: str) -> Iterator[PublicKey]:
    for entry in as_list(doc.get("publicKey"))[:MAX_KEYS]:
        if isinstance(entry, Mapping) and isinstance(entry.get("publicKeyPem"), str):
            owner = entry.get("owner", actor_id)
            yield PublicKey(
                id=require_url(entry.get("id"), "publicKey.id"),
                owner=require_url(owner, "publicKey.owner"),
                pem=entry["publicKeyPem"][:MAX_NAME_CHARS],
            )
    # FEP-521a: Multikeys in assertionMethod; keys we cannot convert are skipped.
    for entry in as_list(doc.get("assertionMethod"))[:MAX_KEYS]:
        if isinstance(entry, Mapping) and entry.get("type") == "Multikey":
            pem = _multikey_to_pem(entry.get("publicKeyMultibase"))
            if pem is not None and isinstance(entry.get("id"), str):
                owner = entry.get("controller", actor_id)
                yield PublicKey(
                    id=require_url(entry["id"], "assertionMethod.id"),
                    owner=require_url(owner, "assertionMethod.controller"),
                    pem=pem,
                )


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _multikey_to_pem(value: object) -> str | None:
    """An SPKI PEM from an FEP-521a ``publicKeyMultibase`` (Ed25519 or RSA), else None."""
    if not isinstance(value, str) or not value.startswith("z") or len(value) > 4096:
        return None
    number = 0
    for ch in value[1:]:
        digit = _BASE58.find(ch)
        if digit < 0:
            return None
        number = number * 58 + digit
    zeros = len(value[1:]) - len(value[1:].lstrip("1"))
    data = b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    try:
        if data[:2] == b"\xed\x01" and len(data) == 34:  # multicodec ed25519-pub
            key: Any = Ed25519PublicKey.from_public_bytes(data[2:])
        elif data[:2] == b"\x85\x24":  # multicodec rsa-pub: PKCS#1 DER follows
            key = serialization.load_der_public_key(data[2:])
        else:
            return None
        pem: bytes = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        return None
    return pem.decode("ascii")


def _image_url(value: object) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return pick_url(value.get("url") if isinstance(value, Mapping) else value)


def _parse_actor(doc: Mapping[str, Any]) -> Actor:
    kind = _type(doc)
    if kind not in ACTOR_TYPES:
        raise VocabularyError(f"{kind} is not an actor type")
    actor_id = id_of(doc.get("id"), "id")
    if actor_id is None:
        raise VocabularyError("actor has no id")
    username = _text(doc, "preferredUsername", 256)
    if not username:
        raise VocabularyError("actor has no preferredUsername")
    inbox = _optional_id(doc, "inbox")
    if inbox is None:
        raise VocabularyError("actor has no inbox")
    endpoints = doc.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, Mapping) else None
    shared = shared or doc.get("sharedInbox")  # Misskey also sends it top-level
    fields = tuple(
        PropertyValue(name=entry["name"][:MAX_NAME_CHARS], value=entry["value"][:MAX_NAME_CHARS])
        for entry in as_list(doc.get("attachment"))[:MAX_ATTACHMENTS]
        if isinstance(entry, Mapping)
        and entry.get("type") == "PropertyValue"
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("value"), str)
    )
    also_known_as = [id_of(a, "alsoKnownAs") for a in as_list(doc.get("alsoKnownAs"))[:100]]
    return Actor(
        id=actor_id,
        type=kind,
        preferred_username=username,
        inbox=inbox,
        outbox=_optional_id(doc, "outbox"),
        followers=_optional_id(doc, "followers"),
        following=_optional_id(doc, "following"),
        featured=_optional_id(doc, "featured"),
        shared_inbox=id_of(shared, "sharedInbox"),
        name=_text(doc, "name"),
        summary=_text(doc, "summary", MAX_HTML_CHARS) or None,
        url=pick_url(doc.get("url")),
        icon_url=_image_url(doc.get("icon")),
        image_url=_image_url(doc.get("image")),
        public_keys=tuple(dict.fromkeys(_keys(doc, actor_id))),
        manually_approves_followers=doc.get("manuallyApprovesFollowers") is True,
        discoverable=doc.get("discoverable") is True,
        published=parse_datetime(doc.get("published")),
        fields=fields,
        also_known_as=tuple(a for a in also_known_as if a is not None),
        moved_to=_optional_id(doc, "movedTo"),
        tags=_tags(doc.get("tag")),
        raw=doc,
    )


def _parse_collection(doc: Mapping[str, Any]) -> Collection:
    kind = _type(doc)
    if kind not in COLLECTION_TYPES:
        raise VocabularyError(f"{kind} is not a collection type")
    first = doc.get("first")
    items: list[str | Object | Activity | Actor] = []
    for entry in as_list(doc.get("orderedItems", doc.get("items"))):
        item = _embedded(entry, "items")
        if item is not None:
            items.append(item)
    total = _int(doc.get("totalItems"))
    return Collection(
        type=kind,
        id=_optional_id(doc, "id"),
        total_items=total if total is not None and total >= 0 else None,
        first=_parse_collection(first) if isinstance(first, Mapping) else id_of(first, "first"),
        next=_optional_id(doc, "next"),
        part_of=_optional_id(doc, "partOf"),
        items=tuple(items),
        raw=doc,
    )


def parse_public_keys(doc: Mapping[str, Any]) -> tuple[PublicKey, ...]:
    """The keys of an actor, of GoToSocial's key stub, or of a bare key document (D18).

    GoToSocial serves ``<actor>/main-key`` as a stub without ``inbox``, which is not an
    :class:`Actor`; the signature verifier only needs its ``publicKey``.
    """
    check_document(doc)
    if isinstance(doc.get("publicKeyPem"), str):  # the key document itself
        return tuple(_keys({"publicKey": doc}, require_url(doc.get("owner"), "owner")))
    return tuple(dict.fromkeys(_keys(doc, require_url(doc.get("id"), "id"))))


def parse_activity(doc: Mapping[str, Any]) -> Activity:
    """An activity (AS2 Vocabulary §3.1); ``actor`` is required, ``object`` may be embedded."""
    return _parse_activity(check_document(doc))


def parse_object(doc: Mapping[str, Any]) -> Object:
    """A content object: Note, Article, Page, Question, Video, Tombstone, … (A4)."""
    return _parse_object(check_document(doc))


def parse_actor(doc: Mapping[str, Any]) -> Actor:
    """An actor (PROTOCOL.md D13 to D19); ``id``, ``preferredUsername`` and ``inbox`` required."""
    return _parse_actor(check_document(doc))


def parse_collection(doc: Mapping[str, Any]) -> Collection:
    """A Collection, OrderedCollection or page (AS2 Core §5, D19)."""
    return _parse_collection(check_document(doc))


def parse_document(doc: Mapping[str, Any]) -> Activity | Object | Actor | Collection:
    """Any document, dispatched on ``type`` (unknown types are read as objects, J6)."""
    return _parse_any(check_document(doc))
