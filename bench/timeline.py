"""Home timeline and posting on a 1,000,000-status SQLite node (issue 4, speed).

1. ``bench.seed`` builds (or takes from its cache) 10,000 accounts, ~2,000,000 follows,
   1,000,000 statuses and the capped home feeds; the run works on a copy of that file.
2. The node runs in its own process: ``create_app`` from the written ``kantine.toml``, as
   ``kantine serve`` runs it, plus a middleware that records each request's time inside
   the server (``/_bench/timings``).
3. ``wrk`` (one thread, ``--connections`` connections) sends
   ``GET /api/v1/timelines/home?limit=40`` for thousands of different people, with their
   own tokens, 60 % first pages, 25 % second and 15 % third pages (``max_id``); a warm-up
   run first, then the measured run.
4. Posting: people with about 200 followers ``POST /api/v1/statuses`` one after the other
   (and then 4 at a time), after ``--post-warmup`` posts that are not counted; every post
   is fanned out to its author's followers' home feeds within the request. The server's
   CPU per post is the node process's user+system time over the measured posts.

Prints requests/s, client and server p50/p99, server CPU per request and the load average.

    python -m bench.timeline [--duration 20] [--connections 16] [--posts 300] [--posts-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.nodes import NodeProcess, free_port, process_stats, write_config
from bench.report import machine, table
from bench.seed import Scale, Seeded, build, token_for

__all__ = ["main"]

HOST = "127.0.0.1"
HOME = "/api/v1/timelines/home"
POST = "/api/v1/statuses"

_LUA = r"""
local lines = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local token, path = line:match("([^\t]+)\t(.+)")
    lines[#lines + 1] = {token, path}
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#lines)
end
request = function()
  i = i % #lines + 1
  local row = lines[i]
  return wrk.format("GET", row[2], {["Authorization"] = "Bearer " .. row[1]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"p50":%d,"p90":%d,"p99":%d,"max":%d,"requests":%d,"duration_us":%d,' ..
    '"socket_errors":%d,"non2xx":%d}\n',
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# --- the node process -------------------------------------------------------------------


def serve(config: str) -> None:
    """Run the node from *config* like ``kantine serve``, timing each request inside it."""
    from config import load_settings
    from node.api.mastodon.home import FAST_READS
    from node.app import create_app

    settings = load_settings(config)
    logging.basicConfig(level=settings.logging.level, stream=sys.stderr)
    app = create_app(settings)
    timings: dict[str, list[float]] = {"home": [], "post": []}

    @web.middleware
    async def timing(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        began = time.perf_counter()
        try:
            return await handler(request)
        finally:
            kind = "home" if request.path == HOME else "post" if request.path == POST else ""
            if kind:
                timings[kind].append(time.perf_counter() - began)

    async def report(request: web.Request) -> web.Response:
        out: dict[str, dict[str, float]] = {
            kind: _percentiles(values) for kind, values in timings.items()
        }
        reads = request.app.get(FAST_READS)
        if reads is not None:
            out["cache"] = {"hits": reads.hits, "misses": reads.misses}
        if request.query.get("reset"):
            for values in timings.values():
                values.clear()
            if reads is not None:
                reads.hits = reads.misses = 0
        return web.json_response(out)

    app.middlewares.insert(0, timing)
    app.router.add_get("/_bench/timings", report)
    web.run_app(app, host=settings.server.host, port=settings.server.port, print=None)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


# --- the load ---------------------------------------------------------------------------


def _requests(path: Path, seeded: Seeded, people: int, rng: random.Random) -> list[str]:
    """Lines ``token<TAB>path``: first, second and third home pages of *people* people."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    ids = [row[0] for row in db.execute("SELECT account_id FROM tokens ORDER BY id")]
    lines = []
    for n in rng.sample(range(len(ids)), min(people, len(ids))):
        cursors = [
            row[0]
            for row in db.execute(
                "SELECT status_id FROM home_feed WHERE account_id = ?"
                " ORDER BY status_id DESC LIMIT 2 OFFSET 39",
                (ids[n],),
            )
        ]
        pages = [f"{HOME}?limit=40"]
        if cursors:
            pages.append(f"{HOME}?limit=40&max_id={cursors[0]}")
        if len(cursors) > 1:
            third = db.execute(
                "SELECT status_id FROM home_feed WHERE account_id = ?"
                " ORDER BY status_id DESC LIMIT 1 OFFSET 79",
                (ids[n],),
            ).fetchone()
            if third:
                pages.append(f"{HOME}?limit=40&max_id={third[0]}")
        weights = [0.60, 0.25, 0.15][: len(pages)]
        for _ in range(3):
            lines.append(f"{token_for(n)}\t{rng.choices(pages, weights)[0]}")
    db.close()
    rng.shuffle(lines)
    return lines


def _wrk(base: str, script: Path, lines: Path, seconds: int, connections: int) -> dict[str, Any]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script),
        base, "--", str(lines),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for row in out.splitlines():
        if row.startswith("RESULT "):
            result: dict[str, Any] = json.loads(row[7:])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise RuntimeError(f"wrk printed no result:\n{out}")


async def _timings(http: aiohttp.ClientSession, base: str) -> dict[str, dict[str, float]]:
    async with http.get(f"{base}/_bench/timings?reset=1") as response:
        data: dict[str, dict[str, float]] = await response.json()
        return data


def _load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _post_text(rng: random.Random, n: int) -> str:
    words = (  # noqa: SIM905
        "the review of the quarterly plan is on Thursday please read the draft in the wiki "
        "before the meeting and add your notes so we can agree on the next steps together"
    ).split()
    body = " ".join(rng.choice(words) for _ in range(rng.randint(40, 70)))
    return f"@user{rng.randrange(n)} {body} https://wiki.example.org/plan #roadmap #quarterly"


async def _posting(
    base: str, db_path: Path, posts: int, concurrency: int, rng: random.Random
) -> dict[str, Any]:
    """Posts by people with 195–215 followers; client latencies and fan-out rows per post."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    authors = [
        row[0]
        for row in db.execute(
            "SELECT t.rowid - 1 FROM tokens t JOIN (SELECT target_account_id AS a, count(*) AS c"
            " FROM follows WHERE state = 'accepted' GROUP BY target_account_id)"
            " ON a = t.account_id WHERE c BETWEEN 195 AND 215"
        )
    ]
    db.close()
    chosen = [rng.choice(authors) for _ in range(posts)]
    latencies: list[float] = []
    created: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in chosen:
        queue.put_nowait(n)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            headers = {"Authorization": f"Bearer {token_for(n)}"}
            data = {"status": _post_text(rng, 10_000), "visibility": "public"}
            began = time.perf_counter()
            async with http.post(f"{base}{POST}", data=data, headers=headers) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"post failed: {response.status} {body}")
            latencies.append(time.perf_counter() - began)
            created.append(body["id"])

    async with aiohttp.ClientSession() as http:
        began = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    fanned = [
        db.execute("SELECT count(*) FROM home_feed WHERE status_id = ?", (int(i),)).fetchone()[0]
        for i in created
    ]
    db.close()
    ordered = sorted(latencies)
    return {
        "posts": len(ordered),
        "per_s": len(ordered) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": 1000 * ordered[-1],
        "feed_rows": statistics.mean(fanned),
    }


def _spawn(config: Path, port: int) -> NodeProcess:
    """The node in its own process (``--serve``), logging next to its config."""
    node = NodeProcess(config, HOST, port)
    node.command = [sys.executable, "-m", "bench.timeline", "--serve", str(config)]
    node._log = open(config.with_suffix(".log"), "ab")  # noqa: SIM115 - closed by stop()
    node._procs.append(
        subprocess.Popen(
            node.command, stdout=node._log, stderr=subprocess.STDOUT, start_new_session=True
        )
    )
    return node


async def run(args: argparse.Namespace) -> None:
    """Seed (or reuse), start the node on a copy, drive reads with wrk, then posts."""
    if shutil.which("wrk") is None and not args.posts_only:
        raise SystemExit("wrk is needed (Debian: apt-get install wrk)")
    rng = random.Random(7)
    scale = Scale(accounts=args.accounts, statuses=args.statuses)
    began = time.perf_counter()
    seeded = await asyncio.to_thread(build, scale)
    print(
        f"seed: {seeded.path.name} ({seeded.path.stat().st_size / 1e6:,.0f} MB), "
        f"built in {seeded.seconds} s, ready in {time.perf_counter() - began:.1f} s"
    )
    with tempfile.TemporaryDirectory(dir=seeded.path.parent, prefix="run-") as folder:
        work = Path(folder)
        db_path = work / "kantine.db"
        shutil.copyfile(seeded.path, db_path)
        port = free_port(HOST)
        config = write_config(
            work / "kantine.toml",
            {
                "node": {
                    "domain": seeded.domain,
                    "base_url": seeded.base_url,
                    "data_dir": str(work / "data"),
                    "home_feed_size": scale.feed_size,
                },
                "server": {"host": HOST, "port": port, "workers": 1},
                "database": {"url": f"sqlite+aiosqlite:///{db_path}", "pool_size": 10},
                "logging": {"level": "WARNING"},
            },
        )
        lines = work / "requests.txt"
        lines.write_text("\n".join(_requests(db_path, seeded, args.people, rng)) + "\n")
        script = work / "home.lua"
        script.write_text(_LUA)
        node = _spawn(config, port)
        try:
            await node.wait_healthy(seconds=120)
            base = node.base
            rows = []
            async with aiohttp.ClientSession() as http:
                reads = (
                    ()
                    if args.posts_only
                    else (("warm-up", args.warmup), ("measured", args.duration))
                )
                for label, seconds in reads:
                    load = _load()
                    cpu0 = process_stats(node.pid).cpu_seconds
                    result = _wrk(base, script, lines, seconds, args.connections)
                    cpu = process_stats(node.pid).cpu_seconds - cpu0
                    timings = await _timings(http, base)
                    server = timings["home"]
                    cache = timings.get("cache", {"hits": 0, "misses": 0})
                    looked = max(1, cache["hits"] + cache["misses"])
                    rows.append([
                        label, f"{result['rps']:,.0f}", result["p50"] / 1000, result["p99"] / 1000,
                        server["p50_ms"], server["p99_ms"],
                        f"{1e6 * cpu / max(1, result['requests']):,.0f}",
                        f"{100 * cache['hits'] / looked:.0f} %",
                        result["non2xx"] + result["socket_errors"], load,
                    ])  # fmt: skip
                if rows:
                    print(table(
                        f"GET {HOME}?limit=40, {args.people:,} people, pages 1-3, wrk -t1 "
                        f"-c{args.connections}",
                        ["run", "req/s", "client p50 ms", "client p99 ms", "server p50 ms",
                         "server p99 ms", "server CPU µs/req", "JSON cache hits", "errors",
                         "load avg"],
                        rows,
                    ))  # fmt: skip
                if args.post_warmup:  # compiled statements, caches: as on a node that runs
                    await _posting(base, db_path, args.post_warmup, 1, rng)
                    await _timings(http, base)
                post_rows = []
                for concurrency in (1, 4):
                    load = _load()
                    cpu0 = process_stats(node.pid).cpu_seconds
                    result2 = await _posting(base, db_path, args.posts, concurrency, rng)
                    cpu = process_stats(node.pid).cpu_seconds - cpu0
                    server = (await _timings(http, base))["post"]
                    post_rows.append([
                        concurrency, result2["posts"], f"{result2['per_s']:.0f}",
                        result2["p50_ms"], result2["p99_ms"], result2["max_ms"],
                        server["p50_ms"], server["p99_ms"],
                        f"{1e6 * cpu / result2['posts']:,.0f}", f"{result2['feed_rows']:.0f}", load,
                    ])  # fmt: skip
                print(table(
                    f"POST {POST} by people with 195-215 followers (fan-out in the request)",
                    ["concurrent", "posts", "posts/s", "client p50 ms", "client p99 ms",
                     "client max ms", "server p50 ms", "server p99 ms", "server CPU µs/post",
                     "feed rows per post", "load avg"],
                    post_rows,
                ))  # fmt: skip
        finally:
            node.stop()
    print(f"machine: {machine()}; load average after: {_load()}")


def plans(path: Path) -> None:
    """Print ``EXPLAIN QUERY PLAN`` of the statements the home timeline and fan-out rely on."""
    from sqlalchemy import select

    from node.api.mastodon.common import Page
    from node.api.mastodon.home import _FLAGS, FastReads, _page_ids, feed_query, older_query
    from node.api.mastodon.queries import account_columns, status_columns
    from node.db.models import Account, Status

    reads = FastReads(str(path))
    db = reads.db
    viewer_id, author_id = db.execute(
        "SELECT t.account_id, (SELECT target_account_id FROM follows"
        " WHERE account_id = t.account_id LIMIT 1) FROM tokens t LIMIT 1"
    ).fetchone()
    cursor = db.execute(
        "SELECT min(status_id) FROM home_feed WHERE account_id = ?", (viewer_id,)
    ).fetchone()[0]
    values = {"viewer_id": viewer_id, "max_id": cursor, "since_id": None, "min_id": None}

    def show(title: str, sql: str, params: Any) -> None:
        print(f"-- {title}")
        for row in db.execute("EXPLAIN QUERY PLAN " + sql, params):
            print("  " * (0 if row[1] == 0 else 1) + row[3])
        print()

    for title, kind, query, page in (
        ("home, first page (ids)", "feed", feed_query, Page(None, None, None, 40)),
        ("home, next page (max_id)", "feed", feed_query, Page(cursor, None, None, 40)),
        ("home, past the capped feed (max_id)", "older", older_query, Page(cursor, None, None, 40)),
    ):
        sql, defaults = reads._sql(kind, True, page, query)
        show(title, sql, {**defaults, **values, "limit": 40})
    show("viewer's flags for a page", _FLAGS, [viewer_id, "[1,2]"] * _FLAGS.count("json_each"))
    for title, rows in (
        ("cache miss: statuses of a page", select(*status_columns(Status, "s_"))),
        ("cache miss: their authors, with counts", select(*account_columns(Account, "a_"))),
    ):
        table_id = Status.id if "statuses" in title else Account.id
        compiled = rows.where(table_id.in_(_page_ids())).compile(
            dialect=reads._dialect, compile_kwargs={"render_postcompile": True}
        )
        show(title, str(compiled), {**compiled.params, "ids": "[1,2]"})
    from node.services.fanout import _fan_out_insert
    from node.services.feeds import _cut_delete, _cut_query
    from node.services.graph import _notification_insert

    readers = [
        row[0]
        for row in db.execute(
            "SELECT account_id FROM follows WHERE target_account_id = ? AND state = 'accepted'"
            " LIMIT 13",
            (author_id,),
        )
    ]
    for title, statement, values in (
        (
            "fan-out insert (node.services.fanout.spread)",
            _fan_out_insert("sqlite"),
            {"f_status": 1, "f_author": author_id},
        ),
        (
            "feed trim: the 800th entry of each feed whose turn it is (node.services.feeds)",
            _cut_query().params(ids=readers, skip=799),
            {},
        ),
        ("feed trim: delete below it", _cut_delete(), {"a": viewer_id, "c": cursor}),
        (
            "mention notification, with the block and opt-out checks (node.services.graph)",
            _notification_insert("sqlite"),
            {
                "n_id": 1, "n_recipient": viewer_id, "n_kind": "mention",
                "n_sender": author_id, "n_status": 1, "n_at": "2026-11-26 00:00:00",
            },
        ),
    ):  # fmt: skip
        inline = not values  # the trim's list of feeds is written into the statement
        compiled = statement.compile(
            dialect=reads._dialect, compile_kwargs={"literal_binds": inline}
        )
        show(title, str(compiled), {} if inline else {**compiled.params, **values})
    reads.close()


def main() -> None:
    """Parse the options and run the benchmark (or, with ``--serve``, be the node)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=Scale.accounts)
    parser.add_argument("--statuses", type=int, default=Scale.statuses)
    parser.add_argument("--people", type=int, default=5000, help="distinct readers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=15, help="seconds")
    parser.add_argument("--duration", type=int, default=20, help="seconds")
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument(
        "--post-warmup", type=int, default=10, help="posts before the measured ones"
    )
    parser.add_argument("--plans", action="store_true", help="print the query plans only")
    parser.add_argument(
        "--posts-only", action="store_true", help="skip the reads (wrk); measure posting only"
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.plans:
        plans(build(Scale(accounts=args.accounts, statuses=args.statuses)).path)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
