"""A person's data export: one zip archive, in the shapes Mastodon's own archive uses.

- ``actor.json``: the person's actor document;
- ``outbox.json``: every post (all visibilities: it is their own copy) as an ActivityPub
  ``OrderedCollection`` of ``Create`` activities, boosts as ``Announce``;
- ``likes.json`` and ``bookmarks.json``: ``OrderedCollection`` of the posts' ids;
- ``following_accounts.csv`` (Mastodon's import format), ``followers.csv``, ``bookmarks.csv``;
- ``media/…``: the files of their uploads, when the node keeps any.

The rows are read page by page in a few queries per page; the zip is written in a thread so
deflating a large archive does not hold up the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from node.db.engine import AsyncSession
from node.db.models import Account, Bookmark, Favourite, Follow, Mention, Status, StatusTag, Tag
from node.federation.documents import Urls, actor_document, iso, note_document, ordered_collection

__all__ = ["MediaFile", "write_archive"]

_PAGE = 500
_CONTEXT = "https://www.w3.org/ns/activitystreams"


@dataclass(frozen=True)
class MediaFile:
    """An uploaded file to put in the archive under ``media/<name>``."""

    name: str
    path: Path


def _handle(account: Account) -> str:
    return f"{account.username}@{account.domain}"


async def _activities(session: AsyncSession, account: Account, urls: Urls) -> list[dict[str, Any]]:
    """The person's posts and boosts, oldest first, as activities."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        statuses = list(
            (
                await session.scalars(
                    select(Status)
                    .where(Status.account_id == account.id, Status.id > after)
                    .order_by(Status.id)
                    .limit(_PAGE)
                )
            ).all()
        )
        if not statuses:
            return items
        after = statuses[-1].id
        ids = [s.id for s in statuses]
        mentions: dict[int, list[Account]] = defaultdict(list)
        for status_id, mentioned in (
            await session.execute(
                select(Mention.status_id, Account)
                .join(Account, Account.id == Mention.account_id)
                .where(Mention.status_id.in_(ids))
            )
        ).all():
            mentions[status_id].append(mentioned)
        tags: dict[int, list[str]] = defaultdict(list)
        for status_id, name in (
            await session.execute(
                select(StatusTag.status_id, Tag.name)
                .join(Tag, Tag.id == StatusTag.tag_id)
                .where(StatusTag.status_id.in_(ids))
            )
        ).all():
            tags[status_id].append(name)
        boosted_ids = [s.reblog_of_id for s in statuses if s.reblog_of_id is not None]
        boosted = {
            row.id: row.uri
            for row in await session.execute(
                select(Status.id, Status.uri).where(Status.id.in_(boosted_ids))
            )
        }
        for status in statuses:
            items.append(_activity(status, account, urls, mentions, tags, boosted))


def _activity(
    status: Status,
    account: Account,
    urls: Urls,
    mentions: dict[int, list[Account]],
    tags: dict[int, list[str]],
    boosted: dict[int, str],
) -> dict[str, Any]:
    if status.reblog_of_id is not None:
        return {
            "id": status.uri,
            "type": "Announce",
            "actor": account.uri,
            "published": iso(status.published_at),
            "object": boosted.get(status.reblog_of_id),
        }
    note = note_document(
        status,
        account,
        mentions=mentions[status.id],
        hashtags=tags[status.id],
        in_reply_to_uri=status.in_reply_to_uri,
        urls=urls,
    )
    return {
        "id": f"{status.uri}/activity",
        "type": "Create",
        "actor": account.uri,
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


async def _uris(
    session: AsyncSession, table: type[Favourite] | type[Bookmark], account_id: int
) -> list[str]:
    rows = await session.scalars(
        select(Status.uri)
        .join(table, table.status_id == Status.id)
        .where(table.account_id == account_id)
        .order_by(table.id)
    )
    return list(rows)


async def _follows(session: AsyncSession, account_id: int, *, followers: bool) -> list[str]:
    mine = Follow.target_account_id if followers else Follow.account_id
    other = Follow.account_id if followers else Follow.target_account_id
    rows = await session.scalars(
        select(Account)
        .join(Follow, other == Account.id)
        .where(mine == account_id, Follow.state == "accepted")
        .order_by(Account.domain, Account.username)
    )
    return [_handle(a) for a in rows]


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _collection(name: str, account: Account, items: Sequence[Any]) -> str:
    doc = ordered_collection(f"{account.uri}/{name}", total=len(items), items=items)
    return json.dumps(doc, ensure_ascii=False, indent=1)


def _write(out: IO[bytes], texts: dict[str, str], media: Sequence[MediaFile]) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in texts.items():
            archive.writestr(name, text)
        seen: set[str] = set()
        for item in media:
            # Archive names come from the node's own file names, never from what someone typed.
            name = Path(item.name).name
            if not name or name in seen or not item.path.is_file():
                continue
            seen.add(name)
            archive.write(item.path, f"media/{name}")


async def write_archive(
    session: AsyncSession,
    account: Account,
    urls: Urls,
    out: IO[bytes],
    *,
    media: Sequence[MediaFile] = (),
) -> None:
    """Write *account*'s archive as a zip into *out*."""
    activities = await _activities(session, account, urls)
    likes = await _uris(session, Favourite, account.id)
    bookmarks = await _uris(session, Bookmark, account.id)
    following = await _follows(session, account.id, followers=False)
    followers = await _follows(session, account.id, followers=True)
    actor = actor_document(account, urls)
    texts = {
        "actor.json": json.dumps(actor, ensure_ascii=False, indent=1),
        "outbox.json": json.dumps(
            {"@context": _CONTEXT, **_outbox(account, activities)}, ensure_ascii=False, indent=1
        ),
        "likes.json": _collection("liked", account, likes),
        "bookmarks.json": _collection("bookmarks", account, bookmarks),
        "following_accounts.csv": _csv(
            ["Account address", "Show boosts", "Notify on new posts", "Languages"],
            [[handle, "true", "false", ""] for handle in following],
        ),
        "followers.csv": _csv(["Account address"], [[handle] for handle in followers]),
        "bookmarks.csv": "".join(f"{uri}\n" for uri in bookmarks),
    }
    await asyncio.to_thread(_write, out, texts, media)


def _outbox(account: Account, activities: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": account.outbox_url or f"{account.uri}/outbox",
        "type": "OrderedCollection",
        "totalItems": len(activities),
        "orderedItems": activities,
    }
