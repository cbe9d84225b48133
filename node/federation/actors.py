"""Remote actors and their keys: looked up in the database, fetched when unknown (PROTOCOL.md S13)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urldefrag

from sqlalchemy import select
from sqlalchemy.exc import MultipleResultsFound

from activitypub.client import FederationClient, Signer
from activitypub.errors import ActivityPubError, FetchError, HostNotAllowedError, SignatureError
from activitypub.hosts import host_of
from activitypub.keys import PublicKeyTypes, load_public_key
from activitypub.sanitize import HtmlSanitizer
from activitypub.signatures import SignedRequest
from activitypub.vocabulary import Actor, parse_actor
from node.db.engine import AsyncSession, Sessions
from node.db.models import Account
from node.ids import new_id
from node.services.graph import insert_ignore

__all__ = ["ActorResolver", "KnownKey", "actor_origin_problem", "store_actor"]

log = logging.getLogger(__name__)

#: Re-fetch a remote profile at most this often when it is merely looked up.
_REFRESH_AFTER = timedelta(days=1)
#: After a failed refetch of a key, do not try again for this long (Mastodon's "stoplight").
_REFETCH_PAUSE = timedelta(minutes=5)


@dataclass(frozen=True)
class KnownKey:
    """A verified-ownership key: the actor that lists it and the loaded key object."""

    key_id: str
    actor_uri: str
    account_id: int
    key: PublicKeyTypes


def _fields(actor: Actor, sanitizer: HtmlSanitizer) -> str:
    return json.dumps(
        [
            {"name": sanitizer.clean_text(f.name)[:255], "value": sanitizer.clean(f.value)}
            for f in actor.fields[:16]
        ]
    )


def actor_origin_problem(actor: Actor) -> str | None:
    """Why an actor document claims something outside its origin, or None (FEP-fe34, S13).

    Its keys must be its own (``owner`` is the actor, the id on its host) and its inbox and
    collections on its host: otherwise an actor could answer for another actor's key, or
    aim our deliveries of followers-only posts at a third party (SECURITY.md row 1).
    """
    try:
        host = host_of(actor.id)
        for key in actor.public_keys:
            if key.owner != actor.id:
                return f"key {key.id} is owned by {key.owner}, not by the actor"
            if host_of(key.id) != host:
                return f"key {key.id} is not on the actor's host"
        endpoints = {
            "inbox": actor.inbox,
            "sharedInbox": actor.shared_inbox,
            "outbox": actor.outbox,
            "followers": actor.followers,
            "following": actor.following,
            "featured": actor.featured,
        }
        for name, url in endpoints.items():
            if url is not None and host_of(url) != host:
                return f"{name} is not on the actor's host"
    except ValueError:
        return "the actor document holds an invalid URL"
    return None


async def store_actor(
    session: AsyncSession,
    actor: Actor,
    sanitizer: HtmlSanitizer,
    *,
    now: datetime,
    key_id: str | None = None,
) -> Account:
    """Insert or refresh the remote account for a parsed, origin-checked *actor* document.

    The stored key is *key_id* when the actor lists it, else its first own key.
    """
    own = [k for k in actor.public_keys if k.owner == actor.id]
    key = next((k for k in own if k.id == key_id), own[0] if own else None)
    values: dict[str, Any] = {
        "username": actor.preferred_username[:255],
        "domain": host_of(actor.id),
        "actor_type": actor.type,
        "display_name": sanitizer.clean_text(actor.name or "")[:255],
        "summary": sanitizer.clean(actor.summary or ""),
        "url": actor.url,
        "avatar_url": actor.icon_url,
        "header_url": actor.image_url,
        "inbox_url": actor.inbox,
        "shared_inbox_url": actor.shared_inbox,
        "outbox_url": actor.outbox,
        "followers_url": actor.followers,
        "following_url": actor.following,
        "featured_url": actor.featured,
        "public_key_id": key.id if key else "",
        "public_key_pem": key.pem if key else "",
        "manually_approves_followers": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "fields_json": _fields(actor, sanitizer),
        "fetched_at": now,
        "updated_at": now,
    }
    by_uri = select(Account).where(Account.uri == actor.id)
    account = (await session.execute(by_uri)).scalar_one_or_none()
    if account is None:
        # Two requests may meet the same new actor at once (an inbox key fetch and a
        # follow by handle): insert-or-nothing, then read whichever row won.
        await session.execute(
            insert_ignore(session, Account).values(
                id=new_id(now), uri=actor.id, local=False, created_at=now, **values
            )
        )
        account = (
            await session.execute(by_uri.execution_options(populate_existing=True))
        ).scalar_one_or_none()
        if account is None:
            raise FetchError(
                f"{values['username']}@{values['domain']} is already taken by another actor",
                url=actor.id,
            )
    if not account.local:
        for name, value in values.items():
            setattr(account, name, value)
    await session.flush()
    return account


#: Keys looked up in one query when many miss the cache at once.
_KEYS_PER_QUERY = 500


class _StoredKey(NamedTuple):
    """What an account row says of a key: its owner's uri and id, and the PEM."""

    uri: str
    id: int
    pem: str


