"""When to retry a delivery: response classes and back-off, as pure functions (PROTOCOL.md A28)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["MAX_DELAY", "Outcome", "expired", "next_attempt_at", "outcome"]

Outcome = Literal["delivered", "retry", "give_up"]

#: The longest wait between two tries. Mastodon's ``count⁴`` grows to days; inside an
#: organisation a peer that is back on Monday morning should not wait until Tuesday, so a
#: peer down over a long weekend is still tried about four times a day.
MAX_DELAY = timedelta(hours=6)

#: 4xx answers that are worth another try (A28): 401 (the peer may not have our new key
#: yet), 408 Request Timeout and 429 Too Many Requests.
_RETRYABLE_4XX = frozenset({401, 408, 429})


def outcome(status: int | None) -> Outcome:
    """Classify a delivery response per PROTOCOL.md A28 (Mastodon's ``DeliveryWorker``).

    2xx is delivered; 4xx other than 401/408/429, and 501 Not Implemented, are
    unsalvageable; every other status, and ``None`` (timeout or connection error), is
    retried.
    """
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if (400 <= status < 500 and status not in _RETRYABLE_4XX) or status == 501:
        return "give_up"
    return "retry"


def next_attempt_at(attempts: int, *, now: datetime, rng: random.Random | None = None) -> datetime:
    """When to try again after *attempts* failed tries (A28: ``count⁴ + 15 s`` + jitter).

    The jitter is up to half of ``count⁴`` as in Mastodon, so peers that failed together do
    not all come back at once; the delay never exceeds ``MAX_DELAY`` (a capped delay is
    spread over its last tenth for the same reason).
    """
    rng = rng or random.Random()
    count = max(attempts, 1)
    base = count**4
    seconds = base + 15 + rng.uniform(0, 0.5 * base)
    ceiling = MAX_DELAY.total_seconds()
    if seconds >= ceiling:
        seconds = ceiling * (1 - 0.1 * rng.random())
    return now + timedelta(seconds=seconds)


def expired(created_at: datetime, *, now: datetime, horizon: timedelta) -> bool:
    """Whether a delivery created at *created_at* is past the retry horizon at *now*."""
    return now - created_at >= horizon
