"""The streaming bus: committed events to open streams, across processes (PROTOCOL.md C30–C32).

One bus per application (``cleanup_ctx``). Events committed in this process reach this
process's listeners at once (``node.services.events``). Events of other processes (more
server workers, ``kantine worker`` storing received posts) arrive:

- on PostgreSQL through ``LISTEN``/``NOTIFY``: the bus keeps one asyncpg connection, sends
  each committed batch as a small JSON ``NOTIFY`` off the posting path, and ignores its own;
- on SQLite by polling a cheap cursor (the ``rowid`` of ``statuses`` and ``notifications``)
  twice a second (two index-only reads). Edits and deletes of other processes are not seen
  there (no row is left to find).

The bus also enforces SECURITY.md row 20: twice a second it re-reads the tokens of open
streams and closes those whose token was revoked or whose account was suspended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import func, literal, literal_column, select
from sqlalchemy.engine import make_url
from sqlalchemy.sql.elements import ColumnClause

from node.db.engine import AsyncSession, Sessions
from node.db.models import Account, Notification, Status, Token, WebSession
from node.services.events import KINDS, EventKind, StreamEvent

__all__ = ["CHANNEL", "Listener", "StreamBus"]

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel.
CHANNEL = "kantine_streams"
_MAX_PAYLOAD = 7000  # PostgreSQL refuses payloads of 8000 bytes or more
_SEEN = 20_000
_QUEUE = 1000


@dataclass(eq=False)
class Listener:
    """One open stream: the events for it, and whether its token still holds."""

    token_id: int
    #: A browser session of the web pages, checked instead of a token (``token_id`` is then 0).
    web_session_id: int | None = None
    queue: asyncio.Queue[StreamEvent] = field(default_factory=lambda: asyncio.Queue(maxsize=_QUEUE))
    revoked: asyncio.Event = field(default_factory=asyncio.Event)


class StreamBus:
    """Fans committed events out to the listeners of this process (see the module doc)."""

    def __init__(self, sessions: Sessions, database_url: str, *, interval: float = 0.5) -> None:
        self._sessions = sessions
        self._url = database_url
        self._interval = interval
        self._listeners: set[Listener] = set()
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._origin = uuid.uuid4().hex
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._cursors: dict[str, int] | None = None
        self._postgres = make_url(database_url).get_backend_name() == "postgresql"

    # -- producers ---------------------------------------------------------------------

    def publish(self, events: list[StreamEvent]) -> None:
        """Hand committed *events* to local listeners and, on PostgreSQL, to other processes."""
        self._dispatch(events)
        if self._postgres:
            for payload in _payloads(self._origin, events):
                self._outgoing.put_nowait(payload)

    def _dispatch(self, events: list[StreamEvent]) -> None:
        fresh = [e for e in events if self._first_time(e)]
        if not fresh:
            return
        for listener in self._listeners:
            for item in fresh:
                with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses events
                    listener.queue.put_nowait(item)

    def _first_time(self, item: StreamEvent) -> bool:
        key = (item.kind, item.id)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _SEEN:
            self._seen.popitem(last=False)
        return True

    # -- consumers ---------------------------------------------------------------------

    def listen(self, token_id: int, *, web_session_id: int | None = None) -> Listener:
        """Open a listener for a stream authorised by *token_id* (or a web session)."""
        listener = Listener(token_id, web_session_id)
        self._listeners.add(listener)
        return listener

    @property
    def open_streams(self) -> int:
        """How many streams are open in this process."""
        return len(self._listeners)

    def forget(self, listener: Listener) -> None:
        """Close *listener* (its stream ended)."""
        self._listeners.discard(listener)

    def close_all(self) -> None:
        """End every open stream (the node is shutting down: don't wait for a heartbeat)."""
        for listener in self._listeners:
            listener.revoked.set()

    # -- the background task -----------------------------------------------------------

    async def run(self) -> None:
        """Check tokens, poll (SQLite) or listen (PostgreSQL) until cancelled."""
        connection: Any = None
        sender: asyncio.Task[None] | None = None
        try:
            if self._postgres:
                connection = await self._connect()
                sender = asyncio.create_task(self._send(connection), name="stream-notify")
            while True:
                try:
                    if self._listeners:
                        await self._check_tokens()
                    if not self._postgres:
                        await self._poll()
                except Exception:  # the database may be briefly busy; try again shortly
                    log.exception("stream bus check failed")
                await asyncio.sleep(self._interval)
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            if connection is not None:
                await connection.close()

    async def _connect(self) -> Any:
        dsn = make_url(self._url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        await connection.add_listener(CHANNEL, self._notified)
        return connection

    async def _send(self, connection: Any) -> None:
        while True:
            payload = await self._outgoing.get()
            try:
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            except (asyncpg.PostgresError, OSError):
                log.exception("stream notify failed; other processes miss %d bytes", len(payload))

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if not self._listeners:  # nobody here to tell (a busy inbox sends many of these)
            return
        try:
            message = json.loads(payload)
            if message.get("o") == self._origin:
                return
            events = [
                StreamEvent(kind, int(item_id), str(visibility), tuple(map(int, audience)))
                for kind, item_id, visibility, audience in message["e"]
                if kind in KINDS
            ]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed stream notification")
            return
        self._dispatch(events)

    async def _check_tokens(self) -> None:
        """Close the streams of revoked tokens and suspended accounts (SECURITY.md row 20)."""
        wanted = {listener.token_id for listener in self._listeners}
        async with self._sessions() as session:
            valid = await _unrevoked(session, Token, wanted)
            sessions = {
                listener.web_session_id
                for listener in self._listeners
                if listener.web_session_id is not None
            }
            live = await _unrevoked(session, WebSession, sessions) if sessions else set()
        for listener in list(self._listeners):
            # A stream opened while the query ran is checked next time, not taken for revoked.
            if listener.web_session_id is not None:
                if listener.web_session_id in sessions and listener.web_session_id not in live:
                    listener.revoked.set()
            elif listener.token_id in wanted and listener.token_id not in valid:
                listener.revoked.set()

    async def _poll(self) -> None:
        """New statuses and notifications written by other processes (SQLite)."""
        sources: tuple[tuple[Any, EventKind], ...] = (
            (Status, "update"),
            (Notification, "notification"),
        )
        rowid: ColumnClause[Any] = literal_column("rowid")
        found: list[StreamEvent] = []
        async with self._sessions() as session:
            if self._cursors is None or not self._listeners:
                # Nobody listens here: only move the cursors (no row of a busy inbox is read).
                self._cursors = {
                    kind: int(await session.scalar(select(func.max(rowid)).select_from(model)) or 0)
                    for model, kind in sources
                }
                return
            for model, kind in sources:
                direct = model.visibility == "direct" if model is Status else literal(False)
                rows = (
                    await session.execute(
                        select(rowid, model.id, direct)
                        .where(rowid > self._cursors[kind])
                        .order_by(rowid)
                        .limit(500)
                    )
                ).all()
                for position, item_id, is_direct in rows:
                    self._cursors[kind] = max(self._cursors[kind], int(position))
                    found.append(StreamEvent(kind, int(item_id)))
                    if is_direct:  # its conversations changed too (named by the post)
                        found.append(StreamEvent("conversation", int(item_id)))
        self._dispatch(found)


def _payloads(origin: str, events: list[StreamEvent]) -> list[str]:
    """Small JSON ``NOTIFY`` payloads for *events*, split below PostgreSQL's limit."""
    out: list[str] = []
    batch: list[list[Any]] = []
    for item in events:
        batch.append([item.kind, item.id, item.visibility, list(item.audience)])
        if len(batch) >= 100:
            out.append(json.dumps({"o": origin, "e": batch}, separators=(",", ":")))
            batch = []
    if batch:
        out.append(json.dumps({"o": origin, "e": batch}, separators=(",", ":")))
    assert all(len(p) < _MAX_PAYLOAD for p in out)
    return out


async def _unrevoked(
    session: AsyncSession, model: type[Token] | type[WebSession], ids: set[int]
) -> set[int]:
    """The *ids* of tokens or browser sessions still valid: not revoked, account not suspended."""
    return set(
        (
            await session.execute(
                select(model.id)
                .join(Account, Account.id == model.account_id)
                .where(
                    model.id.in_(ids), model.revoked_at.is_(None), Account.suspended_at.is_(None)
                )
            )
        ).scalars()
    )


T = TypeVar("T")


async def stop_tasks(*tasks: asyncio.Future[Any]) -> None:
    """Cancel *tasks* and wait until they have ended."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def relay(
    listener: Listener,
    batch: Callable[[], Awaitable[Sequence[T]]],
    send: Callable[[T], Awaitable[None]],
    heartbeat: Callable[[], Awaitable[None]],
    interval: float,
) -> None:
    """Send each item of each *batch* until *listener* is revoked or the client goes away;
    *heartbeat* when nothing came for *interval* seconds. One loop for every event stream
    (the Mastodon SSE endpoints and the web pages')."""
    events = asyncio.ensure_future(batch())
    revoked = asyncio.ensure_future(listener.revoked.wait())
    try:
        while True:
            done, _ = await asyncio.wait(
                {events, revoked}, timeout=interval, return_when=asyncio.FIRST_COMPLETED
            )
            if revoked in done:
                break
            if events not in done:
                await heartbeat()
                continue
            for item in events.result():
                await send(item)
            events = asyncio.ensure_future(batch())
    except ConnectionResetError:
        pass  # the client went away
    finally:
        await stop_tasks(events, revoked)
