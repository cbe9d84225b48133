"""Scheduled posts: rows in ``scheduled_statuses``, published by the node's worker when due.

Work is rows, not memory (STYLE.md): a scheduled post survives restarts, and the worker
publishes each due row in one transaction that also deletes it — with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two workers never publish one post twice. Time comes from an
injectable clock, so tests step the worker instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from activitypub.errors import ActivityPubError
from node.db.engine import AsyncSession
from node.db.models import Account, MediaAttachment, ScheduledStatus, Status
from node.ids import new_id
from node.services.context import NodeContext
from node.services.media import (
    MediaError,
    MediaStore,
    attach_media,
    attachment_document,
    link_media,
)
from node.services.statuses import MAX_TEXT, VISIBILITIES, PostError, post_status
from node.services.visibility import can_see

__all__ = [
    "DAILY_LIMIT",
    "MIN_DELAY",
    "TOTAL_LIMIT",
    "PostParams",
    "ScheduleError",
    "Scheduler",
    "check_media",
    "schedule_post",
]

log = logging.getLogger(__name__)

#: Mastodon's rules: at least five minutes ahead, 300 waiting, 25 for any one day.
MIN_DELAY = timedelta(minutes=5)
TOTAL_LIMIT = 300
DAILY_LIMIT = 25
_POLL_SECONDS = 5.0
_KEY_LIFETIME = timedelta(hours=1)

Clock = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(UTC)


class ScheduleError(ValueError):
    """A post could not be scheduled; the message is for the person who asked."""


@dataclass(frozen=True)
class PostParams:
    """What a scheduled post will be published with (Mastodon's ScheduledStatus ``params``)."""

    text: str
    visibility: str = "public"
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    in_reply_to_id: int | None = None
    idempotency: str | None = None
    #: The client that scheduled it: its OAuth app, or for a ``kantine tokens`` token the token.
    application_id: int | None = None
    #: The author's uploads to attach when it is published, in order.
    media_ids: tuple[int, ...] = ()

    def check(self) -> None:
        """The checks ``post_status`` makes, made now so a bad post is refused at once."""
        if self.visibility not in VISIBILITIES:
            raise ScheduleError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if not self.text.strip() and not self.media_ids:
            raise ScheduleError("a post needs some text")
        if len(self.text) > MAX_TEXT or len(self.spoiler_text) > 500:
            raise ScheduleError(
                f"a post may have at most {MAX_TEXT} characters and a 500-character warning"
            )

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "media_ids": list(self.media_ids)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> PostParams:
        data: dict[str, Any] = json.loads(raw)
        data["media_ids"] = tuple(int(i) for i in data.get("media_ids") or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _check_time(when: datetime, now: datetime) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when < now + MIN_DELAY:
        raise ScheduleError("scheduled_at must be at least 5 minutes in the future")
    return when.astimezone(UTC)


async def check_limits(
    session: AsyncSession, account_id: int, when: datetime, *, ignore: int | None = None
) -> None:
    """Refuse a 301st waiting post, or a 26th for the same day (as Mastodon)."""
    base = (
        select(func.count())
        .select_from(ScheduledStatus)
        .where(ScheduledStatus.account_id == account_id)
    )
    if ignore is not None:
        base = base.where(ScheduledStatus.id != ignore)
    if int(await session.scalar(base) or 0) >= TOTAL_LIMIT:
        raise ScheduleError(f"You can schedule at most {TOTAL_LIMIT} posts")
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    same_day = base.where(
        ScheduledStatus.scheduled_at >= day,
        ScheduledStatus.scheduled_at < day + timedelta(days=1),
    )
    if int(await session.scalar(same_day) or 0) >= DAILY_LIMIT:
        raise ScheduleError(f"You can schedule at most {DAILY_LIMIT} posts for one day")


async def schedule_post(
    session: AsyncSession,
    account_id: int,
    when: datetime,
    params: PostParams,
    *,
    now: datetime | None = None,
) -> ScheduledStatus:
    """Store a post to publish at *when* (≥ 5 minutes ahead); ScheduleError otherwise.

    A retry with the same ``Idempotency-Key`` within an hour gets the post it scheduled.
    """
    now = now or _system_clock()
    when = _check_time(when, now)
    params.check()
    if params.idempotency:
        for earlier in await session.scalars(
            select(ScheduledStatus).where(
                ScheduledStatus.account_id == account_id,
                ScheduledStatus.created_at > now - _KEY_LIFETIME,
            )
        ):
            if PostParams.from_json(earlier.params_json).idempotency == params.idempotency:
                return earlier
    await check_limits(session, account_id, when)
    row = ScheduledStatus(
        id=new_id(now),
        account_id=account_id,
        scheduled_at=when,
        params_json=params.to_json(),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def reschedule(
    session: AsyncSession, row: ScheduledStatus, when: datetime, *, now: datetime | None = None
) -> None:
    """Move a waiting post to *when* (same rules as scheduling it)."""
    when = _check_time(when, now or _system_clock())
    await check_limits(session, row.account_id, when, ignore=row.id)
    row.scheduled_at = when


async def check_media(
    session: AsyncSession, store: MediaStore, account_id: int, media_ids: Sequence[int]
) -> None:
    """The uploads must be the author's and not yet posted (as for posting now), or 422."""
    try:
        await attach_media(session, store, account_id, [str(i) for i in media_ids])
    except MediaError as exc:
        raise ScheduleError(exc.message) from None


class Scheduler:
    """Publishes due scheduled posts: ``run`` in the background, ``run_once`` in tests."""

    def __init__(
        self, ctx: NodeContext, media: MediaStore, *, clock: Clock = _system_clock
    ) -> None:
        self.ctx = ctx
        self.media = media
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look again now (a post was scheduled or moved)."""
        self._wake.set()

    async def run(self) -> None:
        """Publish due posts every few seconds until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:  # the database may be briefly busy; the rows wait
                log.exception("publishing scheduled posts failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=_POLL_SECONDS)

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Publish every post due at *now* (the clock's time by default); how many were."""
        now = now or self.clock()
        done = 0
        while await self._publish_next(now):
            done += 1
        return done

    async def _publish_next(self, now: datetime) -> bool:
        async with self.ctx.sessions() as session, session.begin():
            row = await session.scalar(
                select(ScheduledStatus)
                .where(ScheduledStatus.scheduled_at <= now)
                .order_by(ScheduledStatus.scheduled_at, ScheduledStatus.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return False
            await self._publish(session, row)
            await session.delete(row)
        return True

    async def _publish(self, session: AsyncSession, row: ScheduledStatus) -> None:
        author = await session.get(Account, row.account_id)
        if author is None or author.suspended_at is not None:
            log.info("scheduled post %d dropped: its author is gone or suspended", row.id)
            return
        params = PostParams.from_json(row.params_json)
        parent = None
        if params.in_reply_to_id is not None:
            parent = await session.get(Status, params.in_reply_to_id)
            if parent is not None and not await can_see(
                session, parent, author.id, viewer_local=True
            ):
                parent = None  # deleted or no longer visible: post it on its own, as Mastodon
        media = await self._media(session, author, params.media_ids, row.id)
        try:
            status = await post_status(
                self.ctx,
                session,
                author,
                params.text,
                visibility=params.visibility,
                summary=params.spoiler_text,
                sensitive=params.sensitive,
                in_reply_to=parent,
                language=params.language,
                attachments=[attachment_document(self.media, m) for m in media],
            )
        except (PostError, ActivityPubError) as exc:
            log.warning("scheduled post %d of %s not published: %s", row.id, author.username, exc)
            return
        await link_media(session, status.id, media)
        log.info("scheduled post %d of %s published as %d", row.id, author.username, status.id)

    async def _media(
        self, session: AsyncSession, author: Account, media_ids: Sequence[int], row_id: int
    ) -> list[MediaAttachment]:
        """The uploads still free to attach; one posted or deleted meanwhile is left out."""
        found: list[MediaAttachment] = []
        for media_id in media_ids:
            try:
                found += await attach_media(session, self.media, author.id, [str(media_id)])
            except MediaError as exc:
                log.warning("scheduled post %d: media %d left out: %s", row_id, media_id, exc)
        return found
