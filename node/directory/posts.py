"""A person's recent public posts, fetched from their own node for their directory page.

The directory asks the person's outbox (first page) with a signed GET (authorized
fetch, as any peer would) through the node's guarded client, so the allowlist and the
SSRF guard apply.  Only ``Create`` activities of the person's own public posts (addressed
``to`` Public; not unlisted, followers-only or direct) are shown, their HTML sanitised.  Answers are cached for ``posts_cache_seconds``; a failure
is cached briefly too, so a node that is down does not slow every page view.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activitypub.client import FederationClient, Signer
from activitypub.errors import ActivityPubError
from activitypub.hosts import host_of
from activitypub.sanitize import HtmlSanitizer
from activitypub.vocabulary import PUBLIC

__all__ = ["Post", "RecentPosts"]

log = logging.getLogger(__name__)

_FAILURE_SECONDS = 60.0
_MAX_CACHED = 2000
_PUBLIC = {PUBLIC, "as:Public", "Public"}


@dataclass(frozen=True)
class Post:
    """One post as a person page shows it."""

    url: str
    html: str
    published: str


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class RecentPosts:
    """Fetches and caches recent public posts per person."""

    def __init__(
        self,
        client: FederationClient,
        signer: Callable[[], Signer],
        sanitizer: HtmlSanitizer,
        *,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._signer = signer
        self._sanitizer = sanitizer
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, list[Post] | None]] = {}

    async def recent(self, person: str, outbox: str | None, *, limit: int = 5) -> list[Post] | None:
        """Up to *limit* recent public posts; None when their node could not be asked."""
        now = self._clock()
        cached = self._cache.get(person)
        if cached is not None and cached[0] > now:
            return cached[1]
        posts = await self._fetch(person, outbox, limit) if outbox else []
        ttl = self._ttl if posts is not None else _FAILURE_SECONDS
        if len(self._cache) >= _MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))
        self._cache[person] = (now + ttl, posts)
        return posts

    async def _fetch(self, person: str, outbox: str, limit: int) -> list[Post] | None:
        if host_of(outbox) != host_of(person):
            return []  # an outbox on another host is not theirs to vouch for
        try:
            collection = await self._client.fetch_json(outbox, signer=self._signer())
            page = collection.get("first")
            if isinstance(page, str):
                collection = await self._client.fetch_json(page, signer=self._signer())
            elif isinstance(page, dict):
                collection = page
        except ActivityPubError as exc:
            log.info("recent posts of %s unavailable: %s", person, exc)
            return None
        posts: list[Post] = []
        items = _as_list(collection.get("orderedItems") or collection.get("items"))
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "Create":
                continue
            note = item.get("object")
            if not isinstance(note, dict) or note.get("attributedTo") != person:
                continue
            # Public means addressed to everyone; an unlisted post (Public only in cc) is
            # kept off discovery pages such as this one, as Mastodon keeps it off its
            # public timelines.
            if not set(_as_list(note.get("to"))) & _PUBLIC:
                continue
            content = note.get("content")
            url = note.get("url") if isinstance(note.get("url"), str) else note.get("id")
            if not isinstance(content, str) or not isinstance(url, str):
                continue
            if not url.startswith(("https://", "http://")):
                continue
            published = note.get("published")
            posts.append(
                Post(
                    url=url,
                    html=self._sanitizer.clean(content[:20_000]),
                    published=published[:10] if isinstance(published, str) else "",
                )
            )
            if len(posts) >= limit:
                break
        return posts
