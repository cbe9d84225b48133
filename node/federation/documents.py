"""The ActivityPub documents this node serves and sends: actors, notes, activities, collections."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activitypub.addressing import Visibility, address
from activitypub.contexts import default_context
from node.db.models import Account, Status
from node.federation.person import PERSON_TERMS, PersonProfile, profile_attachments, profile_terms

__all__ = ["Urls", "actor_document", "iso", "note_document", "ordered_collection"]


def iso(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as Mastodon writes it."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Urls:
    """Where this node's objects live; every id we publish is built here."""

    base: str

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.base}/users/{username}/statuses/{status_id}"

    def status_page(self, username: str, status_id: int) -> str:
        return f"{self.base}/@{username}/{status_id}"

    def activity(self, username: str, activity_id: int) -> str:
        return f"{self.base}/users/{username}/activities/{activity_id}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{name}"

    @property
    def instance_actor(self) -> str:
        return f"{self.base}/actor"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"


def actor_document(
    account: Account, urls: Urls, profile: PersonProfile | None = None
) -> dict[str, Any]:
    """The actor JSON (PROTOCOL.md D13–D17, D20 for the instance actor).

    With *profile*, a person's who-is-who terms and attachments (``node.federation.person``).
    """
    uri = account.uri
    doc: dict[str, Any] = {
        "@context": default_context(),
        "id": uri,
        "type": account.actor_type,
        "preferredUsername": account.username,
        "name": account.display_name or account.username,
        "summary": account.summary,
        "url": account.url or uri,
        "inbox": account.inbox_url,
        "outbox": account.outbox_url,
        "manuallyApprovesFollowers": account.manually_approves_followers,
        "discoverable": account.discoverable,
        "indexable": account.discoverable,
        "published": iso(account.created_at),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {
            "id": account.public_key_id,
            "owner": uri,
            "publicKeyPem": account.public_key_pem,
        },
    }
    if account.actor_type != "Application":
        doc |= {
            "followers": account.followers_url,
            "following": account.following_url,
            "featured": account.featured_url,
            "webfinger": f"{account.username}@{account.domain}",
            "attachment": [
                {"type": "PropertyValue", "name": f["name"], "value": f["value"]}
                for f in json.loads(account.fields_json)
            ],
            "tag": [],
        }
    if profile is not None and account.actor_type != "Application":
        doc["@context"].append(dict(PERSON_TERMS))
        doc |= profile_terms(profile)
        doc["attachment"] = profile_attachments(profile)
    if account.avatar_url:
        doc["icon"] = _image(account.avatar_url)
    if account.header_url:
        doc["image"] = _image(account.header_url)
    return doc


def _image(url: str) -> dict[str, Any]:
    """An ``Image`` with its ``mediaType`` when the URL tells it (D15)."""
    image: dict[str, Any] = {"type": "Image", "url": url}
    media_type, _ = mimetypes.guess_type(url)
    if media_type and media_type.startswith("image/"):
        image["mediaType"] = media_type
    return image


def note_document(
    status: Status,
    author: Account,
    *,
    mentions: Sequence[Account],
    hashtags: Sequence[str],
    in_reply_to_uri: str | None,
    urls: Urls,
) -> dict[str, Any]:
    """A local status as a Note (PROTOCOL.md A4, addressing A17, mentions A19, hashtags A20)."""
    visibility = Visibility(status.visibility)
    to, cc = address(
        visibility, followers=author.followers_url or "", mentions=[m.uri for m in mentions]
    )
    doc: dict[str, Any] = {
        "id": status.uri,
        "type": "Note",
        "summary": status.summary or None,
        "inReplyTo": in_reply_to_uri,
        "published": iso(status.published_at),
        "url": status.url,
        "attributedTo": author.uri,
        "to": list(to),
        "cc": list(cc),
        "sensitive": status.sensitive,
        "content": status.content,
        "context": status.context,
        "conversation": status.context,
        "tag": [
            *(
                {"type": "Mention", "href": m.uri, "name": f"@{m.username}@{m.domain}"}
                for m in mentions
            ),
            *({"type": "Hashtag", "href": urls.tag(h), "name": f"#{h}"} for h in hashtags),
        ],
        # Keys starting with "_" are ours (a local upload's id and preview), not the Note's.
        "attachment": [
            {k: v for k, v in a.items() if not k.startswith("_")}
            for a in json.loads(status.attachments_json)
        ],
        "replies": {
            "id": f"{status.uri}/replies",
            "type": "Collection",
            "totalItems": status.replies_count,
        },
        "likes": {
            "id": f"{status.uri}/likes",
            "type": "Collection",
            "totalItems": status.favourites_count,
        },
        "shares": {
            "id": f"{status.uri}/shares",
            "type": "Collection",
            "totalItems": status.reblogs_count,
        },
    }
    if status.language:
        doc["contentMap"] = {status.language: status.content}
    if status.edited_at is not None:
        doc["updated"] = iso(status.edited_at)
    return doc


def ordered_collection(
    collection_id: str,
    *,
    total: int,
    items: Sequence[Any] | None = None,
    page: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    """An OrderedCollection, or one of its pages when *page* is given (PROTOCOL.md D19)."""
    if page is None:
        doc: dict[str, Any] = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": collection_id,
            "type": "OrderedCollection",
            "totalItems": total,
        }
        if items is not None:
            doc["orderedItems"] = list(items)
        else:
            doc["first"] = f"{collection_id}?page=true"
        return doc
    doc = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": page,
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "totalItems": total,
        "orderedItems": list(items or ()),
    }
    if next_page:
        doc["next"] = next_page
    return doc
