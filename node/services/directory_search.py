"""Asking the organisation's directory node "who is …?" from a department node (issue 5).

``/api/v2/search`` on a department node adds the directory's hits to its own accounts, so
a Mastodon app finds colleagues on every node. The question is a signed GET of the
directory's JSON search API (directory contract §3), signed by this node's instance actor,
bounded in time, and its answer is cached briefly. A directory that is down or slow costs
at most the time budget and yields no hits, never an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yarl
from sqlalchemy import select

from activitypub.client import FederationClient, Signer
from activitypub.errors import ActivityPubError
from activitypub.hosts import host_of
from activitypub.sanitize import HtmlSanitizer
from activitypub.vocabulary import parse_actor
from node.db.engine import AsyncSession
from node.db.models import Account
from node.federation.actors import actor_origin_problem, store_actor

__all__ = ["DirectoryHit", "DirectorySearch"]

log = logging.getLogger(__name__)

_MAX_HITS = 40


@dataclass(frozen=True)
class DirectoryHit:
    """One person the directory found: their actor id on their own node, and its score."""

    actor_id: str
    score: float


class DirectorySearch:
    """The directory's search API, with a short-lived cache of answers."""

    def __init__(
        self,
        client: FederationClient,
        signer: Callable[[], Signer],
        base_url: str,
        *,
        sanitizer: HtmlSanitizer,
        budget_seconds: float = 2.0,
        ttl_seconds: float = 30.0,
        cache_size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._signer = signer
        self._base = base_url.rstrip("/")
        self._sanitizer = sanitizer
        self._budget = budget_seconds
        self._ttl = ttl_seconds
        self._cache: OrderedDict[tuple[str, int], tuple[float, list[DirectoryHit]]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock

    async def hits(self, q: str, *, limit: int) -> list[DirectoryHit]:
        """The directory's people for *q*, best first; ``[]`` when it cannot answer in time."""
        key = (" ".join(q.lower().split()), limit)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        url = str(
            yarl.URL(f"{self._base}/directory/api/search").with_query(
                {"q": q, "limit": str(min(limit, _MAX_HITS))}
            )
        )
        try:
            async with asyncio.timeout(self._budget):
                answer = await self._client.fetch_api_json(url, signer=self._signer())
        except (ActivityPubError, TimeoutError) as exc:
            log.info("directory search %r: no answer from %s: %s", q[:60], self._base, exc)
            return []
        found = _parse(answer)[:limit]
        self._cache[key] = (now + self._ttl, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    async def accounts(
        self, session: AsyncSession, hits: list[DirectoryHit], *, allows: Callable[[str], bool]
    ) -> list[int]:
        """Account ids for *hits*, in order; unknown people are fetched from their own node.

        Only actors on allowlisted nodes count (the directory vouches for no one), and
        fetching is bounded by the time budget: who cannot be fetched in time is left out.
        """
        ids = [h.actor_id for h in hits]
        rows = await session.execute(select(Account.uri, Account.id).where(Account.uri.in_(ids)))
        known = {uri: account_id for uri, account_id in rows}
        missing = [i for i in ids if i not in known and _allowed(i, allows)]
        if missing:
            known |= await self._fetch(session, missing)
        return [known[i] for i in ids if i in known]

    async def _fetch(self, session: AsyncSession, uris: list[str]) -> dict[str, int]:
        async def one(uri: str) -> dict[str, Any] | None:
            try:
                return await self._client.fetch_json(uri, signer=self._signer())
            except ActivityPubError as exc:
                log.info("directory hit %s not fetched: %s", uri, exc.reason)
                return None

        tasks = [asyncio.ensure_future(one(u)) for u in uris]
        done, pending = await asyncio.wait(tasks, timeout=self._budget)
        for task in pending:
            task.cancel()
        stored: dict[str, int] = {}
        for uri, task in zip(uris, tasks, strict=True):
            if task not in done or task.cancelled() or task.result() is None:
                continue
            doc = task.result()
            assert doc is not None
            try:
                actor = parse_actor(doc)
            except ActivityPubError as exc:
                log.info("directory hit %s refused: %s", uri, exc.reason)
                continue
            if actor.id != uri or actor_origin_problem(actor) is not None:
                log.info("directory hit %s refused: not its own document", uri)
                continue
            account = await store_actor(session, actor, self._sanitizer, now=datetime.now(UTC))
            stored[uri] = account.id
        return stored


def _allowed(uri: str, allows: Callable[[str], bool]) -> bool:
    try:
        return allows(host_of(uri))
    except ValueError:
        return False


def _parse(answer: dict[str, Any]) -> list[DirectoryHit]:
    results = answer.get("results")
    if not isinstance(results, list):
        return []
    hits: list[DirectoryHit] = []
    for item in results[:_MAX_HITS]:
        if not isinstance(item, dict):
            continue
        actor_id, score = item.get("id"), item.get("score", 0.0)
        if not isinstance(actor_id, str) or not actor_id.startswith(("https://", "http://")):
            continue
        hits.append(DirectoryHit(actor_id, float(score) if isinstance(score, int | float) else 0.0))
    return hits
