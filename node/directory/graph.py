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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import RDF, XSD, Graph, Literal, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
from rdflib.namespace import Namespace

from node.directory.index import fold
from node.directory.profiles import AS, ORG, SCHEMA, VCARD, Profile

__all__ = ["DirectoryGraph", "Entry", "slug"]

SDO = Namespace(SCHEMA)
ORGNS = Namespace(ORG)
ASNS = Namespace(AS)
_PERSON = ox.NamedNode(SCHEMA + "Person")
_TYPE = ox.NamedNode(str(RDF.type))


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

    @property
    def store(self) -> ox.Store:
        """The pyoxigraph store under rdflib (for fast bulk reads and snapshots)."""
        inner: ox.Store = self.graph.store._inner  # type: ignore[attr-defined]
        return inner

    def close(self) -> None:
        """Flush and close the store."""
        self.store.flush()
        self.graph.close()

    def department_iri(self, label: str) -> str:
        return f"{self._base}/directory/departments/{slug(label)}"

    def location_iri(self, label: str) -> str:
        return f"{self._base}/directory/locations/{slug(label)}"

    def _triples(self, profile: Profile, org_handle: str) -> list[tuple[Any, Any, Any]]:
        p = URIRef(profile.id)
        out: list[tuple[Any, Any, Any]] = [
            (p, RDF.type, SDO.Person),
            (p, SDO.name, Literal(profile.name)),
            (p, ASNS.preferredUsername, Literal(profile.username)),
            (p, SDO.identifier, Literal(profile.handle)),
            (p, SDO.alternateName, Literal(org_handle)),
            (p, SDO.dateModified, Literal(datetime.now(UTC), datatype=XSD.dateTime)),
        ]
        texts = (
            (SDO.description, profile.summary),
            (SDO.jobTitle, profile.job_title),
            (SDO.telephone, profile.telephone),
            (SDO.email, profile.email),
        )
        out += [(p, term, Literal(value)) for term, value in texts if value]
        links = (
            (SDO.url, profile.url),
            (SDO.image, profile.icon),
            (ASNS.outbox, profile.outbox),
            (ORGNS.reportsTo, profile.reports_to),
        )
        out += [(p, term, URIRef(value)) for term, value in links if value]
        out += [(p, SDO.knowsAbout, Literal(v)) for v in profile.knows_about]
        out += [(p, SDO.knowsLanguage, Literal(v)) for v in profile.knows_language]
        if profile.department:
            unit = URIRef(self.department_iri(profile.department))
            out += [
                (p, SDO.worksFor, unit),
                (unit, RDF.type, ORGNS.OrganizationalUnit),
                (unit, SDO.name, Literal(profile.department)),
            ]
        if profile.location:
            place = URIRef(self.location_iri(profile.location))
            out += [
                (p, SDO.workLocation, place),
                (place, RDF.type, SDO.Place),
                (place, SDO.name, Literal(profile.location)),
            ]
        return out

    def put(self, profile: Profile, org_handle: str, *, previous: Profile | None = None) -> None:
        """Write *profile*, replacing whatever the graph held about that person."""
        self._drop(profile.id, previous, keep=profile)
        graph = self.graph
        triples = self._triples(profile, org_handle)
        # A shared node keeps the first label it was given ("Finance", not "finance").
        fresh = [
            t
            for t in triples
            if t[0] == URIRef(profile.id) or t[1] != SDO.name or (t[0], SDO.name, None) not in graph
        ]
        graph.addN((s, p, o, graph) for s, p, o in fresh)
        self.generation += 1

    def remove(self, person: str, previous: Profile | None) -> None:
        """Take the person out of the graph (and their department or location, if now empty)."""
        self._drop(person, previous, keep=None)
        self.generation += 1

    def _drop(self, person: str, previous: Profile | None, *, keep: Profile | None) -> None:
        subject = URIRef(person)
        self.graph.remove((subject, None, None))
        if previous is None:
            return
        for term, label, now in (
            (SDO.worksFor, previous.department, keep.department if keep else None),
            (SDO.workLocation, previous.location, keep.location if keep else None),
        ):
            if not label or (now and slug(now) == slug(label)):
                continue
            iri = URIRef(
                self.department_iri(label) if term == SDO.worksFor else self.location_iri(label)
            )
            if (None, term, iri) not in self.graph:
                self.graph.remove((iri, None, None))

    def entries(self) -> Iterator[Entry]:
        """Everyone in the graph (start-up: rebuild the search index and handles)."""
        store = self.store
        labels: dict[str, str] = {}
        name = ox.NamedNode(SCHEMA + "name")
        for quad in store.quads_for_pattern(None, name, None, ox.DefaultGraph()):
            labels[_value(quad.subject)] = _value(quad.object)
        people = {_value(q.subject) for q in store.quads_for_pattern(None, _TYPE, _PERSON)}
        current: str | None = None
        props: dict[str, list[str]] = {}
        for quad in store.quads_for_pattern(None, None, None, ox.DefaultGraph()):
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
        self.store.flush()
        self.store.backup(str(target))


def _value(term: Any) -> str:
    """The lexical value of a node (RDF-star triples never occur in the directory's graph)."""
    return str(getattr(term, "value", term))


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
        job_title=one(SCHEMA + "jobTitle"),
        department=label(SCHEMA + "worksFor"),
        location=label(SCHEMA + "workLocation"),
        telephone=one(SCHEMA + "telephone"),
        email=one(SCHEMA + "email"),
        knows_about=tuple(props.get(SCHEMA + "knowsAbout", ())),
        knows_language=tuple(props.get(SCHEMA + "knowsLanguage", ())),
        reports_to=one(ORG + "reportsTo"),
    )
    return Entry(profile, one(SCHEMA + "alternateName") or profile.handle)
