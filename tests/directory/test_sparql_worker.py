"""The SPARQL worker's answers, written by Oxigraph (``node.directory.sparql_worker``).

The worker writes solutions natively (TSV cut at the result limit, read back, written as
JSON or CSV) instead of term by term in Python (issue 5 speed). The answer must be the
one the Python writer gave: the same JSON, the same CSV bytes, the same rows in the same
order, and the same cut at the limit with the same ``truncated`` flag.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pyoxigraph as ox
import pytest

from node.directory.sparql_worker import _Rows, answer, answer_in_python

EX = "http://example.org/"
XSD = "http://www.w3.org/2001/XMLSchema#"
P = f"PREFIX ex: <{EX}> PREFIX schema: <http://schema.org/> "

#: Values of every kind a query can bind: IRIs, blank nodes, plain, language-tagged and
#: typed literals, numbers, and strings that need escaping or quoting in TSV and CSV.
ODD_STRINGS = [
    "plain",
    "",
    " leading and trailing ",
    "tab\there",
    "line\nbreak",
    "carriage\rreturn\r\n",
    'quote " inside',
    "comma, inside",
    "back\\slash",
    "é ø Çelik 𝄞",
    "<not an iri>",
    "_:not_a_blank_node",
    "#",
    "\u0000 and \u007f",
]


def _literal_sparql(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid SPARQL string


def _store() -> ox.Store:
    store = ox.Store()
    rows = []
    for i, value in enumerate(ODD_STRINGS):
        rows.append(f"ex:s{i} ex:text {_literal_sparql(value)} .")
    rows += [
        'ex:s0 ex:value "hi"@en-gb, "hallo"@nl, "x"^^ex:kind, 42, 1.5, 1.0e3, true .',
        f'ex:s0 ex:value "2026-11-26"^^<{XSD}date>, "-0"^^<{XSD}integer> .',
        'ex:s0 ex:link _:b1 . _:b1 ex:text "in a blank node" ; ex:link _:b2 .',
        "ex:s1 ex:link ex:s2 .",
    ]
    store.update(P + "INSERT DATA { " + " ".join(rows) + " }")
    return store


QUERIES = [
    P + "SELECT ?s ?o WHERE { ?s ex:text ?o } ORDER BY ?o ?s",
    P + "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o",
    P + "SELECT ?o ?s WHERE { ex:s0 ex:value ?o OPTIONAL { ?s ex:link ?o } } ORDER BY STR(?o)",
    P + "SELECT ?x WHERE { ?s ex:text ?o }",  # one unbound variable: empty lines in TSV
    P + "SELECT ?x ?y WHERE { ?s ex:text ?o }",
    "SELECT * WHERE { }",  # no variable at all, one row
    "SELECT * WHERE { FILTER(false) }",  # no variable, no row
    "SELECT * WHERE { VALUES ?x { 1 2 } }",
    P + "SELECT ?s WHERE { ?s ex:nothing ?o }",  # no row
    P + "SELECT ?b ?t WHERE { ex:s0 ex:link ?b . ?b ex:text ?t }",
    P + "SELECT DISTINCT ?p WHERE { ?s ?p ?o } ORDER BY DESC(?p)",
    P + "SELECT (COUNT(*) AS ?n) (SUM(1) AS ?m) WHERE { ?s ?p ?o }",
    P + 'SELECT ?s (CONCAT(?o, "\\t!") AS ?c) (LANG(?o) AS ?l) WHERE { ?s ?p ?o } ORDER BY ?s ?c',
    P + "SELECT ?s ?o WHERE { ?s ex:text ?o } ORDER BY ?o LIMIT 3 OFFSET 2",
]


def _same(store: ox.Store, query: str, fmt: str, limit: int) -> tuple[str, bytes, bool]:
    """The native answer, checked against the Python writer's."""
    fast = answer(store, query, fmt, limit)
    reference = answer_in_python(store, query, fmt, limit)
    assert fast[0] == reference[0] and fast[2] == reference[2], (query, fmt, limit)
    if fmt == "csv":
        assert fast[1] == reference[1], (query, fast[1][:300], reference[1][:300])
    else:
        # The same JSON document (the Python writer escaped non-ASCII and put spaces
        # after separators; the rows, their order, and every term are the same).
        assert json.loads(fast[1]) == json.loads(reference[1]), query
    return fast


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("fmt", ["json", "csv", "turtle"])
def test_the_native_answer_is_the_python_writers(query: str, fmt: str) -> None:
    store = _store()
    full = _same(store, query, fmt, 10_000)
    assert not full[2]
    if fmt != "csv":
        assert full[0] == "application/sparql-results+json"  # a SELECT never answers Turtle


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_cut_at_the_limit_is_exact(fmt: str) -> None:
    """At the limit: everything, not truncated; one over: the first *limit* rows, truncated."""
    store = _store()
    query = P + "SELECT ?s ?o WHERE { ?s ex:text ?o } ORDER BY ?o"
    count = len(ODD_STRINGS) + 1  # and the blank node's text
    for limit in (0, 1, 2, count - 1, count, count + 1):
        _, body, truncated = _same(store, query, fmt, limit)
        assert truncated == (limit < count), limit
        if fmt == "json":
            assert len(json.loads(body)["results"]["bindings"]) == min(limit, count)
    # Rows whose values hold line breaks are still counted one each (TSV escapes them).
    _, body, truncated = _same(
        store, P + "SELECT ?o WHERE { ?s ex:text ?o } ORDER BY ?o", "json", 5
    )
    assert truncated and len(json.loads(body)["results"]["bindings"]) == 5


