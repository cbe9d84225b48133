"""Stream events: recorded inside a transaction, handed on only when it commits (PROTOCOL.md C31).

A producer (posting, editing, deleting, notifying, storing a received post) calls
:func:`record` with the session it writes through. Nothing is sent until the transaction
commits, and a rollback discards the events, so a stream never shows a post that does not
exist. Recording costs no query: the event waits in ``session.info``.

Where events go is the session factory's business: :func:`attach` puts a sink into every
session the factory makes (the composition root attaches the streaming bus). Sessions
without a sink (one-shot commands) record nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import Session

from node.db.engine import AsyncSession, Sessions

__all__ = ["KINDS", "EventKind", "Sink", "StreamEvent", "attach", "record"]

EventKind = Literal["update", "delete", "status.update", "notification", "conversation"]

#: What producers record: a new status, a deleted one, an edited one, a new notification,
#: a direct-message conversation that changed.
KINDS: tuple[EventKind, ...] = ("update", "delete", "status.update", "notification", "conversation")


@dataclass(frozen=True)
class StreamEvent:
    """Something a stream may show: its kind and the id of the status or notification.

    ``visibility`` and ``audience`` (the local accounts that had it in their home feed, and
    its author) are kept for deletes only, whose row is gone by the time streams look.
    """

    kind: EventKind
    id: int
    visibility: str = ""
    audience: tuple[int, ...] = ()


Sink = Callable[[list[StreamEvent]], None]

_SINK = "kantine.stream_sink"
_PENDING = "kantine.stream_pending"


def attach(sessions: Sessions, sink: Sink) -> None:
    """Send the events of every committed transaction of *sessions* to *sink*."""
    info: dict[Any, Any] = dict(sessions.kw.get("info") or {})
    info[_SINK] = sink
    sessions.configure(info=info)


def record(
    session: AsyncSession,
    kind: EventKind,
    item_id: int,
    *,
    visibility: str = "",
    audience: tuple[int, ...] = (),
) -> None:
    """Remember a stream event; it is published when the session's transaction commits."""
    if _SINK not in session.info:
        return
    pending: list[StreamEvent] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        sync = session.sync_session
        if not event.contains(sync, "after_commit", _committed):
            event.listen(sync, "after_commit", _committed)
            event.listen(sync, "after_rollback", _rolled_back)
    pending.append(StreamEvent(kind, item_id, visibility, audience))


def _committed(session: Session) -> None:
    pending: list[StreamEvent] | None = session.info.pop(_PENDING, None)
    sink: Sink | None = session.info.get(_SINK)
    if pending and sink is not None:
        sink(pending)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
