"""The who-is-who as an RDF graph: rdflib over the Oxigraph store, persistent on disk.

Each person is a ``schema:Person`` node named by their actor id; their department and
location are shared nodes on the directory (``…/directory/departments/finance``), so a
SPARQL query can ask for everyone in one place.  A person's triples are replaced as a
whole on every push, which makes a replayed push harmless.  Reads that walk everyone
(start-up, exports) go straight to pyoxigraph, which is many times faster than rdflib's
triple iterator.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import RDF, XSD, Graph
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from node.directory.index import fold
from node.directory.profiles import AS, ORG, SCHEMA, VCARD, Profile

__all__ = ["DirectoryGraph", "Entry", "slug"]

_DEFAULT = ox.DefaultGraph()
#: From this many profiles at once, the graph is written with the bulk loader.
_BULK = 50
#: Quads written between two flushes of the store's memtables.
_FLUSH_EVERY = 100_000
_PERSON = ox.NamedNode(SCHEMA + "Person")
_TYPE = ox.NamedNode(str(RDF.type))
_NAME = ox.NamedNode(SCHEMA + "name")
_USERNAME = ox.NamedNode(AS + "preferredUsername")
_IDENTIFIER = ox.NamedNode(SCHEMA + "identifier")
_ALTERNATE = ox.NamedNode(SCHEMA + "alternateName")
_MODIFIED = ox.NamedNode(SCHEMA + "dateModified")
_DATETIME = ox.NamedNode(str(XSD.dateTime))
_DESCRIPTION = ox.NamedNode(SCHEMA + "description")
_JOB = ox.NamedNode(SCHEMA + "jobTitle")
_PHONE = ox.NamedNode(SCHEMA + "telephone")
_EMAIL = ox.NamedNode(SCHEMA + "email")
_URL = ox.NamedNode(SCHEMA + "url")
_IMAGE = ox.NamedNode(SCHEMA + "image")
_OUTBOX = ox.NamedNode(AS + "outbox")
_REPORTS_TO = ox.NamedNode(ORG + "reportsTo")
_KNOWS = ox.NamedNode(SCHEMA + "knowsAbout")
_LANGUAGE = ox.NamedNode(SCHEMA + "knowsLanguage")
_WORKS_FOR = ox.NamedNode(SCHEMA + "worksFor")
_LOCATION = ox.NamedNode(SCHEMA + "workLocation")
_UNIT = ox.NamedNode(ORG + "OrganizationalUnit")
_PLACE = ox.NamedNode(SCHEMA + "Place")


def _first(store: ox.Store, subject: Any, predicate: ox.NamedNode) -> ox.Quad | None:
    return next(iter(store.quads_for_pattern(subject, predicate, None, _DEFAULT)), None)


def slug(label: str) -> str:
    """The path segment of a department or location (``Sociaal Domein`` → ``sociaal-domein``)."""
    return re.sub(r"[^a-z0-9]+", "-", fold(label)).strip("-")[:80] or "-"


class Entry:
    """A person as read back from the graph: the profile plus their org-wide handle."""

    __slots__ = ("org_handle", "profile")

    def __init__(self, profile: Profile, org_handle: str) -> None:
        self.profile = profile
        self.org_handle = org_handle


class DirectoryGraph:
    """The directory's graph; one per application, opened on start-up and closed on exit."""

    def __init__(self, path: Path, base_url: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The store's default graph, so SPARQL sees the people without a GRAPH clause.
        self.graph = Graph(store="Oxigraph", identifier=DATASET_DEFAULT_GRAPH_ID)
        self.graph.open(str(path), create=not path.exists())
        for prefix, ns in (("schema", SCHEMA), ("org", ORG), ("as", AS), ("vcard", VCARD)):
            self.graph.bind(prefix, ns)
        self._base = base_url.rstrip("/")
        #: Bumped on every change; SPARQL snapshots compare it.
        self.generation = 0
        self._unflushed = 0
        #: Whether bulk-loaded files wait to be merged (see :meth:`optimize`).
        self._unoptimized = False
        #: Department and location nodes by (kind, label): the node and its two quads.
        self._shared_nodes: dict[tuple[str, str], tuple[ox.NamedNode, list[ox.Quad]]] = {}
        #: Shared nodes known to be in the store with their type and name (checked once).
        self._written: set[str] = set()

    @property
    def store(self) -> ox.Store:
        """The pyoxigraph store under rdflib (for fast bulk reads and snapshots)."""
        inner: ox.Store = self.graph.store._inner  # type: ignore[attr-defined]
        return inner

    def close(self) -> None:
        """Flush and close the store (merging what a burst bulk-loaded first)."""
        self.optimize()
        self.store.flush()
        self.graph.close()

    def optimize(self) -> None:
        """Merge the files a burst's bulk loads left behind, if any.

        Each bulk load writes new sorted files; until RocksDB's background compaction has
        merged them, a SPARQL query probes many files per look-up (a store of 30,000 people
        loaded 500 at a time and queried at once: four times the CPU per query).  This
        merges them now, for about 2 s of CPU at 100,000 people, once per burst.  Called
        before a SPARQL snapshot and on close.
        """
        if self._unoptimized:
            self.store.optimize()
            self._unoptimized = False

    def department_iri(self, label: str) -> str:
        return f"{self._base}/directory/departments/{slug(label)}"

    def location_iri(self, label: str) -> str:
        return f"{self._base}/directory/locations/{slug(label)}"

    def _shared_node(self, kind: str, label: str) -> tuple[ox.NamedNode, list[ox.Quad]]:
        """A department's or location's node and its type and name quads (kept: they repeat)."""
        key = (kind, label)
        found = self._shared_nodes.get(key)
        if found is None:
            if len(self._shared_nodes) > 10_000:
                self._shared_nodes.clear()
            iri = self.department_iri(label) if kind == "department" else self.location_iri(label)
            node = ox.NamedNode(iri)
            quads = [
                ox.Quad(node, _TYPE, _UNIT if kind == "department" else _PLACE),
                ox.Quad(node, _NAME, ox.Literal(label)),
            ]
            found = self._shared_nodes[key] = (node, quads)
        return found

    def _quads(
        self, profile: Profile, org_handle: str, now: ox.Literal
    ) -> tuple[list[ox.Quad], list[tuple[ox.NamedNode, list[ox.Quad]]]]:
        """The person's own quads, and their department and location nodes with theirs."""
        p = ox.NamedNode(profile.id)
        values: list[tuple[ox.NamedNode, Any]] = [
            (_TYPE, _PERSON),
            (_NAME, ox.Literal(profile.name)),
            (_USERNAME, ox.Literal(profile.username)),
            (_IDENTIFIER, ox.Literal(profile.handle)),
            (_ALTERNATE, ox.Literal(org_handle)),
            (_MODIFIED, now),
        ]
        for term, text in (
            (_DESCRIPTION, profile.summary),
            (_JOB, profile.job_title),
            (_PHONE, profile.telephone),
            (_EMAIL, profile.email),
        ):
            if text:
                values.append((term, ox.Literal(text)))
        for term, link in (
            (_URL, profile.url),
            (_IMAGE, profile.icon),
            (_OUTBOX, profile.outbox),
            (_REPORTS_TO, profile.reports_to),
        ):
            if link:
                values.append((term, ox.NamedNode(link)))
        values += [(_KNOWS, ox.Literal(v)) for v in profile.knows_about]
        values += [(_LANGUAGE, ox.Literal(v)) for v in profile.knows_language]
        shared: list[tuple[ox.NamedNode, list[ox.Quad]]] = []
        for term, kind, label in (
            (_WORKS_FOR, "department", profile.department),
            (_LOCATION, "location", profile.location),
        ):
            if label:
                node, quads = self._shared_node(kind, label)
                values.append((term, node))
                shared.append((node, quads))
        return [ox.Quad(p, term, value) for term, value in values], shared

    def put(self, profile: Profile, org_handle: str, *, previous: Profile | None = None) -> None:
        """Write *profile*, replacing whatever the graph held about that person."""
        self.put_many([(profile, org_handle, previous)])

    def put_many(self, people: list[tuple[Profile, str, Profile | None]]) -> None:
        """Write several profiles; all new quads go into the store in one transaction.

        Writes go to pyoxigraph directly (rdflib's store adapter converts every term and
        writes quad by quad, several times slower); reads and exports use rdflib.
        """
        store = self.store
        added: list[ox.Quad] = []
        named: set[str] = set()
        now = ox.Literal(datetime.now(UTC).isoformat(), datatype=_DATETIME)
        for profile, org_handle, previous in people:
            mine, shared = self._quads(profile, org_handle, now)
            if previous is None:
                # Not in the directory: the graph holds nothing about them (the service
                # reads its entries from the graph and writes every change through here).
                added += mine
            else:
                old = set(store.quads_for_pattern(ox.NamedNode(profile.id), None, None, _DEFAULT))
                for quad in old.difference(mine):
                    store.remove(quad)
                added += [q for q in mine if q not in old]
            for node, (type_quad, name_quad) in shared:
                iri = node.value
                if iri in self._written or iri in named:
                    continue
                named.add(iri)
                added.append(type_quad)
                # A shared node keeps the first label it was given ("Finance", not "finance").
                if _first(store, node, _NAME) is None:
                    added.append(name_quad)
            if previous is not None:
                self._drop_orphans(previous, keep=profile)
        if added:
            if len(people) >= _BULK:
                # A burst (a full re-sync): Oxigraph's bulk loader takes less than half the
                # CPU. It is not one transaction, but each person's push is idempotent and a
                # re-sync can simply be run again.
                store.bulk_extend(added)
                self._unoptimized = True
            else:
                store.extend(added)
            self._unflushed += len(added)
            self._written |= named
            if self._unflushed > _FLUSH_EVERY:
                # RocksDB's memtables otherwise grow to their full size per column family
                # (hundreds of MB); writing them out keeps the node's memory flat.
                store.flush()
                self._unflushed = 0
        self.generation += 1

    def remove(self, person: str, previous: Profile | None) -> None:
        """Take the person out of the graph (and their department or location, if now empty)."""
        store = self.store
        for quad in list(store.quads_for_pattern(ox.NamedNode(person), None, None, _DEFAULT)):
            store.remove(quad)
        if previous is not None:
            self._drop_orphans(previous, keep=None)
        self.generation += 1

    def _drop_orphans(self, previous: Profile, *, keep: Profile | None) -> None:
        """Remove the old department or location node if nobody is in it any more."""
        store = self.store
        for term, label, now, iri in (
            (
                _WORKS_FOR,
                previous.department,
                keep.department if keep else None,
                self.department_iri,
            ),
            (_LOCATION, previous.location, keep.location if keep else None, self.location_iri),
        ):
            if not label or (now and (now == label or slug(now) == slug(label))):
                continue
            node = ox.NamedNode(iri(label))
            if next(iter(store.quads_for_pattern(None, term, node, _DEFAULT)), None) is None:
                for quad in list(store.quads_for_pattern(node, None, None, _DEFAULT)):
                    store.remove(quad)
                self._written.discard(node.value)

    def entries(self) -> Iterator[Entry]:
        """Everyone in the graph (start-up: rebuild the search index and handles)."""
        store = self.store
        labels: dict[str, str] = {}
        for quad in store.quads_for_pattern(None, _NAME, None, _DEFAULT):
            labels[_value(quad.subject)] = _value(quad.object)
        people = {_value(q.subject) for q in store.quads_for_pattern(None, _TYPE, _PERSON)}
        current: str | None = None
        props: dict[str, list[str]] = {}
        for quad in store.quads_for_pattern(None, None, None, _DEFAULT):
            subject = _value(quad.subject)
            if subject != current:
                if current is not None and current in people:
                    yield _entry(current, props, labels)
                current, props = subject, {}
            props.setdefault(quad.predicate.value, []).append(_value(quad.object))
        if current is not None and current in people:
            yield _entry(current, props, labels)

    def snapshot(self, target: Path) -> None:
        """A consistent, read-only copy of the store at *target* (for the SPARQL workers)."""
        if target.exists():
            shutil.rmtree(target)
        self.optimize()
        self.store.flush()
        self.store.backup(str(target))


def _value(term: Any) -> str:
    """The lexical value of a node (RDF-star triples never occur in the directory's graph)."""
    return str(getattr(term, "value", term))


def _interned(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


def _entry(person: str, props: dict[str, list[str]], labels: dict[str, str]) -> Entry:
    def one(term: str) -> str | None:
        values = props.get(term)
        return values[0] if values else None

    def label(term: str) -> str | None:
        iri = one(term)
        return labels.get(iri) if iri else None

    username = one(AS + "preferredUsername") or ""
    profile = Profile(
        id=person,
        username=username,
        name=one(SCHEMA + "name") or username,
        summary=one(SCHEMA + "description") or "",
        url=one(SCHEMA + "url"),
        icon=one(SCHEMA + "image"),
        outbox=one(AS + "outbox"),
        job_title=_interned(one(SCHEMA + "jobTitle")),
        department=_interned(label(SCHEMA + "worksFor")),
        location=_interned(label(SCHEMA + "workLocation")),
        telephone=one(SCHEMA + "telephone"),
        email=one(SCHEMA + "email"),
        knows_about=tuple(map(sys.intern, props.get(SCHEMA + "knowsAbout", ()))),
        knows_language=tuple(map(sys.intern, props.get(SCHEMA + "knowsLanguage", ()))),
        reports_to=one(ORG + "reportsTo"),
    )
    return Entry(profile, one(SCHEMA + "alternateName") or profile.handle)
