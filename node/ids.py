"""Row ids that sort by time: milliseconds since the epoch in the high bits (as Mastodon's)."""

from __future__ import annotations

import itertools
import os
import secrets
from datetime import UTC, datetime

__all__ = ["id_for_time", "new_id"]

# The low 16 bits: 4 bits of the process (server.workers forks processes with consecutive
# pids, so they differ here) and a 12-bit per-process sequence, so ids made in the same
# millisecond by one process never collide and those of two processes rarely do; writers
# that can meet a collision retry with a fresh id. Process-wide like the clock it
# complements; it holds no request data.
_SEQUENCE = itertools.count(secrets.randbits(12))


def _low() -> int:
    return ((os.getpid() & 0xF) << 12) | (next(_SEQUENCE) & 0xFFF)


def id_for_time(when: datetime, *, low: int = 0) -> int:
    """The id for *when*: ``ms << 16 | low``; ``low`` 0 gives the smallest id of that millisecond."""
    ms = int(when.timestamp() * 1000)
    return (ms << 16) | (low & 0xFFFF)


def new_id(when: datetime | None = None) -> int:
    """A fresh id for a row created (or, for a remote post, published) at *when*.

    Mastodon writes ``published`` to the second, so a burst of posts from one second would
    crowd into one millisecond; such times are spread over their second by the arrival time.
    """
    now = datetime.now(UTC)
    if when is None:
        when = now
    elif when.microsecond == 0:
        when = when.replace(microsecond=now.microsecond // 1000 * 1000)
    return id_for_time(when, low=_low())
