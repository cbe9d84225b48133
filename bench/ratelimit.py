"""What the API rate limit adds to each request: the middleware around a handler that does nothing.

The middleware (``node.api.mastodon.ratelimit``) runs on every ``/api/`` request, the home
timeline's fast path included. This times it in-process around an empty handler, with the
limits on (10,000 tokens in turn, as a busy node sees them) and off, and prints the
difference per request.

    python -m bench.ratelimit [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bench.report import machine, table
from config.settings import RateLimitSettings
from node.api.mastodon.ratelimit import RATE_LIMITS, ApiLimits, rate_limit_middleware

__all__ = ["main"]


async def _empty(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"[]", content_type="application/json")


async def _run(requests: int, *, limited: bool) -> float:
    app = web.Application()
    if limited:
        # High enough that nobody is refused: the cost of counting, not of refusing.
        app[RATE_LIMITS] = ApiLimits(RateLimitSettings(api_requests=10**9))
    batch = [
        make_mocked_request(
            "GET",
            "/api/v1/timelines/home?limit=40",
            headers={"Authorization": f"Bearer token-{n:05d}-" + "x" * 32},
            app=app,
        )
        for n in range(10_000)
    ]
    began = time.perf_counter()
    for i in range(requests):
        await rate_limit_middleware(batch[i % len(batch)], _empty)
    return (time.perf_counter() - began) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    off = min(asyncio.run(_run(args.requests, limited=False)) for _ in range(3))
    on = min(asyncio.run(_run(args.requests, limited=True)) for _ in range(3))
    print(machine())
    print(
        table(
            "API rate limit overhead",
            ["limits", "µs per request"],
            [
                ["off (handler only)", f"{off * 1e6:.2f}"],
                ["on (10,000 tokens)", f"{on * 1e6:.2f}"],
                ["added by the limit", f"{(on - off) * 1e6:.2f}"],
            ],
        )
    )


if __name__ == "__main__":
    main()
