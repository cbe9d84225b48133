"""Exports of the who-is-who: JSON-LD and Turtle (through rdflib), CSV and vCard 4.0.

One person or everyone.  JSON-LD and Turtle are the graph itself (a person's own
triples plus their department and location nodes); CSV has one row per person with a
fixed header; vCard follows RFC 6350 (``FN``, ``N``, ``TITLE``, ``ORG``, ``TEL``,
``EMAIL``, ``URL``, ``PHOTO``, ``NOTE`` for expertise, ``LANG``, ``IMPP`` for the handle),
with text escaped and lines folded at 75 octets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from rdflib import XSD, Graph, Literal, URIRef

from node.directory.graph import DirectoryGraph, Entry
from node.directory.profiles import AS, ORG, SCHEMA, VCARD

__all__ = ["CSV_COLUMNS", "FORMATS", "export"]

#: Export name → (content type, file suffix).
FORMATS: dict[str, tuple[str, str]] = {
    "jsonld": ("application/ld+json", "jsonld"),
    "ttl": ("text/turtle; charset=utf-8", "ttl"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "vcf": ("text/vcard; charset=utf-8", "vcf"),
}

CSV_COLUMNS = (
    "id",
    "handle",
    "org_handle",
    "name",
    "job_title",
    "department",
    "location",
    "telephone",
    "email",
    "expertise",
    "languages",
    "manager",
    "url",
    "photo",
)

_CONTEXT = {"schema": SCHEMA, "org": ORG, "as": AS, "vcard": VCARD}


def _plain(triple: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """Oxigraph returns simple literals as ``xsd:string``; write them as plain literals."""
    s, p, o = triple
    if isinstance(o, Literal) and o.datatype == XSD.string:
        o = Literal(str(o))
    return s, p, o


def _subgraph(graph: DirectoryGraph, people: Iterable[str] | None) -> Graph:
    """The people's triples and their departments' and locations' (everyone for None)."""
    out = Graph()
    for prefix, ns in _CONTEXT.items():
        out.bind(prefix, ns)
    if people is None:
        for triple in graph.graph.triples((None, None, None)):
            out.add(_plain(triple))
        return out
    nodes: set[Any] = set()
    for person in people:
        for triple in graph.graph.triples((URIRef(person), None, None)):
            out.add(_plain(triple))
            if str(triple[1]) in {SCHEMA + "worksFor", SCHEMA + "workLocation"}:
                nodes.add(triple[2])
    for node in nodes:
        for triple in graph.graph.triples((node, None, None)):
            out.add(_plain(triple))
    return out


def _csv(entries: Iterable[Entry]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        p = entry.profile
        writer.writerow(
            [
                p.id,
                p.handle,
                entry.org_handle,
                p.name,
                p.job_title or "",
                p.department or "",
                p.location or "",
                p.telephone or "",
                p.email or "",
                "; ".join(p.knows_about),
                "; ".join(p.knows_language),
                p.reports_to or "",
                p.url or "",
                p.icon or "",
            ]
        )
    return text.getvalue()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _fold(line: str) -> str:
    """RFC 6350 §3.2: lines longer than 75 octets continue on the next with a space."""
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > 75:
            out.append(current.decode())
            current = b" "
        current += encoded
    out.append(current.decode())
    return "\r\n".join(out)


def _vcard(entry: Entry) -> str:
    p = entry.profile
    parts = p.name.rsplit(" ", 1)
    family, given = (parts[1], parts[0]) if len(parts) == 2 else (p.name, "")
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        f"UID:{p.id}",
        f"FN:{_escape(p.name)}",
        f"N:{_escape(family)};{_escape(given)};;;",
        f"NICKNAME:{_escape(entry.org_handle)}",
    ]
    if p.job_title:
        lines.append(f"TITLE:{_escape(p.job_title)}")
    if p.department:
        lines.append(f"ORG:{_escape(p.department)}")
    if p.location:
        lines.append(f"ADR;TYPE=work:;;;{_escape(p.location)};;;")
    if p.telephone:
        lines.append(f"TEL;TYPE=work,voice;VALUE=uri:tel:{p.telephone.replace(' ', '-')}")
    if p.email:
        lines.append(f"EMAIL;TYPE=work:{_escape(p.email)}")
    if p.url:
        lines.append(f"URL:{p.url}")
    if p.icon:
        lines.append(f"PHOTO:{p.icon}")
    lines += [f"LANG:{_escape(lang)}" for lang in p.knows_language]
    if p.knows_about:
        lines.append(f"NOTE:{_escape(', '.join(p.knows_about))}")
    if p.reports_to:
        lines.append(f"RELATED;TYPE=colleague:{p.reports_to}")
    lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)


def export(graph: DirectoryGraph, entries: list[Entry], kind: str, *, everyone: bool) -> str:
    """*entries* in export format *kind* (a key of :data:`FORMATS`); *everyone*: the whole graph."""
    if kind == "csv":
        return _csv(entries)
    if kind == "vcf":
        return "".join(_vcard(e) for e in entries)
    sub = _subgraph(graph, None if everyone else [e.profile.id for e in entries])
    if kind == "ttl":
        return sub.serialize(format="turtle")
    return sub.serialize(format="json-ld", context=_CONTEXT, auto_compact=True)
