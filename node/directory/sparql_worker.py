"""The SPARQL worker process: answers queries against a read-only snapshot of the graph.

Run as ``python -m node.directory.sparql_worker``; it reads requests from stdin and writes
answers to stdout, one frame each (a 4-byte length, then the bytes).  A request is JSON
``{"snapshot", "query", "format", "limit"}``; an answer is a JSON header frame
(``{"ok": true, "content_type", "truncated"}`` or ``{"ok": false, "error"}``) followed by
one body frame.  Queries run here, not in the node, so one that never ends can be
stopped by killing this process (the node stays responsive, SECURITY.md row 14).  It
imports only pyoxigraph, the standard library and modules of ours that import nothing
else, and re-checks every query with the same guard as the node.  Solutions are written
by Oxigraph, not term by term in Python (:func:`answer`): no Python object per row, so
no garbage collection in the middle of a query either.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import pyoxigraph as ox

from node.directory.sparql_guard import QueryRefused, check_query
from node.directory.sparql_rewrite import hash_join_form
from node.heap import settle_heap

__all__ = ["answer", "answer_in_python", "main", "read_frame", "write_frame"]

#: (content type, body, whether the answer was cut at the limit)
Answer = tuple[str, bytes, bool]

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


class _Full(Exception):
    """The answer has more rows than the limit (raised inside Oxigraph's serialiser)."""


class _Rows:
    """A binary writer for Oxigraph's TSV results that keeps the header line and the first
    *limit* rows, and stops the query at the row after that.

    TSV writes every solution on one line (tabs and line breaks in literals are escaped,
    IRIs and blank nodes hold none), so counting line breaks counts rows exactly, without
    one Python object per row or per term.
    """

    def __init__(self, limit: int) -> None:
        self._keep = limit + 1  # the header line, then the rows
        self._chunks: list[bytes] = []
        self._lines = 0
        self.full = False

    def write(self, data: bytes) -> int:
        if self.full:
            raise _Full
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._lines += chunk.count(b"\n")
        if self._lines > self._keep:
            self.full = True
            raise _Full
        return len(chunk)

    def take(self, result: ox.QuerySolutions) -> None:
        """Write *result* here, up to the row after the limit."""
        try:
            result.serialize(cast(BinaryIO, self), format=ox.QueryResultsFormat.TSV)
        except Exception:
            if not self.full:
                raise

    def flush(self) -> None:
        """Nothing to do: the chunks are kept in memory."""

    def tsv(self) -> bytes:
        """The header and at most *limit* rows, as TSV."""
        text = b"".join(self._chunks)
        if not self.full:
            return text
        rest = text.split(b"\n", self._keep)[-1]
        return text[: len(text) - len(rest)]


_RESULTS_FORMATS = {
    "csv": ("text/csv; charset=utf-8", ox.QueryResultsFormat.CSV),
    "json": ("application/sparql-results+json", ox.QueryResultsFormat.JSON),
}


def answer(store: ox.Store, query: str, fmt: str, limit: int) -> tuple[str, bytes, bool]:
    """Run *query*; (content type, body, whether the answer was cut at *limit*).

    Solutions are written by Oxigraph itself: as TSV, cut after *limit* rows (which stops
    the query there), then read back and written in the format asked for.  That is the
    same answer as building it term by term in Python (:func:`answer_in_python`, kept as
    the fallback and as the tests' reference) for a fraction of the CPU.
    """
    result = _run(store, query)
    if not isinstance(result, ox.QuerySolutions):
        return _boolean_or_graph(result, fmt, limit)
    if fmt == "csv" and len(result.variables) == 1:
        # Oxigraph writes an unbound value of the only column as an empty line, which CSV
        # readers skip; Python's writer writes "" (the answers before this writer did).
        return _solutions_in_python(result, fmt, limit)
    rows = _Rows(limit)
    rows.take(result)
    content_type, results_format = _RESULTS_FORMATS.get(fmt, _RESULTS_FORMATS["json"])
    try:
        solutions = ox.parse_query_results(rows.tsv(), format=ox.QueryResultsFormat.TSV)
        assert isinstance(solutions, ox.QuerySolutions)
        body = solutions.serialize(format=results_format)
    except (SyntaxError, ValueError):  # a term Oxigraph writes but does not read back
        return answer_in_python(store, query, fmt, limit)
    return content_type, body or b"", rows.full


def _run(store: ox.Store, query: str) -> ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples:
    checked = check_query(query)
    faster = hash_join_form(checked)
    try:
        return store.query(faster or checked)
    except SyntaxError:
        if faster is None:
            raise
        return store.query(checked)  # the rewrite is only ever an optimisation


def _boolean_or_graph(
    result: ox.QueryBoolean | ox.QueryTriples, fmt: str, limit: int
) -> tuple[str, bytes, bool]:
    if isinstance(result, ox.QueryBoolean):
        if fmt == "csv":
            return (
                "text/csv; charset=utf-8",
                f"boolean\r\n{str(bool(result)).lower()}\r\n".encode(),
                False,
            )
        body = {"head": {}, "boolean": bool(result)}
        return "application/sparql-results+json", json.dumps(body).encode(), False
    triples: list[Any] = []
    for triple in result:
        if len(triples) >= limit:
            return (*_graph(triples, fmt), True)
        triples.append(triple)
    return (*_graph(triples, fmt), False)


def answer_in_python(store: ox.Store, query: str, fmt: str, limit: int) -> tuple[str, bytes, bool]:
    """:func:`answer` with the solutions' JSON or CSV built term by term in Python."""
    result = _run(store, query)
    if not isinstance(result, ox.QuerySolutions):
        return _boolean_or_graph(result, fmt, limit)
    return _solutions_in_python(result, fmt, limit)


def _solutions_in_python(
    result: ox.QuerySolutions, fmt: str, limit: int
) -> tuple[str, bytes, bool]:
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


def main(
    write: Callable[[ox.Store, str, str, int], Answer] = answer, *, settle: bool = True
) -> None:
    """Serve requests on stdin/stdout until stdin closes.

    *write* and *settle* are for ``bench.directory``'s before-and-after only: the node's
    workers run with the defaults.
    """
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if settle:
        settle_heap()  # the imports' heap out of the collector's way, as `kantine serve` does
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
            content_type, body, truncated = write(
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
