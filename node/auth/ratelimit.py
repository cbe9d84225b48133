"""Throttling of password attempts per client address and per account (SECURITY.md row 21).

OWASP ASVS 2.2.1: anti-automation on login and token paths. Both password paths (the login
form of ``/oauth/authorize`` and the ``password`` grant of ``/oauth/token``) ask the same
:class:`LoginLimiter` before checking a password, so a client that is over either limit
learns nothing more about any password.

The counts live in memory, per process, hung off the application object: with
``server.workers > 1`` each worker counts on its own (the effective limit is multiplied by
the number of workers), and a restart forgets them. That is acceptable against online
guessing for now; a shared store (a database table) is the step after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["LoginLimiter", "RateLimited", "Window"]


@dataclass(frozen=True)
class Window:
    """At most ``limit`` events per ``seconds``."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class RateLimited:
    """A refusal, with what the ``X-RateLimit-*`` headers say (PROTOCOL.md C7)."""

    limit: int
    retry_after: float

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit/Remaining/Reset`` (ISO 8601, as Mastodon) and ``Retry-After``."""
        reset = datetime.now(UTC) + timedelta(seconds=self.retry_after)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{reset.microsecond // 1000:03d}Z",
            "Retry-After": str(max(1, int(self.retry_after + 0.999))),
        }


class _Counter:
    """Fixed-window counts per key, pruned when the table grows."""

    def __init__(self, window: Window, clock: Callable[[], float], max_keys: int) -> None:
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._counts: dict[str, tuple[float, int]] = {}

    def _current(self, key: str) -> tuple[float, int]:
        now = self._clock()
        started, count = self._counts.get(key, (now, 0))
        if now - started >= self.window.seconds:
            return now, 0
        return started, count

    def refused(self, key: str) -> RateLimited | None:
        started, count = self._current(key)
        if count < self.window.limit:
            return None
        return RateLimited(self.window.limit, started + self.window.seconds - self._clock())

    def add(self, key: str) -> None:
        if len(self._counts) >= self._max_keys:
            self._prune()
        started, count = self._current(key)
        self._counts[key] = (started, count + 1)

    def clear(self, key: str) -> None:
        self._counts.pop(key, None)

    def _prune(self) -> None:
        now = self._clock()
        self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window.seconds}
        if len(self._counts) >= self._max_keys:  # still full of live keys: forget the oldest half
            keep = sorted(self._counts.items(), key=lambda kv: kv[1][0])[self._max_keys // 2 :]
            self._counts = dict(keep)


class LoginLimiter:
    """Every attempt counts against the client address; failed ones also against the account.

    Defaults: 30 attempts per address per 5 minutes, 10 failures per account per 15 minutes.
    A success clears the account's failures. Unknown user names are counted like known ones,
    so the limiter does not tell which names exist.
    """

    def __init__(
        self,
        *,
        per_address: Window = Window(30, 300.0),
        per_account: Window = Window(10, 900.0),
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._addresses = _Counter(per_address, clock, max_keys)
        self._accounts = _Counter(per_account, clock, max_keys)

    @staticmethod
    def _account_key(username: str) -> str:
        return username.strip().lower()[:320]

    def check(self, address: str, username: str) -> RateLimited | None:
        """A refusal if *address* or the account is over its limit; else count the attempt."""
        refused = self._addresses.refused(address) or self._accounts.refused(
            self._account_key(username)
        )
        if refused is None:
            self._addresses.add(address)
        return refused

    def record(self, username: str, *, success: bool) -> None:
        """Record how an attempt ended."""
        key = self._account_key(username)
        if success:
            self._accounts.clear(key)
        else:
            self._accounts.add(key)
