"""The start page: server time with 40 posts (p50/p99) and page weight (issue 6).

A node is composed in-process (``create_app``) on loopback over a seeded database: a
viewer who follows ``--authors`` people, ``--statuses`` posts spread over them (each also
in the viewer's home feed, as fan-out would put it), some with a content warning, a
hashtag, a mention or a reply. The viewer logs in through the login form; then ``GET /``
is requested ``--requests`` times. *Server time* is measured by a middleware around the
whole handler chain (session lookup, timeline query, rendering); *round trip* adds the
loopback HTTP. *Page weight* is the HTML plus the CSS and JS it loads, uncompressed (and
gzip-compressed for reference), without avatars and photos.

    python -m bench.startpage [--statuses 20000] [--requests 300] [--database-url URL]

``--database-url`` with ``--no-seed`` runs over an existing data set (the 1M-status one
of ``bench/seed.py``) given ``--viewer``/``--password`` of a person in it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, insert, select, update
from sqlalchemy import text as sql

from bench.nodes import free_port
from bench.report import machine, table
from config import settings_from_mapping
from node.app import create_app
from node.appkeys import CONTEXT, ENGINE
from node.db.models import Follow, HomeFeedEntry, Status, WebSession
from node.heap import settle_heap
from node.ids import id_for_time, new_id
from node.services.accounts import create_local_account

__all__ = ["main", "run"]

HOST = "127.0.0.2"
PASSWORD = "startpage benchmark"
_TEXTS = (
    "Het kwartaalverslag staat klaar op de wiki. Graag voor vrijdag je opmerkingen, dan "
    "kunnen we het maandag bespreken in het teamoverleg.",
    "Wie heeft er zin in een lunchwandeling om half een? We lopen een rondje door het park.",
    "De nieuwe koffiemachine op de derde verdieping doet het weer. Dank aan de facilitaire dienst!",
    "Reminder: the security training closes on Friday. It takes about twenty minutes.",
    "Kan iemand mij helpen met de nieuwe declaratie-app? Ik krijg mijn bonnetje niet geüpload.",
)


def _content(n: int, domain: str) -> tuple[str, str]:
    text = _TEXTS[n % len(_TEXTS)]
    html = f"<p>{text}</p>"
    if n % 4 == 0:
        html += (
            f'<p><a href="http://{domain}/tags/planning" class="mention hashtag" rel="tag">'
            "#<span>planning</span></a></p>"
        )
    if n % 7 == 0:
        html += (
            f'<p><span class="h-card"><a href="http://{domain}/users/author1" class="u-url '
            'mention">@<span>author1</span></a></span> kun jij hiernaar kijken?</p>'
        )
    return text, html


async def _seed(app: web.Application, statuses: int, authors: int) -> str:
    ctx = app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        viewer = await create_local_account(
            session, ctx.domain, ctx.urls, "viewer", password=PASSWORD
        )
        people = [
            await create_local_account(session, ctx.domain, ctx.urls, f"author{n}")
            for n in range(authors)
        ]
        for person in people:
            await session.execute(
                insert(Follow).values(
                    id=new_id(),
                    account_id=viewer.id,
                    target_account_id=person.id,
                    state="accepted",
                    uri=f"{ctx.urls.base}/follows/{person.id}",
                )
            )
    start = datetime.now(UTC) - timedelta(days=60)
    step = timedelta(days=60) / max(statuses, 1)
    batch: list[dict[str, object]] = []
    feed: list[dict[str, object]] = []
    for n in range(statuses):
        author = people[n % authors]
        when = start + step * n
        status_id = id_for_time(when, low=n & 0xFFFF)
        text, html = _content(n, ctx.domain)
        batch.append(
            {
                "id": status_id,
                "uri": f"{ctx.urls.base}/users/{author.username}/statuses/{status_id}",
                "url": f"{ctx.urls.base}/@{author.username}/{status_id}",
                "account_id": author.id,
                "local": True,
                "content": html,
                "text": text,
                "summary": "Werk" if n % 11 == 0 else "",
                "sensitive": n % 11 == 0,
                "visibility": "local" if n % 5 == 0 else "public",
                "language": "nl",
                "created_at": when,
                "updated_at": when,
            }
        )
        feed.append({"account_id": viewer.id, "status_id": status_id})
        if len(batch) >= 2000 or n == statuses - 1:
            async with ctx.sessions() as session, session.begin():
                await session.execute(insert(Status), batch)
                await session.execute(insert(HomeFeedEntry), feed)
            batch, feed = [], []
    async with ctx.sessions() as session:
        if app[ENGINE].dialect.name == "postgresql":  # fresh statistics, as a live database has
            await session.execute(sql("ANALYZE"))
            await session.commit()
    return "viewer"


async def _someone_writes(app: web.Application, n: int) -> None:
    """One commit of something the page does not show (the newest browser session's user
    agent: the data set gains no rows and keeps its content), as another request's write."""
    async with app[CONTEXT].sessions() as session, session.begin():
        await session.execute(
            update(WebSession)
            .where(WebSession.id == select(func.max(WebSession.id)).scalar_subquery())
            .values(user_agent=f"bench.startpage {n}")
        )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(
    *, database_url: str, statuses: int, authors: int, requests: int, seed: bool,
    viewer: str, password: str, domain: str | None = None, settle: bool = True,
    write_every: int = 0,
) -> dict[str, float]:  # fmt: skip
    """Seed (unless told not to), log in, time ``GET /``; the figures.

    With *write_every*, a commit lands before every *write_every*-th request, as other
    people's writes do on a live node: what is cached until the next commit is then cold
    for that request.

    *domain* serves a data set made for another domain (``bench.seed``'s ``bench.example``,
    with an https base URL) on loopback; cookies are then carried by hand, since a client
    keeps ``Secure`` cookies away from plain http.
    """
    port = free_port(HOST)
    node = (
        {"domain": domain, "base_url": f"https://{domain}"}
        if domain
        else {"domain": f"{HOST}:{port}", "base_url": f"http://{HOST}:{port}"}
    )
    settings = settings_from_mapping(
        {
            "node": node,
            "server": {"host": HOST, "port": port},
            "database": {"url": database_url, "pool_size": 5},
            "federation": {"allow_http": not domain},
        },
        env={},
    )
    app = create_app(settings, run_workers=False)
    server_times: list[float] = []
    server_cpu: list[float] = []  # the process's CPU (client idle meanwhile): less load-bound
    pauses: list[tuple[int, float]] = []  # garbage collections: (generation, CPU seconds)
    collecting: list[float] = []

    def collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[:] = [time.thread_time()]
        elif collecting:
            pauses.append((info["generation"], time.thread_time() - collecting[0]))

    @web.middleware
    async def timing(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started, cpu = time.perf_counter(), time.process_time()
        response = await handler(request)
        if request.path == "/":
            server_times.append(time.perf_counter() - started)
            server_cpu.append(time.process_time() - cpu)
        return response

    app.middlewares.insert(0, timing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if settle:
        settle_heap()  # as ``kantine serve`` does after startup
    await web.TCPSite(runner, HOST, port).start()
    base = f"http://{HOST}:{port}"
    try:
        if seed:
            started = time.perf_counter()
            viewer = await _seed(app, statuses, authors)
            password = PASSWORD
            print(f"seeded {statuses} statuses in {time.perf_counter() - started:.1f} s")
        cookies: dict[str, str] = {}

        def jar() -> dict[str, str]:
            return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}

        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            async with http.get(f"{base}/login") as response:
                token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
                cookies.update({k: v.value for k, v in response.cookies.items()})
            assert token, "no login form"
            async with http.post(
                f"{base}/login",
                data={"csrf_token": token.group(1), "username": viewer, "password": password},
                allow_redirects=False,
                headers=jar(),
            ) as response:
                assert response.status == 303, await response.text()
                cookies.update({k: v.value for k, v in response.cookies.items()})
            html = ""
            for _ in range(20):  # warm up: caches, connection pool, template compilation
                async with http.get(f"{base}/", headers=jar()) as response:
                    html = await response.text()
                    assert response.status == 200, html[:300]
            server_times.clear()
            server_cpu.clear()
            gc.callbacks.append(collection)
            round_trips: list[float] = []
            for n in range(requests):
                if write_every and n % write_every == 0:
                    await _someone_writes(app, n)
                started = time.perf_counter()
                async with http.get(f"{base}/", headers=jar()) as response:
                    body = await response.read()
                    assert response.status == 200
                round_trips.append(time.perf_counter() - started)
            posts = html.count('<article class="status"')
            assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
            weight = len(body)
            compressed = len(gzip.compress(body))
            for path in assets:
                async with http.get(base + path) as response:
                    data = await response.read()
                weight += len(data)
                compressed += len(gzip.compress(data))
    finally:
        if collection in gc.callbacks:
            gc.callbacks.remove(collection)
        await runner.cleanup()
    oldest = [seconds for generation, seconds in pauses if generation == 2]
    return {
        "posts": posts,
        "server_p50_ms": statistics.median(server_times) * 1000,
        "server_p99_ms": _percentile(server_times, 0.99) * 1000,
        "server_cpu_p50_ms": statistics.median(server_cpu) * 1000,
        "server_cpu_p99_ms": _percentile(server_cpu, 0.99) * 1000,
        "collections": len(pauses),
        "oldest_collections": len(oldest),
        "longest_collection_ms": max((s for _g, s in pauses), default=0.0) * 1000,
        "round_trip_p50_ms": statistics.median(round_trips) * 1000,
        "round_trip_p99_ms": _percentile(round_trips, 0.99) * 1000,
        "html_kb": len(body) / 1024,
        "weight_kb": weight / 1024,
        "weight_gzip_kb": compressed / 1024,
    }


def _seeded() -> tuple[str, str, str, str]:
    """``bench.seed``'s cached data set, with a password for ``user1`` (its people have
    tokens, not passwords): URL, domain, viewer, password."""
    from bench.seed import Scale, build
    from node.auth.passwords import hash_password

    seeded = build(Scale())
    with sqlite3.connect(seeded.path) as db:
        db.execute(
            "UPDATE accounts SET password_hash = ? WHERE username = 'user1' AND local = 1",
            (hash_password(PASSWORD),),
        )
    return seeded.url, seeded.domain, "user1", PASSWORD


def main() -> None:
    """Parse arguments, run, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=20_000)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--viewer", default="viewer")
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument(
        "--write-every",
        type=int,
        default=0,
        help="someone else commits a change before every Nth request (caches go cold)",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="leave the garbage collector as Python starts it (no node.heap.settle_heap)",
    )
    parser.add_argument(
        "--seeded",
        action="store_true",
        help="use bench.seed's data set (10,000 people, 1,000,000 statuses; built once, cached)",
    )
    args = parser.parse_args()
    domain = None
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'startpage.db'}"
        if args.seeded:
            url, domain, args.viewer, args.password = _seeded()
            args.no_seed, args.statuses = True, 1_000_000
        figures = asyncio.run(
            run(
                database_url=url,
                statuses=args.statuses,
                authors=args.authors,
                requests=args.requests,
                seed=not args.no_seed,
                viewer=args.viewer,
                password=args.password,
                domain=domain,
                settle=not args.no_settle,
                write_every=args.write_every,
            )
        )
    kind = url.split(":", 1)[0].split("+")[0]
    print(machine())
    print(
        table(
            f"Start page, {kind}, {args.statuses:,} statuses, {args.requests} requests"
            + (f", a commit before every {args.write_every}th" if args.write_every else ""),
            [
                "posts shown",
                "server p50 ms",
                "server p99 ms",
                "server CPU p50 ms",
                "server CPU p99 ms",
                "round trip p50 ms",
                "round trip p99 ms",
                "HTML KB",
                "page weight KB",
                "gzip KB",
            ],
            [
                [
                    int(figures["posts"]),
                    f"{figures['server_p50_ms']:.1f}",
                    f"{figures['server_p99_ms']:.1f}",
                    f"{figures['server_cpu_p50_ms']:.1f}",
                    f"{figures['server_cpu_p99_ms']:.1f}",
                    f"{figures['round_trip_p50_ms']:.1f}",
                    f"{figures['round_trip_p99_ms']:.1f}",
                    f"{figures['html_kb']:.1f}",
                    f"{figures['weight_kb']:.1f}",
                    f"{figures['weight_gzip_kb']:.1f}",
                ]
            ],
        )
    )
    print(
        f"garbage collections during the timed requests: {int(figures['collections'])}, "
        f"{int(figures['oldest_collections'])} of the oldest generation; the longest took "
        f"{figures['longest_collection_ms']:.1f} ms CPU"
    )


if __name__ == "__main__":
    main()
