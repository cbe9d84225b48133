"""Row ids that sort by time: milliseconds since the epoch in the high bits (as Mastodon's)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

__all__ = ["id_for_time", "new_id"]


def id_for_time(when: datetime, *, low: int = 0) -> int:
    """The id for *when*: ``ms << 16 | low``; ``low`` 0 gives the smallest id of that millisecond."""
    ms = int(when.timestamp() * 1000)
    return (ms << 16) | (low & 0xFFFF)


def new_id(now: datetime | None = None) -> int:
    """A fresh id for a row created at *now* (random low bits make collisions negligible)."""
    return id_for_time(now or datetime.now(UTC), low=secrets.randbits(16))
