"""API rate limits as Mastodon sets them (PROTOCOL.md C7): ``X-RateLimit-*`` headers and 429.

Every answer under ``/api/`` carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (ISO 8601, when the window ends). Requests are counted per bearer
token, or per client address when no token is sent. Over the limit the client gets 429
``{"error": "Too many requests"}`` with the same headers and ``Retry-After``; the handler
does not run, so nothing is created. Media uploads count in a second, tighter window.

The counts are fixed windows held in memory per process, like the login limiter
(``node.auth.ratelimit``): with ``server.workers > 1`` each worker counts on its own, and a
restart forgets them. The check is a dictionary lookup and a clock read per request; the
``Reset`` text is formatted once per window (docs/performance.md has the figure).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from config.settings import RateLimitSettings
from node.api.mastodon.common import Handler, datetime_json, json_response

__all__ = ["RATE_LIMITS", "ApiLimits", "rate_limit_middleware"]

_MEDIA_PATHS = frozenset({"/api/v1/media", "/api/v2/media", "/api/v1/media/", "/api/v2/media/"})


class _Entry:
    __slots__ = ("count", "reset", "started")

    def __init__(self, started: float, reset: str) -> None:
        self.started = started
        self.count = 0
        self.reset = reset


class _Windows:
    """Fixed windows per key, pruned when the table fills."""

    __slots__ = ("_clock", "_counts", "_max_keys", "limit", "seconds")

    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float], max_keys: int
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._max_keys = max_keys
        self._counts: dict[str, _Entry] = {}

    def hit(self, key: str) -> tuple[int, float, str]:
        """Count one request for *key* → (remaining, seconds until reset, reset text).

        Remaining is -1 when the request is over the limit (and then it is not counted).
        """
        now = self._clock()
        entry = self._counts.get(key)
        if entry is None or now - entry.started >= self.seconds:
            if len(self._counts) >= self._max_keys:
                self._prune(now)
            reset = datetime_json(datetime.now(UTC) + timedelta(seconds=self.seconds))
            entry = self._counts[key] = _Entry(now, reset or "")
        left = entry.started + self.seconds - now
        if entry.count >= self.limit:
            return -1, left, entry.reset
        entry.count += 1
        return self.limit - entry.count, left, entry.reset

    def _prune(self, now: float) -> None:
        self._counts = {k: v for k, v in self._counts.items() if now - v.started < self.seconds}
        if len(self._counts) >= self._max_keys:  # still full of live keys: forget the oldest half
            ordered = sorted(self._counts.items(), key=lambda kv: kv[1].started)
            self._counts = dict(ordered[self._max_keys // 2 :])


class ApiLimits:
    """The API window and the media window; a limit of 0 is no limit."""

    def __init__(
        self,
        settings: RateLimitSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.api = (
            _Windows(settings.api_requests, settings.api_window_seconds, clock, max_keys)
            if settings.api_requests > 0
            else None
        )
        self.media = (
            _Windows(settings.media_uploads, settings.media_window_seconds, clock, max_keys)
            if settings.media_uploads > 0
            else None
        )


RATE_LIMITS = web.AppKey("rate_limits", ApiLimits)


def _key(request: web.Request) -> str:
    authorization = request.headers.get("Authorization")
    if authorization:
        return "t:" + authorization[:512]
    token = request.query.get("access_token")
    if token:
        return "t:Bearer " + token[:512]
    return "a:" + (request.remote or "")


def _headers(limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": reset,
    }


def _refusal(limit: int, left: float, reset: str) -> web.StreamResponse:
    headers = _headers(limit, 0, reset)
    headers["Retry-After"] = str(max(1, int(left + 0.999)))
    return json_response({"error": "Too many requests"}, status=429, headers=headers)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count API requests; refuse with 429 over the limit, else add the headers."""
    path = request.path
    limits = request.app.get(RATE_LIMITS)
    if (
        limits is None
        or not path.startswith("/api/")
        or path.startswith("/api/v1/streaming")  # long-lived; its own checks (C30)
        or request.method == "OPTIONS"  # CORS preflight: the request itself is counted
    ):
        return await handler(request)
    key = _key(request)
    if limits.media is not None and request.method == "POST" and path in _MEDIA_PATHS:
        remaining, left, reset = limits.media.hit(key)
        if remaining < 0:
            return _refusal(limits.media.limit, left, reset)
    if limits.api is None:
        return await handler(request)
    remaining, left, reset = limits.api.hit(key)
    if remaining < 0:
        return _refusal(limits.api.limit, left, reset)
    response = await handler(request)
    if not response.prepared:
        response.headers.update(_headers(limits.api.limit, remaining, reset))
    return response