def test_a_huge_answer_stops_at_the_limit() -> None:
    """The TSV writer stops the query once a row past the limit is written: four million
    rows are asked for, a few kilobytes are written."""
    store = ox.Store()
    store.update(P + "INSERT DATA { " + " ".join(f"ex:s{i} ex:n {i} ." for i in range(2000)) + " }")
    huge = P + "SELECT ?a ?b WHERE { ?a ex:n ?x . ?b ex:n ?y }"
    rows = _Rows(10)
    result = store.query(huge)
    assert isinstance(result, ox.QuerySolutions)
    rows.take(result)
    assert rows.full
    assert rows.tsv().count(b"\n") == 11  # the header and ten rows
    assert len(rows.tsv()) < 2_000
    _, body, truncated = answer(store, huge, "json", 10)
    assert truncated and len(json.loads(body)["results"]["bindings"]) == 10


def test_an_answer_oxigraph_cannot_read_back_is_written_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _store()

    def refuse(*_: Any, **__: Any) -> Any:
        raise SyntaxError("no")

    expected = answer(store, QUERIES[0], "json", 5)
    monkeypatch.setattr(ox, "parse_query_results", refuse)
    assert answer(store, QUERIES[0], "json", 5) == answer_in_python(store, QUERIES[0], "json", 5)
    assert json.loads(expected[1]) == json.loads(answer(store, QUERIES[0], "json", 5)[1])


def test_random_graphs_and_limits_give_the_same_answers() -> None:
    """Random literals (any character) and random limits: both writers agree."""
    rng = random.Random(26)
    alphabet = "ab \t\n\r\",;\\'<>_:#é𝄞\u2028"
    for _ in range(20):
        store = ox.Store()
        triples = []
        for i in range(rng.randrange(0, 40)):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
            lang = rng.choice(["", "@nl", "@en-us"])
            triples.append(f"ex:s{i % 7} ex:p{i % 3} {_literal_sparql(text)}{lang} .")
        if triples:
            store.update(P + "INSERT DATA { " + " ".join(triples) + " }")
        for query in (
            P + "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o",
            P + "SELECT ?o WHERE { ?s ex:p1 ?o OPTIONAL { ?s ex:p2 ?x } } ORDER BY ?o",
        ):
            limit = rng.randrange(0, 45)
            for fmt in ("json", "csv"):
                _same(store, query, fmt, limit)


def test_typed_literals_of_any_lexical_form_read_back_the_same() -> None:
    """TSV writes some numbers and booleans bare (``1``, ``1.5``, ``true``): every datatype
    with valid, odd and invalid lexical forms, and odd IRIs and tags, come back unchanged."""
    store = ox.Store()
    forms = ["+5", "5.", ".5", "1e5", "NaN", "INF", "-INF", "abc", "01", " 7 ", "-.5e-3", "true"]
    kinds = ["integer", "decimal", "double", "float", "boolean", "int", "string", "dateTime"]
    triples = " ".join(
        f"ex:s ex:p {_literal_sparql(form)}^^<{XSD}{kind}> ." for form in forms for kind in kinds
    )
    store.update(
        P + "INSERT DATA { " + triples + ' ex:s ex:p "x"@en-Latn-NL, "y"^^<http://e/a%20b>, '
        '<http://e/ü?q=1#f>, "\\u0001\\u001f\\u007f\\ufeff" . }'
    )
    query = P + "SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY ?o"
    _same(store, query, "csv", 10_000)
    _, body, _ = _same(store, query, "json", 10_000)
    assert len(json.loads(body)["results"]["bindings"]) > 80
