"""A large SQLite data set for benchmarks, built with bulk SQL and cached on disk.

``build(Scale(...))`` makes a node database with local accounts that follow each other,
statuses with realistic HTML (mentions, links, hashtags; some boosts, replies, private
posts), favourites, hashtags, one token per account and the home feeds as fan-out on write
would have left them (the newest ``feed_size`` entries per account). The schema comes from
the node's own migrations; rows are written with ``sqlite3`` ``executemany`` (not the ORM),
so the default scale (10,000 accounts, 1,000,000 statuses, ~2,000,000 follows) takes a few
minutes once and is reused from the cache afterwards.

Token secrets are ``seed-token-<n>`` for the account ``user<n>``: benchmarks sign in as any
seeded person without a file of secrets.

    python -m bench.seed --accounts 10000 --statuses 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from activitypub.keys import generate_private_key, private_key_to_pem, public_key_to_pem
from node.db import create_engine, migrate
from node.federation.documents import Urls

__all__ = ["Scale", "Seeded", "build", "token_for"]

#: Bump when the generated data changes, so old caches are rebuilt.
FORMAT = 4
DOMAIN = "bench.example"
BASE_URL = f"https://{DOMAIN}"
TAGS = (
    "kantine", "lunch", "payroll", "security", "release", "hiring", "onboarding", "python",
    "finance", "budget", "offsite", "training", "wiki", "oncall", "incident", "design",
    "research", "marketing", "sales", "legal", "facilities", "parking", "coffee", "health",
    "safety", "travel", "expenses", "quarterly", "roadmap", "standup",
)  # fmt: skip
WORDS = (  # noqa: SIM905
    "the meeting notes are in the wiki and the next review is on Thursday after lunch "
    "please check the draft before we send it to the whole department and tell me if "
    "anything is missing from the plan we agreed on last week with the other teams "
    "our new colleagues start on Monday so say hello when you see them in the kitchen "
    "the build is green again thanks to everyone who helped with the flaky tests today"
).split()


@dataclass(frozen=True)
class Scale:
    """How big the data set is."""

    accounts: int = 10_000
    statuses: int = 1_000_000
    follows_per_account: int = 200
    feed_size: int = 800
    #: Share of statuses that are boosts, replies, private; share with favourites.
    boosts: float = 0.05
    replies: float = 0.10
    private: float = 0.05
    favourited: float = 0.10
    days: int = 120
    seed: int = 4


@dataclass(frozen=True)
class Seeded:
    """Where the database is and what is in it."""

    path: Path
    scale: Scale
    domain: str
    base_url: str
    counts: dict[str, int]
    seconds: float

    @property
    def url(self) -> str:
        """The SQLAlchemy URL a node's ``[database] url`` takes."""
        return f"sqlite+aiosqlite:///{self.path}"


def token_for(n: int) -> str:
    """The bearer token of seeded account ``user<n>``."""
    return f"seed-token-{n}"


def _cache_dir() -> Path:
    return Path(os.environ.get("KANTINE_BENCH_CACHE", ".bench-cache")).resolve()


def build(scale: Scale = Scale(), *, directory: Path | None = None, force: bool = False) -> Seeded:
    """The seeded database for *scale*: from the cache if it was built before, else built now."""
    folder = directory or _cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(json.dumps([FORMAT, asdict(scale)]).encode()).hexdigest()[:12]
    path = folder / f"seed-{scale.accounts}-{scale.statuses}-{key}.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and not force:
        info = json.loads(meta.read_text())
        asyncio.run(_migrate(path))  # a cache from before a newer migration
        return Seeded(path, scale, DOMAIN, BASE_URL, info["counts"], info["seconds"])
    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        stale.unlink(missing_ok=True)
    asyncio.run(_migrate(tmp))
    counts = _fill(tmp, scale)
    os.replace(tmp, path)
    seconds = round(time.perf_counter() - started, 1)
    meta.write_text(json.dumps({"scale": asdict(scale), "counts": counts, "seconds": seconds}))
    return Seeded(path, scale, DOMAIN, BASE_URL, counts, seconds)


