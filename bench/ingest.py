"""Inbox ingest: signed ``Create(Note)`` from 100 remote actors, accepted/s and applied/s.

One node is started as an admin runs it (``kantine serve --config``) on a seeded database:
a local ``alice`` follows the 100 actors of a fake remote host, and every post mentions the
local ``bob``. Pre-signed activities are POSTed to the shared inbox at a fixed concurrency;
*accepted/s* counts the 202 answers, *applied/s* how fast the inbox worker made every post
visible (row ``done``, status stored, in alice's home feed, a mention notification for bob).
A plain aiohttp "return 202" server, started the same way, gives the HTTP ceiling.

    python -m bench.ingest [--quick] [--database sqlite|postgresql|both] [--workers 1,2,1+w]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import breakdown
from bench.nodes import (
    NodeProcess,
    database,
    free_port,
    launcher,
    node_sections,
    process_stats,
    write_config,
)
from bench.peers import RemoteActor, RemoteHost, create_note, make_actors, sign_posts
from bench.report import machine, table
from bench.seeding import Progress, progress, seed
from bench.sender import Sent, build_request, send_raw
from config.settings import NodeSettings
from node.db import create_engine, sessionmaker_for

__all__ = ["IngestResult", "main", "run_node", "run_plain", "send_all"]

NODE_IP, REMOTE_IP = "127.0.0.2", "127.0.0.3"
_PLAIN = """
import sys
from aiohttp import web
async def inbox(request):
    await request.read()
    return web.json_response({"status": "accepted"}, status=202)
app = web.Application()
app.router.add_post("/inbox", inbox)
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), reuse_port=True, print=None,
            access_log=None)
"""


@dataclass(frozen=True)
class IngestResult:
    """One configuration's figures."""

    target: str
    sent: Sent
    #: (seconds since the first request, rows done) every 50 ms while the worker ran.
    samples: list[tuple[float, int]]
    final: Progress | None
    node_cpu: float
    generator_cpu: float
    rss_mb: float
    problems: Counter[str] = field(default_factory=Counter)
    #: CPU seconds of each process tree (serve, then a separate worker), when more than one.
    cpu_each: tuple[float, ...] = ()

    @property
    def accepted_per_s(self) -> float:
        return self.sent.accepted / self.sent.seconds if self.sent.seconds else 0.0

    def seconds_to(self, share: float) -> float | None:
        """Seconds until *share* of the accepted activities were applied (None: never)."""
        goal = share * self.sent.accepted
        return next((t for t, done in self.samples if done >= goal), None)

    @property
    def applied_per_s(self) -> float | None:
        """Applied/s over the first 90 %: the tail may wait for a retry back-off."""
        took = self.seconds_to(0.9)
        return 0.9 * self.sent.accepted / took if took else None

    def complete(self, expected: int) -> str:
        f = self.final
        if f is None:
            return "n/a"
        seen = (f.done, f.statuses, f.mentions)
        # Home feeds are capped (node.home_feed_size): the oldest entries may be trimmed.
        feed = min(expected, NodeSettings().home_feed_size or expected)
        if all(n == expected for n in seen) and f.home_feed >= feed:
            return "yes"
        return (
            f"NO: {f.done} done, {f.failed} failed, {f.pending} pending at the deadline; "
            f"{f.statuses} statuses, {f.home_feed} in the feed, {f.mentions} mentions"
        )


async def send_all(
    url: str, requests: Sequence[bytes], *, concurrency: int, request_seconds: float = 30.0
) -> Sent:
    """POST every pre-built request (:func:`bench.sender.build_request`) from *concurrency*
    keep-alive connections."""
    return await send_raw(url, requests, concurrency=concurrency, request_seconds=request_seconds)


_BY_STATE = "SELECT state, count(*) FROM inbox_items GROUP BY state"


