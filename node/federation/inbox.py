"""The inbox request path: verify → check the allowlist → dedupe → store durably → 202.

Side effects happen later, in :mod:`node.federation.processing`; nothing here changes
anything but the ``inbox_items`` table, and only after every check passed (SECURITY.md
rows 1, 4, 5: the key-owner and origin checks come before any write).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from activitypub.errors import ActivityPubError, FetchError, SignatureError, VocabularyError
from activitypub.hosts import host_of
from activitypub.signatures import parse_signed_request
from activitypub.vocabulary import Activity, Actor, Object, parse_activity
from node.db.engine import Sessions
from node.federation.actors import ActorResolver, actor_origin_problem
from node.federation.intake import InboxWriter
from node.federation.policy import FederationPolicy
from node.ids import new_id

__all__ = ["AS2_TYPES", "Inbox", "InboxResult"]

log = logging.getLogger(__name__)

#: Media types an inbox accepts (ASVS 13.1.5); plain JSON too, as some peers send it.
AS2_TYPES = frozenset({"application/activity+json", "application/ld+json", "application/json"})


@dataclass(frozen=True)
class InboxResult:
    """What to answer the peer: a status and a reason it can log."""

    status: int
    reason: str


def _reject(status: int, reason: str, *, host: str = "-", activity: str = "-") -> InboxResult:
    log.info("inbox rejected %s from %s: %s (%d)", activity, host, reason, status)
    return InboxResult(status, reason)


def _origin_problem(activity: Activity) -> str | None:
    """The FEP-fe34 same-origin rule for what an activity creates or changes (A1)."""
    actor_host = host_of(activity.actor)
    if activity.id is not None and host_of(activity.id) != actor_host:
        return "activity id and actor are on different hosts"
    obj = activity.object
    if activity.type in {"Create", "Update"} and isinstance(obj, Object | Actor):
        if obj.id is None or host_of(obj.id) != actor_host:
            return "object id and actor are on different hosts"
        if isinstance(obj, Object) and obj.attributed_to != activity.actor:
            return "attributedTo is not the actor"
    if activity.type == "Update" and isinstance(obj, Actor):
        if obj.id != activity.actor:
            return "an actor may only update itself"
        problem = actor_origin_problem(obj)
        if problem is not None:
            return problem
    deleted = activity.object_id if activity.type == "Delete" else None
    if deleted is not None and host_of(deleted) != actor_host:
        return "an actor may only delete objects of its own origin"
    if isinstance(obj, Activity) and activity.type == "Undo" and obj.actor != activity.actor:
        return "an actor may only undo its own activities"
    return None


class Inbox:
    """Accepts activities from peers; one per application."""

    def __init__(
        self,
        sessions: Sessions,
        resolver: ActorResolver,
        policy: FederationPolicy,
        *,
        window: timedelta,
        on_stored: Callable[[int, Activity], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        screen: Callable[[Activity], InboxResult | None] | None = None,
    ) -> None:
        self.writer = InboxWriter(sessions)
        self._resolver = resolver
        self._policy = policy
        self._window = window
        self._on_stored = on_stored
        self._clock = clock
        #: A role's own checks (the directory's profile rules), run after the origin checks.
        self._screen = screen

    async def close(self) -> None:
        """Let activities being written finish (the app is stopping)."""
        await self.writer.close()

    async def receive(
        self,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content_type: str,
        body: bytes,
        recipient_id: int | None,
    ) -> InboxResult:
        """Check one POST to an inbox and store it; the result says what to answer."""
        now = self._clock()
        if content_type not in AS2_TYPES:
            return _reject(
                415, f"expected application/activity+json, got {content_type or 'nothing'}"
            )
        try:
            signed = parse_signed_request(
                method=method, url=url, headers=headers, body=body, now=now, window=self._window
            )
        except SignatureError as exc:
            return _reject(exc.status, exc.reason)
        try:
            key_host = host_of(signed.key_id)
        except ValueError:
            return _reject(401, "keyId is not a URL")
        if not self._policy.allows(key_host):
            return _reject(403, f"{key_host} is not a federation peer of this node", host=key_host)
        try:
            # parse_activity runs check_document (depth, width, JSON-LD keywords) first.
            activity = parse_activity(json.loads(body))
        except (ValueError, RecursionError, VocabularyError) as exc:
            # RecursionError: json.loads recurses per nesting level (SECURITY.md row 17).
            reason = exc.reason if isinstance(exc, VocabularyError) else "body is not valid JSON"
            return _reject(400, reason, host=key_host)
        if host_of(activity.actor) != key_host:
            return _reject(
                401, "the signing key and the actor are on different hosts", host=key_host
            )
        problem = _origin_problem(activity)
        if problem is not None:
            return _reject(403, problem, host=key_host, activity=activity.id or "-")
        if self._screen is not None:
            refused = self._screen(activity)
            if refused is not None:
                return _reject(
                    refused.status, refused.reason, host=key_host, activity=activity.id or "-"
                )
        try:
            known = await self._resolver.verified_key(signed)
        except SignatureError as exc:
            return _reject(401, exc.reason, host=key_host, activity=activity.id or "-")
        except FetchError as exc:
            if (
                activity.type == "Delete"
                and activity.object_id == activity.actor
                and exc.status in {404, 410}
            ):
                # An unknown actor deleting itself: nothing of it is here (PROTOCOL.md S15).
                return InboxResult(202, "nothing to delete")
            return _reject(401, f"unable to fetch key {signed.key_id}: {exc.reason}", host=key_host)
        except ActivityPubError as exc:
            return _reject(401, f"unusable key {signed.key_id}: {exc.reason}", host=key_host)
        if known.actor_uri != activity.actor:
            # A forwarded activity: never trust its body as given (S16, SECURITY.md row 6).
            return _reject(401, "the signer is not the activity's actor", host=key_host)
        dedupe = activity.id or "sha256:" + hashlib.sha256(body).hexdigest()
        stored = await self.writer.write(
            {
                "id": new_id(now),
                "activity_id": dedupe,
                "actor_uri": activity.actor,
                "host": key_host,
                "body": body.decode(),
                "recipient_id": recipient_id,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "locked_until": None,
                "received_at": now,
                "applied_at": None,
                "error": None,
            }
        )
        if stored is None:
            log.info("inbox duplicate %s from %s", dedupe, key_host)
            return InboxResult(202, "already received")
        # DEBUG: at 1,000+ activities/s one INFO line each would cost more than storing them.
        log.debug("inbox accepted %s %s from %s", activity.type, dedupe, key_host)
        self._on_stored(stored, activity)
        return InboxResult(202, "accepted")