async def _migrate(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _ts(when: datetime) -> str:
    """A time as SQLAlchemy stores ``DateTime`` on SQLite (UTC, no zone)."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(
    db: sqlite3.Connection, table: str, columns: str, rows: Iterator[tuple[Any, ...]]
) -> int:
    names = [c.strip() for c in columns.split(",")]
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608
    total = 0
    for chunk in _chunks(rows):
        db.executemany(sql, chunk)
        total += len(chunk)
    return total


def _fill(path: Path, scale: Scale) -> dict[str, int]:
    rng = random.Random(scale.seed)
    urls = Urls(BASE_URL)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-400000")
    db.execute("BEGIN")
    counts: dict[str, int] = {}
    end = datetime(2026, 11, 1, tzinfo=UTC)
    start = end - timedelta(days=scale.days)
    span_ms = int((end - start).total_seconds() * 1000)
    start_ms = int(start.timestamp() * 1000)

    # Accounts: one key pair for all (generating 10,000 RSA keys would take minutes).
    key = generate_private_key()
    public_pem, private_pem = public_key_to_pem(key), private_key_to_pem(key)
    account_ids = [((start_ms - 86_400_000 + n) << 16) | 1 for n in range(scale.accounts)]
    names = [f"user{n}" for n in range(scale.accounts)]

    def accounts() -> Iterator[tuple[Any, ...]]:
        created = _ts(start - timedelta(days=1))
        for n, name in enumerate(names):
            uri = urls.actor(name)
            yield (
                account_ids[n], uri, name, DOMAIN, 1, "Person", f"Person {n}",
                f"<p>Works in department {n % 40}.</p>", urls.profile(name), f"{uri}/inbox",
                urls.shared_inbox, f"{uri}/outbox", f"{uri}/followers", f"{uri}/following",
                f"{uri}/collections/featured", f"{uri}#main-key", public_pem, private_pem, 0, 1,
                "[]", "member", created, created,
            )  # fmt: skip

    counts["accounts"] = _insert(
        db,
        "accounts",
        "id, uri, username, domain, local, actor_type, display_name, summary, url, inbox_url,"
        " shared_inbox_url, outbox_url, followers_url, following_url, featured_url,"
        " public_key_id, public_key_pem, private_key_pem, manually_approves_followers,"
        " discoverable, fields_json, role, created_at, updated_at",
        accounts(),
    )

    # Follows: each account follows ~follows_per_account others, more often the popular ones.
    popularity = [1.0 / (1 + (n % 500)) ** 0.3 for n in range(scale.accounts)]
    followers: list[list[int]] = [[] for _ in range(scale.accounts)]

    def follows() -> Iterator[tuple[Any, ...]]:
        seq = 0
        created = _ts(start)
        for n in range(scale.accounts):
            want = max(1, int(rng.gauss(scale.follows_per_account, 20)))
            targets: set[int] = set()
            while len(targets) < min(want, scale.accounts - 1):
                for t in rng.choices(range(scale.accounts), weights=popularity, k=want):
                    if t != n and len(targets) < want:
                        targets.add(t)
            for t in sorted(targets):
                followers[t].append(n)
                seq += 1
                yield (
                    (start_ms << 16) + seq, account_ids[n], account_ids[t],
                    f"{urls.actor(names[n])}#follows/{seq}", "accepted", created,
                )  # fmt: skip

    counts["follows"] = _insert(
        db,
        "follows",
        "id, account_id, target_account_id, uri, state, created_at",
        follows(),
    )

    # Tags.
    tag_ids = {name: (start_ms << 16) + 100 + i for i, name in enumerate(TAGS)}
    _insert(db, "tags", "id, name", ((i, t) for t, i in tag_ids.items()))

    # Statuses in time order, by authors weighted like the follows.
    times = sorted(rng.randrange(span_ms) for _ in range(scale.statuses))
    authors = rng.choices(range(scale.accounts), weights=popularity, k=scale.statuses)
    status_ids = [((start_ms + t) << 16) | (i & 0xFFFF) for i, t in enumerate(times)]
    for i in range(1, len(status_ids)):  # equal times: keep ids strictly increasing
        if status_ids[i] <= status_ids[i - 1]:
            status_ids[i] = status_ids[i - 1] + 1
    visibility = ["public"] * scale.statuses
    favourites: list[tuple[Any, ...]] = []
    mentions: list[tuple[int, int]] = []
    status_tags: list[tuple[int, int]] = []
    reblogs = [0] * scale.statuses
    replies = [0] * scale.statuses
    boost_of: dict[int, int] = {}
    reply_to: dict[int, int] = {}
    for i in range(scale.statuses):
        roll = rng.random()
        if i > 100 and roll < scale.boosts:
            target = i - 1 - int(rng.expovariate(1 / 2000)) % i
            if visibility[target] == "public" and target not in boost_of:
                boost_of[i] = target
                reblogs[target] += 1
                continue
        if i > 100 and roll < scale.boosts + scale.replies:
            target = i - 1 - int(rng.expovariate(1 / 500)) % i
            if target not in boost_of:
                reply_to[i] = target
                replies[target] += 1
        elif roll > 1 - scale.private:
            visibility[i] = "private"

    favourite_count = [0] * scale.statuses
    fav_seq = 0
    for i in range(scale.statuses):
        if i in boost_of or rng.random() >= scale.favourited:
            continue
        fans = set(rng.sample(range(scale.accounts), rng.randint(1, 12)))
        favourite_count[i] = len(fans)
        for fan in fans:
            fav_seq += 1
            favourites.append(
                (
                    (start_ms << 16) + fav_seq,
                    account_ids[fan],
                    status_ids[i],
                    f"{urls.actor(names[fan])}#likes/{fav_seq}",
                    _ts(start_at(start_ms, times[i] + 60_000)),
                )
            )

    def statuses() -> Iterator[tuple[Any, ...]]:
        for i in range(scale.statuses):
            sid = status_ids[i]
            author = authors[i]
            name = names[author]
            when = _ts(start_at(start_ms, times[i]))
            uri = urls.status(name, sid)
            if i in boost_of:
                target = boost_of[i]
                yield (
                    sid, f"{uri}/activity", None, account_ids[author], 1, "", "", "", 0, None,
                    "public", None, None, None, status_ids[target], None, "[]", 0, 0, 0, when,
                    when,
                )  # fmt: skip
                continue
            text, html, mentioned, tagged = _post(rng, urls, names, author)
            for m in mentioned:
                mentions.append((sid, account_ids[m]))
            for t in tagged:
                status_tags.append((sid, tag_ids[t]))
            parent = reply_to.get(i)
            parent_id: int | None = None
            parent_uri: str | None = None
            parent_author: int | None = None
            if parent is not None:
                parent_id = status_ids[parent]
                parent_uri = urls.status(names[authors[parent]], parent_id)
                parent_author = account_ids[authors[parent]]
            yield (
                sid, uri, urls.status_page(name, sid), account_ids[author], 1, html, text, "",
                0, "en", visibility[i], parent_id, parent_uri, parent_author, None,
                parent_uri or uri, "[]", replies[i], favourite_count[i], reblogs[i], when, when,
            )  # fmt: skip

    counts["statuses"] = _insert(
        db,
        "statuses",
        "id, uri, url, account_id, local, content, text, summary, sensitive, language,"
        " visibility, in_reply_to_id, in_reply_to_uri, in_reply_to_account_id, reblog_of_id,"
        " context, attachments_json, replies_count, favourites_count, reblogs_count,"
        " published_at, created_at",
        statuses(),
    )
    counts["mentions"] = _insert(db, "mentions", "status_id, account_id", iter(mentions))
    counts["status_tags"] = _insert(db, "status_tags", "status_id, tag_id", iter(status_tags))
    counts["favourites"] = _insert(
        db, "favourites", "id, account_id, status_id, uri, created_at", iter(favourites)
    )
    now = _ts(end)
    counts["tokens"] = _insert(
        db,
        "tokens",
        "id, account_id, digest, scopes, name, created_at",
        (
            (
                ((start_ms - 1000) << 16) + n,
                account_ids[n],
                hashlib.sha256(token_for(n).encode()).hexdigest(),
                "read write follow push",
                "bench",
                now,
            )
            for n in range(scale.accounts)
        ),
    )

    # Home feeds: walk the statuses newest first and give each to its author and the
    # author's followers until every feed holds feed_size entries (what fan-out on write
    # with the cap leaves behind).
    feeds: list[list[int]] = [[] for _ in range(scale.accounts)]
    open_feeds = scale.accounts
    for i in range(scale.statuses - 1, -1, -1):
        if open_feeds == 0:
            break
        sid = status_ids[i]
        author = authors[i]
        for reader in (author, *followers[author]):
            feed = feeds[reader]
            if len(feed) < scale.feed_size:
                feed.append(sid)
                if len(feed) == scale.feed_size:
                    open_feeds -= 1

    def feed_rows() -> Iterator[tuple[Any, ...]]:
        for n in sorted(range(scale.accounts), key=lambda n: account_ids[n]):
            for sid in reversed(feeds[n]):
                yield (account_ids[n], sid)

    counts["home_feed"] = _insert(db, "home_feed", "account_id, status_id", feed_rows())
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return counts


def start_at(start_ms: int, offset_ms: int) -> datetime:
    """The time *offset_ms* after the epoch millisecond *start_ms*."""
    return datetime.fromtimestamp((start_ms + offset_ms) / 1000, UTC)


def _post(
    rng: random.Random, urls: Urls, names: list[str], author: int
) -> tuple[str, str, list[int], list[str]]:
    """Source text and HTML of a 300–600 character post with mentions, a link and hashtags."""
    mentioned = rng.sample(range(len(names)), rng.choice((1, 1, 2))) if rng.random() < 0.3 else []
    mentioned = [m for m in mentioned if m != author]
    tagged = rng.sample(TAGS, rng.choice((1, 2, 3))) if rng.random() < 0.4 else []
    length = rng.randint(25, 60)
    start = rng.randrange(len(WORDS))
    words = [WORDS[(start + k) % len(WORDS)] for k in range(length)]
    split = rng.randint(10, length - 10)
    first, second = " ".join(words[:split]), " ".join(words[split:])
    link = f"https://wiki.example.org/pages/{rng.randrange(10**6)}"
    text_parts = [f"@{names[m]}" for m in mentioned] + [first, link, second]
    text_parts += [f"#{t}" for t in tagged]
    html_mentions = "".join(
        f'<span class="h-card"><a href="{urls.profile(names[m])}" class="u-url mention">'
        f"@<span>{names[m]}</span></a></span> "
        for m in mentioned
    )
    html_tags = " ".join(
        f'<a href="{urls.tag(t)}" class="mention hashtag" rel="tag">#<span>{t}</span></a>'
        for t in tagged
    )
    html = (
        f"<p>{html_mentions}{first.capitalize()}.</p>"
        f'<p><a href="{link}" rel="nofollow noopener noreferrer" target="_blank">'
        f'<span class="invisible">https://</span><span class="">{link[8:]}</span></a> '
        f"{second}.{(' ' + html_tags) if html_tags else ''}</p>"
    )
    return " ".join(text_parts), html, mentioned, tagged


def main() -> None:
    """Build (or find in the cache) the data set and print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=Scale.accounts)
    parser.add_argument("--statuses", type=int, default=Scale.statuses)
    parser.add_argument("--follows", type=int, default=Scale.follows_per_account)
    parser.add_argument("--feed-size", type=int, default=Scale.feed_size)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args()
    scale = Scale(
        accounts=args.accounts,
        statuses=args.statuses,
        follows_per_account=args.follows,
        feed_size=args.feed_size,
    )
    seeded = build(scale, force=args.force)
    size = seeded.path.stat().st_size / 1e6
    print(f"{seeded.path.name}: {size:,.0f} MB, built in {seeded.seconds} s")
    for table, count in seeded.counts.items():
        print(f"  {table:12} {count:>10,}")


if __name__ == "__main__":
    main()
