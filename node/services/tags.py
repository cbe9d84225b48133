"""Hashtag ids: looked up (and created on first use) for many names in a few statements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from node.db.engine import AsyncSession
from node.db.hop import in_one_hop
from node.db.models import StatusTag, Tag
from node.ids import new_id
from node.services.graph import insert_ignore

__all__ = ["TagIds", "link_tags", "link_tags_now"]


class TagIds:
    """Tag name → id for one worker, bounded; never module state (STYLE.md).

    Almost every post names tags that exist already, so a known name costs no statement.
    Ids learnt inside a transaction are *staged*: they count only after :meth:`commit`,
    because a rolled-back transaction may have created the very tag the id points at.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._known: dict[str, int] = {}
        self._staged: dict[str, int] = {}

    async def resolve(self, session: AsyncSession, names: Iterable[str]) -> dict[str, int]:
        """The id of each name, creating the missing tags (at most three statements)."""
        return await in_one_hop(session, self.resolve_now, list(names))

    def resolve_now(self, session: Connection, names: Iterable[str]) -> dict[str, int]:
        """:meth:`resolve` in the caller's thread hop (``node.db.hop``)."""
        wanted = list(dict.fromkeys(name[:255] for name in names))
        found: dict[str, int] = {}
        missing: list[str] = []
        for name in wanted:
            known = self._known.get(name, self._staged.get(name))
            if known is None:
                missing.append(name)
            else:
                found[name] = known
        if missing:
            found.update(_lookup(session, missing))
            new = [name for name in missing if name not in found]
            if new:
                # ON CONFLICT DO NOTHING: another worker may create the same tag meanwhile.
                session.execute(
                    insert_ignore(session, Tag), [{"id": new_id(), "name": n} for n in new]
                )
                found.update(_lookup(session, new))
            self._staged.update((name, found[name]) for name in missing)
        return found

    def commit(self) -> None:
        """The transaction that used :meth:`resolve` committed: keep what it learnt."""
        if len(self._known) + len(self._staged) > self._limit:
            self._known.clear()  # a simple bound: rare, and refilled by one query per batch
        self._known.update(self._staged)
        self._staged.clear()

    def discard(self) -> None:
        """The transaction failed: forget everything, a cached id may be the cause."""
        self._known.clear()
        self._staged.clear()


def _lookup(session: Connection, names: Sequence[str]) -> dict[str, int]:
    rows = session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))
    return {name: tag_id for name, tag_id in rows}


async def link_tags(
    session: AsyncSession, links: Sequence[tuple[int, str]], tags: TagIds | None = None
) -> None:
    """Link each (status id, tag name), creating tags on first use, in one multi-row insert."""
    if links:
        await in_one_hop(session, link_tags_now, links, tags)


def link_tags_now(
    session: Connection, links: Sequence[tuple[int, str]], tags: TagIds | None = None
) -> None:
    """:func:`link_tags` in the caller's thread hop (``node.db.hop``)."""
    if not links:
        return
    ids = (tags if tags is not None else TagIds()).resolve_now(session, [n for _, n in links])
    rows = {(status_id, ids[name[:255]]) for status_id, name in links}
    session.execute(
        insert_ignore(session, StatusTag),
        [{"status_id": status_id, "tag_id": tag_id} for status_id, tag_id in sorted(rows)],
    )