class _Settled:
    """Counts inbox rows done and failed over the driver itself, 20 times a second.

    Through a SQLAlchemy session this one query costs ~1.5 ms of the load generator's CPU
    (which shares the cores with the node); on a plain connection it costs a few dozen µs.
    """

    def __init__(self, url: str) -> None:
        self._url = make_url(url)
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def __aenter__(self) -> _Settled:
        if self._url.get_backend_name() == "sqlite":
            self._sqlite = sqlite3.connect(str(self._url.database))
        else:
            import asyncpg  # the PostgreSQL driver, only for PostgreSQL runs

            dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._pg = await asyncpg.connect(dsn)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.close()

    async def __call__(self) -> tuple[int, int]:
        if self._sqlite is not None:
            rows = self._sqlite.execute(_BY_STATE).fetchall()
        else:
            rows = await self._pg.fetch(_BY_STATE)
        states = {state: count for state, count in rows}
        return int(states.get("done", 0)), int(states.get("failed", 0))


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_plain(
    requests: Sequence[bytes], *, port: int, workers: int, concurrency: int
) -> IngestResult:
    """The ceiling: a plain aiohttp handler that reads the body and answers 202."""
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - spawning returns at once; nothing waits here
            [sys.executable, "-c", _PLAIN, NODE_IP, str(port)], start_new_session=True
        )
        for _ in range(workers)
    ]
    try:
        await _wait_listening(port)
        cpu0, own0 = sum(process_stats(p.pid).cpu_seconds for p in procs), _own_cpu()
        sent = await send_all(f"http://{NODE_IP}:{port}/inbox", requests, concurrency=concurrency)
        cpu = sum(process_stats(p.pid).cpu_seconds for p in procs) - cpu0
        rss = sum(process_stats(p.pid).rss_mb for p in procs)
        return IngestResult(
            f"plain aiohttp 202, {workers} proc", sent, [], None, cpu, _own_cpu() - own0, rss
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


async def _wait_listening(port: int, seconds: float = 10.0) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(NODE_IP, port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"nothing listens on {NODE_IP}:{port}")


async def run_node(
    requests: Sequence[bytes],
    actors: Sequence[RemoteActor],
    *,
    folder: Path,
    port: int,
    remote: str,
    kind: str,
    workers: int,
    concurrency: int,
    apply_timeout: float,
    separate_worker: bool = False,
) -> IngestResult:
    """Seed a fresh database, start the node, send everything, wait until all is applied.

    *separate_worker* runs ``kantine worker`` beside ``kantine serve`` with
    ``server.inbox_worker = "worker"``: the web process only verifies and stores.
    """
    name = f"ingest-{kind}-w{workers}{'-sep' if separate_worker else ''}"
    problems: Counter[str] = Counter()
    base = f"http://{NODE_IP}:{port}"
    async with database(kind, folder, name) as url:
        seeded = await seed(
            url,
            base,
            local=["alice", "bob"],
            remote=[a.document() for a in actors],
            follows=[("alice", a.uri) for a in actors],
        )
        sections = node_sections(
            host=NODE_IP,
            port=port,
            database_url=url,
            data_dir=folder / name,
            workers=workers,
            allow=[remote],
            inbox_worker="worker" if separate_worker else "serve",
        )
        node = NodeProcess(
            write_config(folder / f"{name}.toml", sections),
            NODE_IP,
            port,
            workers,
            separate_worker=separate_worker,
        )
        engine = create_engine(url, pool_size=2)
        sessions = sessionmaker_for(engine)
        node.start()
        try:
            await node.wait_healthy()
            if workers > 1 or separate_worker:
                await asyncio.sleep(1.0)  # every worker process up, not only the first
            ids = {"follower_id": seeded.ids["alice"], "mentioned_id": seeded.ids["bob"]}
            cpu0, own0 = node.stats().cpu_seconds, _own_cpu()
            each0 = node.cpu_each()
            started = time.perf_counter()
            target = [len(requests)]  # lowered to the 202 count once everything is sent
            samples: list[tuple[float, int]] = []

            async def watch() -> Progress:
                deadline = started + apply_timeout
                async with _Settled(url) as settled:
                    while True:
                        await asyncio.sleep(0.05)
                        # One cheap query while the load runs (this process's CPU is the
                        # generator's figure); the full check of what is visible at the end.
                        done, failed = await settled()
                        samples.append((time.perf_counter() - started, done))
                        if done + failed >= target[0] or time.perf_counter() > deadline:
                            return await progress(sessions, **ids)

            watcher = asyncio.create_task(watch())
            sent = await send_all(f"{base}/inbox", requests, concurrency=concurrency)
            target[0] = sent.accepted
            final = await watcher
            stats = node.stats()
            each = tuple(b - a for a, b in zip(each0, node.cpu_each(), strict=True))
            label = f"node {kind}, workers={workers} ({launcher()})"
            if separate_worker:
                label = f"node {kind}, workers={workers} + kantine worker"
            return IngestResult(
                label,
                sent,
                samples,
                final,
                stats.cpu_seconds - cpu0,
                _own_cpu() - own0,
                stats.rss_mb,
                problems,
                each if len(each) > 1 else (),
            )
        finally:
            node.stop()
            await engine.dispose()
            problems.update(node.log_problems())  # the returned result holds this Counter


def _notes(
    actors: Sequence[RemoteActor], count: int, mention: str, *, distinct: bool
) -> list[tuple[RemoteActor, bytes]]:
    """*count* notes round-robin over *actors*, ``published`` as if written at 1,500/s
    (the target rate), or each in its own second with *distinct*."""
    now = datetime.now(UTC)
    return [
        (
            actor,
            create_note(
                actor,
                n,
                mention_uri=mention,
                mention_name="bob",
                published=now - timedelta(seconds=(count - n) / (1 if distinct else 1500)),
            ),
        )
        for n, actor in zip(range(count), itertools.cycle(actors), strict=False)
    ]


def _seconds(value: float | None) -> str:
    return "not by the deadline" if value is None else f"{value:.1f}"


def _done(result: IngestResult) -> None:
    print(f"  done: {result.target}: {result.accepted_per_s:,.0f} accepted/s", flush=True)


def _rows(results: Sequence[IngestResult], expected: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for r in results:
        applied = r.applied_per_s
        rows.append(
            [
                r.target,
                r.sent.accepted,
                r.accepted_per_s,
                r.sent.percentile(0.5),
                r.sent.percentile(0.99),
                "-" if r.final is None else (f"{applied:,.0f}" if applied else "< 90 % done"),
                _seconds(r.seconds_to(1.0)) if r.final else "-",
                "-" if r.final is None else r.complete(expected),
                r.node_cpu * 1e6 / max(1, r.sent.accepted),
                " + ".join(f"{c * 1e6 / max(1, r.sent.accepted):,.0f}" for c in r.cpu_each) or "-",
                r.generator_cpu * 1e6 / max(1, len(r.sent.latencies)),
                r.rss_mb,
                ", ".join(f"{k}×{v}" for k, v in sorted(r.sent.statuses.items()) if k != 202)
                or "-",
            ]
        )
    return rows


async def main(argv: Sequence[str] | None = None) -> None:
    """Run the ingest benchmark and print its tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1,000 activities, SQLite, workers 1")
    parser.add_argument("--activities", type=int, help="activities per run (default 3,000)")
    parser.add_argument("--actors", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--workers",
        default=None,
        help="comma-separated server.workers values; N+w adds a `kantine worker` process "
        "(server.inbox_worker = worker) (default 1,2,1+w)",
    )
    parser.add_argument(
        "--apply-timeout", type=float, help="seconds to wait for the worker (default 90)"
    )
    parser.add_argument(
        "--distinct-published",
        action="store_true",
        help="give each post its own published second (avoids the status id collisions)",
    )
    parser.add_argument("--no-split", action="store_true", help="skip the in-process time split")
    parser.add_argument("--profile", action="store_true", help="also profile the in-process run")
    args = parser.parse_args(argv)
    count = args.activities or (1000 if args.quick else 3000)
    configs = [
        (int(w.removesuffix("+w")), w.endswith("+w"))
        for w in (args.workers or ("1" if args.quick else "1,2,1+w")).split(",")
    ]
    workers = sorted({w for w, _ in configs})
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    apply_timeout = args.apply_timeout or (60.0 if args.quick else 90.0)

    print(f"machine: {machine()}")
    print(
        f"node started with: {launcher()}; {count:,} activities from {args.actors} actors, "
        f"concurrency {args.concurrency}"
    )
    with tempfile.TemporaryDirectory(prefix="kantine-bench-") as tmp:
        folder = Path(tmp)
        port, remote_port = free_port(NODE_IP), free_port(REMOTE_IP)
        remote = f"{REMOTE_IP}:{remote_port}"
        began = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            actors = make_actors(f"http://{remote}", args.actors, pool)
        keys_s = time.perf_counter() - began
        mention = f"http://{NODE_IP}:{port}/users/bob"
        pairs = _notes(actors, count, mention, distinct=args.distinct_published)
        began = time.perf_counter()
        inbox = f"http://{NODE_IP}:{port}/inbox"
        posts = sign_posts(inbox, pairs)
        # Whole requests, built before anything is timed (bench.sender).
        requests = [build_request(inbox, post.headers, post.body) for post in posts]
        sign_s = time.perf_counter() - began
        print(
            f"prepared: {args.actors} RSA keys in {keys_s:.1f} s, {count:,} signatures in "
            f"{sign_s:.1f} s (2 processes), body {len(posts[0].body)} bytes"
        )
        host = RemoteHost(REMOTE_IP, remote_port, actors)
        await host.start()
        results: list[IngestResult] = []
        try:
            for w in workers:
                results.append(
                    await run_plain(requests, port=port, workers=w, concurrency=args.concurrency)
                )
                _done(results[-1])
            for kind in kinds:
                for w, separate in configs:
                    results.append(
                        await run_node(
                            requests,
                            actors,
                            folder=folder,
                            port=port,
                            remote=remote,
                            kind=kind,
                            workers=w,
                            concurrency=args.concurrency,
                            apply_timeout=apply_timeout,
                            separate_worker=separate,
                        )
                    )
                    _done(results[-1])
        finally:
            await host.stop()
        print(
            table(
                "Inbox ingest (one run; compare rows with each other)",
                [
                    "target",
                    "202s",
                    "accepted/s",
                    "p50 ms",
                    "p99 ms",
                    "applied/s (first 90 %)",
                    "all applied after s",
                    "all visible",
                    "server CPU µs/activity",
                    "of which serve + worker",
                    "generator CPU µs/req",
                    "RSS MB",
                    "other answers",
                ],
                _rows(results, count),
            )
        )
        for r in results:
            for problem, times in r.problems.most_common(5):
                print(f"node log, {r.target}: {times}× {problem} …")
        print(f"\nfake remote host: {host.hits['GET']} actor fetches, {host.hits['POST']} POSTs")
        if not args.no_split:
            # Distinct ``published`` seconds: the split measures the path, not id collisions.
            split_count = min(count, 300 if args.quick else 1000)
            split_posts = sign_posts(
                f"http://{NODE_IP}:{port}/inbox",
                _notes(actors, split_count, mention, distinct=True),
            )
            plain = next((r for r in results if r.final is None), None)
            http_us = plain.node_cpu * 1e6 / max(1, plain.sent.accepted) if plain else None
            await breakdown.report(
                split_posts,
                actors,
                folder=folder,
                port=port,
                remote=remote,
                http_us=http_us,
                profile=args.profile,
            )


if __name__ == "__main__":
    asyncio.run(main())
