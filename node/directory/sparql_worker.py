"""The SPARQL worker process: answers queries against a read-only snapshot of the graph.

Run as ``python -m node.directory.sparql_worker``; it reads requests from stdin and writes
answers to stdout, one frame each (a 4-byte length, then the bytes).  A request is JSON
``{"snapshot", "query", "format", "limit"}``; an answer is a JSON header frame
(``{"ok": true, "content_type", "truncated"}`` or ``{"ok": false, "error"}``) followed by
one body frame.  Queries run here, not in the node, so one that never ends can be
stopped by killing this process (the node stays responsive, SECURITY.md row 14).  It
imports only pyoxigraph and the standard library, and re-checks every query with the
same guard as the node.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import sys
import time
from typing import Any, BinaryIO

import pyoxigraph as ox

from node.directory.sparql_guard import QueryRefused, check_query
from node.directory.sparql_rewrite import hash_join_form

__all__ = ["answer", "main", "read_frame", "write_frame"]

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANG = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at the end of the stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    return stream.read(size)


def write_frame(stream: BinaryIO, data: bytes) -> None:
    """Write one frame."""
    stream.write(struct.pack(">I", len(data)) + data)


def _term_json(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value not in {_XSD_STRING, _RDF_LANG}:
            out["datatype"] = term.datatype.value
        return out
    return {"type": "literal", "value": str(term)}


def _term_csv(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return str(getattr(term, "value", term))


def answer(store: ox.Store, query: str, fmt: str, limit: int) -> tuple[str, bytes, bool]:
    """Run *query*; (content type, body, whether the answer was cut at *limit*)."""
    checked = check_query(query)
    faster = hash_join_form(checked)
    try:
        result = store.query(faster or checked)
    except SyntaxError:
        if faster is None:
            raise
        result = store.query(checked)  # the rewrite is only ever an optimisation
    if isinstance(result, ox.QueryBoolean):
        if fmt == "csv":
            return (
                "text/csv; charset=utf-8",
                f"boolean\r\n{str(bool(result)).lower()}\r\n".encode(),
                False,
            )
        body = {"head": {}, "boolean": bool(result)}
        return "application/sparql-results+json", json.dumps(body).encode(), False
    if isinstance(result, ox.QueryTriples):
        triples: list[Any] = []
        for triple in result:
            if len(triples) >= limit:
                return (*_graph(triples, fmt), True)
            triples.append(triple)
        return (*_graph(triples, fmt), False)
    names = [v.value for v in result.variables]
    rows: list[Any] = []
    truncated = False
    for solution in result:
        if len(rows) >= limit:
            truncated = True
            break
        rows.append([solution[name] for name in names])
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_term_csv(t) for t in row])
        return "text/csv; charset=utf-8", text.getvalue().encode(), truncated
    bindings = [
        {name: _term_json(t) for name, t in zip(names, row, strict=True) if t is not None}
        for row in rows
    ]
    body = {"head": {"vars": names}, "results": {"bindings": bindings}}
    return "application/sparql-results+json", json.dumps(body).encode(), truncated


def _graph(triples: list[Any], fmt: str) -> tuple[str, bytes]:
    if fmt == "turtle":
        turtle = ox.serialize(triples, format=ox.RdfFormat.TURTLE)
        return "text/turtle; charset=utf-8", turtle or b""
    ntriples = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    return "application/n-triples", ntriples or b""


def main() -> None:
    """Serve requests on stdin/stdout until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    store: ox.Store | None = None
    opened = ""
    while (frame := read_frame(stdin)) is not None:
        request = json.loads(frame)
        header: dict[str, Any]
        body = b""
        began = time.process_time()
        try:
            if request["snapshot"] != opened or store is None:
                store = None
                store = ox.Store.read_only(request["snapshot"])
                opened = request["snapshot"]
            content_type, body, truncated = answer(
                store, request["query"], request["format"], int(request["limit"])
            )
            header = {
                "ok": True,
                "content_type": content_type,
                "truncated": truncated,
                "cpu": time.process_time() - began,
            }
        except QueryRefused as exc:
            header = {"ok": False, "error": exc.reason}
        except SyntaxError as exc:
            header = {"ok": False, "error": f"the query is not valid SPARQL: {exc}"}
        except (OSError, ValueError, TypeError) as exc:
            header = {"ok": False, "error": f"the query failed: {exc}"}
        write_frame(stdout, json.dumps(header).encode())
        write_frame(stdout, body)
        stdout.flush()


if __name__ == "__main__":
    main()
