"""The directory service: profiles in, search, handles, departments and the org chart out.

It keeps the graph (the truth, on disk) and what is derived from it in memory: the
search index, the org-wide handles, the department and location groups and who reports
to whom.  All of it is rebuilt from the graph at start-up.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activitypub.hosts import host_of
from node.directory.graph import DirectoryGraph, Entry, slug
from node.directory.index import SearchIndex, fold
from node.directory.profiles import Profile, ProfileReader

__all__ = ["Directory", "Group", "Result"]

log = logging.getLogger(__name__)

_KINDS = ("department", "location")


@dataclass(frozen=True)
class Result:
    """One search hit with what a result list shows."""

    entry: Entry
    score: float


@dataclass(frozen=True)
class Group:
    """A department or location with how many people are in it."""

    kind: str
    slug: str
    label: str
    size: int


class Directory:
    """The who-is-who of one directory node."""

    def __init__(
        self, store_path: Path, *, base_url: str, domain: str, max_field_chars: int = 300
    ) -> None:
        self.graph = DirectoryGraph(store_path, base_url)
        self.reader = ProfileReader(max_field_chars=max_field_chars)
        self.domain = domain.lower()
        self.base_url = base_url.rstrip("/")
        self.index = SearchIndex()
        self._entries: dict[str, Entry] = {}
        self._handles: dict[str, str] = {}
        self._groups: dict[tuple[str, str], set[str]] = {}
        self._labels: dict[tuple[str, str], str] = {}
        self._reports: dict[str, set[str]] = {}
        count = 0
        for entry in self.graph.entries():
            self._remember(entry)
            count += 1
        log.info("directory loaded %d people from %s", count, store_path)

    def close(self) -> None:
        """Flush the graph to disk."""
        self.graph.close()

    def __len__(self) -> int:
        return len(self._entries)

    # -- changes ---------------------------------------------------------------------

    def read(self, doc: Mapping[str, Any]) -> Profile:
        """The profile in a pushed Person document (:class:`ProfileError` if unusable)."""
        return self.reader.read(doc)

    def put(self, profile: Profile) -> Entry:
        """Add or replace a person; their org-wide handle stays what it was."""
        old = self._entries.get(profile.id)
        org_handle = old.org_handle if old is not None else self._new_handle(profile)
        self.graph.put(profile, org_handle, previous=old.profile if old else None)
        if old is not None:
            self._forget(old, reindex=True)
        entry = Entry(profile, org_handle)
        self._remember(entry)
        log.info("directory %s %s as %s", "updated" if old else "added", profile.id, org_handle)
        return entry

    def apply(self, doc: Mapping[str, Any]) -> Entry:
        """Read and store a pushed Person document."""
        return self.put(self.read(doc))

    def put_many(self, profiles: list[Profile]) -> list[Entry]:
        """Add or replace several people with one graph transaction (a full re-sync's burst).

        A person named twice in *profiles* is stored once, as their last version: the
        graph writes the whole batch at the end, so an earlier version would otherwise
        still be there when the later one is compared with what the store holds."""
        latest = {profile.id: profile for profile in profiles}
        batch: list[tuple[Profile, str, Profile | None]] = []
        entries: list[Entry] = []
        for profile in latest.values():
            old = self._entries.get(profile.id)
            if old is not None:
                self._forget(old, reindex=True)
            org_handle = old.org_handle if old is not None else self._new_handle(profile)
            batch.append((profile, org_handle, old.profile if old else None))
            entry = Entry(profile, org_handle)
            self._remember(entry)  # so a later Alice in the same batch gets another handle
            entries.append(entry)
        self.graph.put_many(batch)
        return entries

    def remove(self, person: str) -> bool:
        """Take a person out of the directory; False if they were not in it."""
        old = self._entries.get(person)
        if old is None:
            return False
        self.graph.remove(person, old.profile)
        self._forget(old)
        log.info("directory removed %s", person)
        return True

    def _new_handle(self, profile: Profile) -> str:
        """``alice@org`` for the first Alice; ``alice.hr@org`` for an Alice on hr.example."""
        local = profile.username.lower()
        if local in self._handles:
            label = host_of(profile.id).split(":")[0].split(".")[0].lower()
            local = f"{local}.{label}"
            number = 2
            base = local
            while local in self._handles:
                local = f"{base}{number}"
                number += 1
        return f"{local}@{self.domain}"

    def _remember(self, entry: Entry) -> None:
        profile = entry.profile
        self._entries[profile.id] = entry
        self._handles[entry.org_handle.split("@")[0].lower()] = profile.id
        for kind, label in zip(_KINDS, (profile.department, profile.location), strict=True):
            if label:
                key = (kind, slug(label))
                self._groups.setdefault(key, set()).add(profile.id)
                self._labels.setdefault(key, label)
        if profile.reports_to:
            self._reports.setdefault(profile.reports_to, set()).add(profile.id)
        self.index.put(
            profile.id,
            {
                "name": [profile.name],
                "handle": [profile.username],
                "job": [profile.job_title or ""],
                "department": [profile.department or ""],
                "location": [profile.location or ""],
                "expertise": profile.knows_about,
            },
            {
                "department": [profile.department or ""],
                "location": [profile.location or ""],
                "expertise": profile.knows_about,
            },
        )

    def _forget(self, entry: Entry, *, reindex: bool = False) -> None:
        """Drop *entry* from what is derived; with *reindex*, :meth:`_remember` follows and
        replaces its index entry itself (unchanged words then cost nothing)."""
        profile = entry.profile
        self._entries.pop(profile.id, None)
        local = entry.org_handle.split("@")[0].lower()
        if self._handles.get(local) == profile.id:
            del self._handles[local]
        for kind, label in zip(_KINDS, (profile.department, profile.location), strict=True):
            if label:
                key = (kind, slug(label))
                members = self._groups.get(key)
                if members is not None:
                    members.discard(profile.id)
                    if not members:
                        del self._groups[key]
                        self._labels.pop(key, None)
        if profile.reports_to and profile.reports_to in self._reports:
            self._reports[profile.reports_to].discard(profile.id)
            if not self._reports[profile.reports_to]:
                del self._reports[profile.reports_to]
        if not reindex:
            self.index.remove(profile.id)

    # -- reading ---------------------------------------------------------------------

    def get(self, person: str) -> Entry | None:
        """One person by actor id."""
        return self._entries.get(person)

    def by_handle(self, local: str) -> Entry | None:
        """One person by the local part of their org-wide handle (``alice``)."""
        person = self._handles.get(local.lower())
        return self._entries.get(person) if person else None

    def everyone(self) -> list[Entry]:
        """Everyone, sorted by name."""
        return sorted(self._entries.values(), key=lambda e: fold(e.profile.name))

    def search(
        self,
        text: str = "",
        *,
        department: str = "",
        location: str = "",
        expertise: str = "",
        limit: int = 20,
    ) -> list[Result]:
        """Ranked people for *text*, narrowed by exact department, location and expertise."""
        within: AbstractSet[int] | None = None
        for kind, value in (
            ("department", department),
            ("location", location),
            ("expertise", expertise),
        ):
            if value.strip():
                members = self.index.facet_slots(kind, value)
                within = members if within is None else within & members
        if text.strip():
            hits = self.index.search(text, within=within, limit=limit)
            return [Result(self._entries[h.person], h.score) for h in hits]
        if within is None:
            return []
        people = (self._entries[p] for slot in within if (p := self.index.person(slot)))
        chosen = heapq.nsmallest(limit, people, key=lambda e: fold(e.profile.name))
        return [Result(e, 1.0) for e in chosen]

    def groups(self, kind: str) -> list[Group]:
        """Every department (or location) with its size, by name."""
        found = [
            Group(k, s, self._labels[(k, s)], len(members))
            for (k, s), members in self._groups.items()
            if k == kind
        ]
        return sorted(found, key=lambda g: fold(g.label))

    def group(self, kind: str, key: str) -> tuple[Group, list[Entry]] | None:
        """A department (or location) by slug, with its people sorted by name."""
        members = self._groups.get((kind, key))
        if not members:
            return None
        group = Group(kind, key, self._labels[(kind, key)], len(members))
        people = sorted((self._entries[p] for p in members), key=lambda e: fold(e.profile.name))
        return group, people

    def reports(self, person: str) -> list[Entry]:
        """The people who report to *person*, by name."""
        found = (self._entries[p] for p in self._reports.get(person, ()) if p in self._entries)
        return sorted(found, key=lambda e: fold(e.profile.name))

    def colleagues(self, person: str, *, limit: int = 12) -> list[Entry]:
        """Others in the same department, by name."""
        entry = self._entries.get(person)
        if entry is None or not entry.profile.department:
            return []
        found = self.group("department", slug(entry.profile.department))
        if found is None:
            return []
        return [e for e in found[1] if e.profile.id != person][:limit]

    def entries(self, people: Iterable[str]) -> list[Entry]:
        """The entries of *people* that are in the directory."""
        return [e for p in people if (e := self._entries.get(p)) is not None]