class ActorResolver:
    """Finds actors and keys; fetches them (signed by the instance actor) when not known."""

    def __init__(
        self,
        sessions: Sessions,
        client: FederationClient,
        *,
        instance_signer: Callable[[], Signer],
        sanitizer: HtmlSanitizer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 10_000,
    ) -> None:
        self._sessions = sessions
        self.client = client
        self.instance_signer = instance_signer
        self._sanitizer = sanitizer
        self._clock = clock
        self._cache: OrderedDict[str, KnownKey] = OrderedDict()
        self._cache_size = cache_size
        self._refetched: dict[str, datetime] = {}
        #: Keys missed in the cache and waiting for their row (see :meth:`_stored_key`).
        self._wanted: dict[str, asyncio.Future[_StoredKey | None]] = {}
        self._loader: asyncio.Task[None] | None = None

    def _remember(self, known: KnownKey) -> KnownKey:
        self._cache[known.key_id] = known
        self._cache.move_to_end(known.key_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return known

    def forget(self, actor_uri: str) -> None:
        """Drop cached keys of an actor (after an ``Update`` or ``Delete`` of it)."""
        for key_id in [k for k, v in self._cache.items() if v.actor_uri == actor_uri]:
            del self._cache[key_id]

    async def key(self, key_id: str) -> KnownKey:
        """The key *key_id*, from the cache, the database, or its owner's actor document."""
        cached = self._cache.get(key_id)
        if cached is not None:
            self._cache.move_to_end(key_id)
            return cached
        stored = await asyncio.shield(self._stored_key(key_id))
        if stored is not None and stored.pem:
            return self._remember(
                KnownKey(key_id, stored.uri, stored.id, load_public_key(stored.pem))
            )
        return await self._fetch_key(key_id)

    def _stored_key(self, key_id: str) -> asyncio.Future[_StoredKey | None]:
        """The account row listing *key_id*; keys missed at the same time share one query.

        A node that starts under load (or a burst from many new actors) misses its key
        cache once per actor; one session and query each cost ~1–3 ms of CPU, an ``IN``
        query for all of them about as much as one.
        """
        future = self._wanted.get(key_id)
        if future is None:
            future = self._wanted[key_id] = asyncio.get_running_loop().create_future()
            if self._loader is None or self._loader.done():
                self._loader = asyncio.create_task(self._load_keys(), name="key-loader")
        return future

    async def _load_keys(self) -> None:
        try:
            await self._load_wanted()
        finally:
            # Cancelled (the app stops): no request may wait on a key nobody will look up.
            for future in self._wanted.values():
                future.cancel()
            self._wanted.clear()

    async def _load_wanted(self) -> None:
        while self._wanted:
            batch = dict(itertools.islice(self._wanted.items(), _KEYS_PER_QUERY))
            try:
                async with self._sessions() as session:
                    rows = (
                        await session.execute(
                            select(
                                Account.public_key_id,
                                Account.uri,
                                Account.id,
                                Account.public_key_pem,
                            ).where(Account.public_key_id.in_(list(batch)))
                        )
                    ).all()
            except Exception as exc:  # every waiter learns it, as from its own query
                outcome: dict[str, _StoredKey | BaseException | None] = dict.fromkeys(batch, exc)
            else:
                outcome = dict.fromkeys(batch)
                for key_id, uri, account_id, pem in rows:
                    # Two accounts listing one key: as scalar_one_or_none() refused it.
                    outcome[key_id] = (
                        MultipleResultsFound(f"two accounts list key {key_id}")
                        if outcome[key_id] is not None
                        else _StoredKey(uri, account_id, pem)
                    )
            for key_id, future in batch.items():
                del self._wanted[key_id]
                result = outcome[key_id]
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def verified_key(self, signed: SignedRequest) -> KnownKey:
        """The key that verifies *signed*, refetched once if the cached one fails (S14).

        Raises ``FetchError``/``ActivityPubError`` when the key cannot be had and
        ``SignatureError`` when the signature does not verify with it.
        """
        known = await self.key(signed.key_id)
        try:
            signed.verify(known.key)
        except SignatureError:
            # Maybe the actor rotated its key: refetch once and try again.
            fresh = await self.refetch_key(signed.key_id)
            if fresh is None:
                raise
            signed.verify(fresh.key)
            known = fresh
        return known

    async def refetch_key(self, key_id: str) -> KnownKey | None:
        """Fetch the owner again after a failed verification (key rotation, S14), at most once per pause."""
        now = self._clock()
        last = self._refetched.get(key_id)
        if last is not None and now - last < _REFETCH_PAUSE:
            return None
        self._refetched[key_id] = now
        self._cache.pop(key_id, None)
        try:
            return await self._fetch_key(key_id)
        except ActivityPubError as exc:
            log.info("key %s: refetch failed: %s", key_id, exc.reason)
            return None

    async def _fetch_key(self, key_id: str) -> KnownKey:
        url = urldefrag(key_id).url
        doc = await self.client.fetch_json(url, signer=self.instance_signer())
        if "inbox" not in doc and isinstance(doc.get("owner"), str):
            # GoToSocial serves the key at its own URL with a stub; follow the owner (S13, D18).
            doc = await self.client.fetch_json(doc["owner"], signer=self.instance_signer())
        actor = parse_actor(doc)
        listed = actor.key(key_id)
        if listed is None:
            raise FetchError(f"key {key_id} is not listed by its owner {actor.id}", url=key_id)
        if host_of(actor.id) != host_of(key_id):
            raise FetchError(f"key {key_id} and its owner {actor.id} are on different hosts")
        problem = actor_origin_problem(actor)
        if problem is not None:
            raise FetchError(f"actor {actor.id} refused: {problem}", url=key_id)
        async with self._sessions() as session, session.begin():
            account = await store_actor(
                session, actor, self._sanitizer, now=self._clock(), key_id=key_id
            )
        log.info("fetched actor %s for key %s", actor.id, key_id)
        return self._remember(KnownKey(key_id, actor.id, account.id, load_public_key(listed.pem)))

    async def account(
        self, session: AsyncSession, uri: str, *, fetch: bool = True
    ) -> Account | None:
        """The account for actor *uri*: from the database, else fetched (allowlist applies)."""
        account = (
            await session.execute(select(Account).where(Account.uri == uri))
        ).scalar_one_or_none()
        if account is not None or not fetch:
            return account
        try:
            doc = await self.client.fetch_json(uri, signer=self.instance_signer())
            actor = parse_actor(doc)
        except HostNotAllowedError:
            raise
        except ActivityPubError as exc:
            log.info("actor %s: could not fetch: %s", uri, exc.reason)
            return None
        if actor.id != uri:
            log.info("actor %s: document has id %s; refused", uri, actor.id)
            return None
        problem = actor_origin_problem(actor)
        if problem is not None:
            log.info("actor %s refused: %s", uri, problem)
            return None
        return await store_actor(session, actor, self._sanitizer, now=self._clock())

    async def refresh(self, session: AsyncSession, actor: Actor) -> Account:
        """Store a verified actor document the actor itself sent (``Update(Person)``, A5)."""
        self.forget(actor.id)
        return await store_actor(session, actor, self._sanitizer, now=self._clock())
