"""Where an ingested activity's time goes: verify, parse, sanitise, database, HTTP.

The node's own objects (``create_app(run_workers=False)``, its ``Inbox`` and
``InboxProcessor``) are driven in this process, one activity at a time, on a fresh
seeded SQLite database, so wall time per activity is its cost without queueing. The pure
steps are timed alone with the same library calls the node makes; what remains of the
request path and of the worker is the database (SQLAlchemy, aiosqlite's thread hop,
SQLite) and the node's own glue. ``--profile`` adds a cProfile of the same path, grouped
by package (wall time of the main thread, so a wait for aiosqlite's thread shows as a wait).

    python -m bench.breakdown [--activities 300] [--actors 20] [--profile]

``python -m bench.ingest`` runs the same split after its HTTP runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import logging
import pstats
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import event

from activitypub.keys import PublicKeyTypes, load_public_key
from activitypub.sanitize import HtmlSanitizer
from activitypub.signatures import parse_signed_request
from activitypub.vocabulary import Object, check_document, parse_activity
from bench.nodes import database, free_port, node_sections
from bench.peers import RemoteActor, SignedPost, create_note, make_actors, sign_posts
from bench.report import machine, table
from bench.seeding import seed
from config import settings_from_mapping
from node.app import create_app
from node.appkeys import ENGINE, INBOX, PROCESSOR

__all__ = ["CATEGORIES", "main", "report"]

#: cProfile rows are grouped by the first pattern found in "file function".
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "verify (signatures, RSA, digest)",
        (
            "activitypub/signatures",
            "activitypub/digests",
            "structured_fields",
            "message_signatures",
            "cryptography",
            "_hashlib",
            "openssl",
            "email/utils",
            "_parseaddr",
        ),
    ),
    (
        "parse (JSON, vocabulary)",
        (
            "activitypub/parsing",
            "activitypub/vocabulary",
            "json/",
            "_json",
            "activitypub/addressing",
            "activitypub/contexts",
        ),
    ),
    (
        "sanitise (bleach, html5lib)",
        (
            "bleach",
            "html5lib",
            "activitypub/sanitize",
            "html/parser",
            "_markupbase",
            "webencodings",
        ),
    ),
    ("DB: SQLAlchemy (and its greenlet switches)", ("sqlalchemy", "greenlet")),
    (
        "DB: aiosqlite/asyncpg, hand-offs to the driver thread (GIL), waits",
        (
            "aiosqlite",
            "sqlite3",
            "asyncpg",
            "epoll",
            "select.",
            "selectors",
            "_queue",
            "_socket",
            "threading",
            "queue.py",
            "concurrent/futures",
        ),
    ),
    ("event loop (asyncio)", ("asyncio",)),
    ("node code", ("/node/",)),
    (
        "yarl, multidict, typing, other stdlib",
        (
            "yarl",
            "multidict",
            "typing",
            "enum",
            "re/",
            "_sre",
            "datetime",
            "uuid",
            "secrets",
            "logging",
        ),
    ),
)


async def _node(
    folder: Path, tag: str, port: int, remote: str, actors: Sequence[RemoteActor]
) -> tuple[web.AppRunner, str]:
    """A seeded node app (no HTTP site, no background workers) on a fresh SQLite file."""
    base = f"http://127.0.0.2:{port}"
    async with database("sqlite", folder, tag) as url:
        await seed(
            url,
            base,
            local=["alice", "bob"],
            remote=[a.document() for a in actors],
            follows=[("alice", a.uri) for a in actors],
        )
    sections = node_sections(
        host="127.0.0.2", port=port, database_url=url, data_dir=folder / tag, allow=[remote]
    )
    sections["logging"] = {"level": "INFO"}
    app = create_app(settings_from_mapping(sections, env={}), run_workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    return runner, f"{base}/inbox"


async def _per_item(
    items: Sequence[SignedPost], step: Callable[[SignedPost], Awaitable[object]]
) -> float:
    began = time.perf_counter()
    for item in items:
        await step(item)
    return (time.perf_counter() - began) / len(items) * 1e6


async def _drain(runner: web.AppRunner) -> int:
    processor = runner.app[PROCESSOR]
    total = 0
    while worked := await processor.run_once():
        total += worked
    return total


def _pure_steps(
    posts: Sequence[SignedPost], url: str, keys: dict[str, PublicKeyTypes]
) -> dict[str, float]:
    """µs per activity of verify, parse and sanitise, each alone."""
    sanitizer = HtmlSanitizer()
    now, window = datetime.now(UTC), timedelta(hours=1)
    began = time.perf_counter()
    for post in posts:
        signed = parse_signed_request(
            method="POST", url=url, headers=post.headers, body=post.body, now=now, window=window
        )
        signed.verify(keys[signed.key_id])
    verify = time.perf_counter() - began
    began = time.perf_counter()
    contents = []
    for post in posts:
        activity = parse_activity(check_document(json.loads(post.body)))
        assert isinstance(activity.object, Object)
        contents.append(activity.object.content or "")
    parse = time.perf_counter() - began
    began = time.perf_counter()
    for content in contents:
        sanitizer.clean(content)
    sanitise = time.perf_counter() - began
    n = len(posts) / 1e6
    return {"verify": verify / n, "parse": parse / n, "sanitise": sanitise / n}


@dataclass
class _Statements:
    """SQL statements the node's engine executed (counted with a SQLAlchemy event)."""

    count: int = 0

    def __call__(self, *_args: object) -> None:
        self.count += 1


async def _measure(
    posts: Sequence[SignedPost], runner: web.AppRunner, url: str
) -> tuple[float, float, float, float]:
    """µs per activity of the request path and of the worker, and SQL statements of each."""
    inbox = runner.app[INBOX]
    counter = _Statements()
    engine = runner.app[ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", counter)

    async def receive(post: SignedPost) -> object:
        result = await inbox.receive(
            method="POST",
            url=url,
            headers=post.headers,
            content_type="application/activity+json",
            body=post.body,
            recipient_id=None,
        )
        assert result.status == 202, result
        return result

    try:
        receive_us = await _per_item(posts, receive)
        receive_sql, counter.count = counter.count / len(posts), 0
        began = time.perf_counter()
        applied = await _drain(runner)
        apply_us = (time.perf_counter() - began) / len(posts) * 1e6
        apply_sql = counter.count / len(posts)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    assert applied == len(posts), applied
    return receive_us, apply_us, receive_sql, apply_sql


def _categorise(stats: pstats.Stats, per: int) -> list[list[object]]:
    totals: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        text = f"{filename} {function}".replace("\\", "/")
        for name, patterns in CATEGORIES:
            if any(p in text for p in patterns):
                totals[name] += tottime
                break
        else:
            totals["other"] += tottime
    whole = sum(totals.values()) or 1.0
    order = [name for name, _ in CATEGORIES] + ["other"]
    return [
        [name, totals[name] * 1e6 / per, f"{totals[name] / whole:.0%}"]
        for name in order
        if totals.get(name)
    ]


async def report(
    posts: Sequence[SignedPost],
    actors: Sequence[RemoteActor],
    *,
    folder: Path,
    port: int,
    remote: str,
    http_us: float | None,
    profile: bool,
) -> None:
    """Print the time split of one activity, and optionally the profile by package."""
    keys = {a.key_id: load_public_key(a.public_pem) for a in actors}
    # The node logs every accepted and applied activity at INFO, as a served node does.
    handler = logging.FileHandler(folder / "split.log")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        await _report(
            posts,
            actors,
            keys,
            folder=folder,
            port=port,
            remote=remote,
            http_us=http_us,
            profile=profile,
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


async def _report(
    posts: Sequence[SignedPost],
    actors: Sequence[RemoteActor],
    keys: dict[str, PublicKeyTypes],
    *,
    folder: Path,
    port: int,
    remote: str,
    http_us: float | None,
    profile: bool,
) -> None:
    url = f"http://127.0.0.2:{port}/inbox"
    pure = _pure_steps(posts, url, keys)
    runner, url = await _node(folder, "split", port, remote, actors)
    try:
        await _measure(posts[:20], runner, url)  # warm caches: keys, statements, imports
        receive_us, apply_us, receive_sql, apply_sql = await _measure(posts[20:], runner, url)
    finally:
        await runner.cleanup()
    rows: list[list[object]] = [
        ["request path: verify signature (parse header, digest, RSA)", pure["verify"], "inbox"],
        ["request path: parse JSON + vocabulary", pure["parse"], "inbox"],
        [
            "request path: key lookup + dedupe INSERT + commit (remainder)",
            receive_us - pure["verify"] - pure["parse"],
            "inbox",
        ],
        [
            "request path total (Inbox.receive, no HTTP)",
            receive_us,
            f"inbox, {receive_sql:.1f} SQL",
        ],
        ["worker: parse JSON + vocabulary again", pure["parse"], "worker"],
        ["worker: sanitise content (bleach)", pure["sanitise"], "worker"],
        [
            "worker: claim + relevance + store + fan-out + notify + mark done (remainder)",
            apply_us - pure["parse"] - pure["sanitise"],
            "worker",
        ],
        [
            "worker total (InboxProcessor.run_once, per activity)",
            apply_us,
            f"worker, {apply_sql:.1f} SQL",
        ],
    ]
    if http_us is not None:
        rows.append(["HTTP server (plain aiohttp 202 server's CPU per request)", http_us, "http"])
    total = receive_us + apply_us + (http_us or 0.0)
    rows.append(["sum: one core's cost of one activity", total, "-"])
    rows.append(["⇒ activities/s one core could apply at that cost", 1e6 / total, "-"])
    print(
        table(
            f"Time split of one activity (in-process, sequential, SQLite, {len(posts) - 20} activities)",
            ["step", "µs per activity", "where"],
            rows,
        )
    )
    if not profile:
        return
    runner, url = await _node(folder, "profile", port, remote, actors)
    profiler = cProfile.Profile()
    try:
        await _measure(posts[:20], runner, url)
        profiler.enable()
        await _measure(posts[20:], runner, url)
        profiler.disable()
    finally:
        await runner.cleanup()
    print(
        table(
            "cProfile of the same path by package (main-thread wall time; profiling inflates Python code)",
            ["package group", "µs per activity", "share"],
            _categorise(pstats.Stats(profiler), len(posts) - 20),
        )
    )


async def main(argv: Sequence[str] | None = None) -> None:
    """Sign *activities* posts (each in its own ``published`` second) and print the split."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.breakdown", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--activities", type=int, default=300, help="measured activities (20 more warm up)"
    )
    parser.add_argument("--actors", type=int, default=20, help="remote actors, one RSA key each")
    parser.add_argument("--profile", action="store_true", help="also profile the same path")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    node_ip, remote_ip = "127.0.0.2", "127.0.0.3"
    port, remote = free_port(node_ip), f"{remote_ip}:{free_port(remote_ip)}"
    with ProcessPoolExecutor(2) as pool:
        actors = make_actors(f"http://{remote}", args.actors, pool)
    count = args.activities + 20
    now = datetime.now(UTC)
    mention = f"http://{node_ip}:{port}/users/bob"
    pairs = [
        (
            actor,
            create_note(
                actor,
                n,
                mention_uri=mention,
                mention_name="bob",
                published=now - timedelta(seconds=count - n),
            ),
        )
        for n, actor in zip(range(count), itertools.cycle(actors), strict=False)
    ]
    posts = sign_posts(f"http://{node_ip}:{port}/inbox", pairs)
    with tempfile.TemporaryDirectory(prefix="kantine-breakdown-") as tmp:
        await report(
            posts,
            actors,
            folder=Path(tmp),
            port=port,
            remote=remote,
            http_us=None,
            profile=args.profile,
        )


if __name__ == "__main__":
    asyncio.run(main())
