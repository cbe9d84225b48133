"""The SPARQL endpoint's star rewrite (``node.directory.sparql_rewrite``, issue 5 speed).

The rewrite is only an optimisation: for every query it takes, the answer must be the
same as the query's as written, duplicates and order included. Checked here against
Oxigraph itself on random graphs and random star queries; queries of any other shape must
be left alone.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyoxigraph as ox
import pytest

from node.directory.sparql_rewrite import hash_join_form
from node.directory.sparql_worker import answer

SCHEMA = "http://schema.org/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
S = f"PREFIX schema: <{SCHEMA}> "
TYPICAL = (
    S + 'SELECT ?person ?name WHERE { ?person schema:knowsAbout "python" ; '
    'schema:workLocation/schema:name "Utrecht" ; schema:name ?name }'
)


def test_the_typical_question_becomes_two_joined_sub_selects() -> None:
    rewritten = hash_join_form(TYPICAL)
    assert rewritten is not None
    assert rewritten.count("SELECT ?person WHERE") == 3  # the wrapper and the two conditions
    assert '{ SELECT ?person WHERE { ?person schema:knowsAbout "python" . } }' in rewritten
    # The name is looked up after the join, for the people found, not inside it.
    assert rewritten.endswith("?person schema:name ?name . }")
    # $x is ?x; ORDER BY, LIMIT and OFFSET are kept.
    ordered = hash_join_form(
        TYPICAL.replace("?person", "$person") + " ORDER BY DESC(?name) LIMIT 5"
    )
    assert ordered is not None and ordered.endswith("ORDER BY DESC(?name) LIMIT 5")


@pytest.mark.parametrize(
    "query",
    [
        S + 'SELECT * WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle "y" }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" }',  # one condition: nothing to join
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle ?t }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle "y" FILTER(?p) }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" OPTIONAL { ?p schema:jobTitle "y" } }',
        S + 'SELECT ?p WHERE { { ?p schema:knowsAbout "x" } UNION { ?p schema:jobTitle "y" } }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle "y" } GROUP BY ?p',
        S + 'SELECT (COUNT(*) AS ?n) WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle "y" }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:worksFor _:b }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:worksFor [ schema:name "y" ] }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle """y""" }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" ; schema:knows+ ?q . ?q schema:name "y" }',
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout "x" . ?q schema:jobTitle "y" }',  # no star
        S + 'SELECT ?p WHERE { ?p schema:jobTitle "y" ; schema:worksFor ?d . ?d schema:name "HR" } '
        "ORDER BY ?d",  # the order needs ?d outside: one condition left to join
        S + 'SELECT ?p WHERE { ?p schema:knowsAbout ?kantine_path1 ; schema:jobTitle "y" }',
        S + 'ASK { ?p schema:knowsAbout "x" ; schema:jobTitle "y" }',
        S
        + 'CONSTRUCT { ?p a schema:Person } WHERE { ?p schema:knowsAbout "x" ; schema:jobTitle "y" }',
        "SELECT ?p WHERE { ?p <http://schema.org/knowsAbout> 'x' ; <http://schema.org/jobTitle> ",
        "",
    ],
)
def test_other_shapes_run_as_written(query: str) -> None:
    assert hash_join_form(query) is None


TOPICS = ["python", "AVG", "subsidies", "arbo"]
PLACES = ["Utrecht", "Zwolle", "Utrecht"]  # two places share a name: more paths than people
DEPARTMENTS = ["Finance", "HR"]
TITLES = ["Adviseur", "Controller"]


def _graph(rng: random.Random) -> ox.Store:
    """People with zero or more topics, places, departments, titles and names."""
    store = ox.Store()
    schema = SCHEMA
    places = [ox.NamedNode(f"https://d.example/places/{i}") for i in range(len(PLACES))]
    for node, name in zip(places, PLACES, strict=True):
        store.add(ox.Quad(node, ox.NamedNode(schema + "name"), ox.Literal(name)))
    departments = [ox.NamedNode(f"https://d.example/departments/{d}") for d in DEPARTMENTS]
    for node, name in zip(departments, DEPARTMENTS, strict=True):
        store.add(ox.Quad(node, ox.NamedNode(schema + "name"), ox.Literal(name)))
        store.add(ox.Quad(node, ox.NamedNode(RDF_TYPE), ox.NamedNode(schema + "Organization")))
    for i in range(60):
        person = ox.NamedNode(f"https://d.example/people/{i}")

        def add(predicate: str, value: Any, person: ox.NamedNode = person) -> None:
            store.add(ox.Quad(person, ox.NamedNode(schema + predicate), value))

        store.add(
            ox.Quad(
                person,
                ox.NamedNode(RDF_TYPE),
                ox.NamedNode(schema + "Person"),
            )
        )
        for topic in rng.sample(TOPICS, rng.randint(0, 3)):
            add("knowsAbout", ox.Literal(topic))
        for place in rng.sample(places, rng.randint(0, 2)):
            add("workLocation", place)
        for department in rng.sample(departments, rng.randint(0, 1)):
            add("worksFor", department)
        add("jobTitle", ox.Literal(rng.choice(TITLES)))
        for n in range(rng.randint(1, 2)):
            add("name", ox.Literal(f"Person {i}" + (f" ({n})" if n else "")))
    return store


CONDITIONS: list[Callable[[random.Random], str]] = [
    lambda r: f'?p schema:knowsAbout "{r.choice(TOPICS)}"',
    lambda r: f'?p schema:workLocation/schema:name "{r.choice(PLACES)}"',
    lambda r: f'?p schema:worksFor ?dept . ?dept schema:name "{r.choice(DEPARTMENTS)}"',
    lambda r: "?p schema:worksFor ?dept . ?dept a schema:Organization",
    lambda r: f'?p schema:jobTitle "{r.choice(TITLES)}"',
    lambda r: "?p a schema:Person",
    lambda r: f'?p schema:knowsAbout "{r.choice(TOPICS)}", "{r.choice(TOPICS)}"',
    lambda r: "?p schema:knowsAbout ?topic",  # no constant: stays outside
    lambda r: "?p schema:workLocation ?place ; schema:jobTitle ?title",
]


def _query(rng: random.Random) -> str:
    parts = [f(rng) for f in rng.sample(CONDITIONS, rng.randint(2, 5))]
    parts.append("?p schema:name ?name")
    rng.shuffle(parts)
    shown = rng.choice(["?p ?name", "?name", "?p", "?p ?name ?topic", "?place ?p", "?dept ?p"])
    head = "SELECT " + ("DISTINCT " if rng.random() < 0.3 else "") + shown
    tail = rng.choice(["", " ORDER BY ?name", " ORDER BY DESC(?p) ?name", " ORDER BY ?dept"])
    return S + head + " WHERE { " + " . ".join(parts) + " }" + tail


def _rows(store: ox.Store, query: str) -> tuple[list[str], list[tuple[str, ...]]]:
    result = store.query(query)
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    return names, [tuple(str(solution[n]) for n in names) for solution in result]


def test_rewritten_queries_answer_exactly_as_written_on_random_graphs() -> None:
    rng = random.Random(2026)
    rewritten = 0
    for _ in range(8):
        store = _graph(rng)
        departments = {
            str(q.subject): str(q.object)
            for q in store.quads_for_pattern(None, ox.NamedNode(SCHEMA + "worksFor"), None)
        }
        for _ in range(40):
            query = _query(rng)
            faster = hash_join_form(query)
            if faster is None:
                continue
            rewritten += 1
            names, written = _rows(store, query)
            fast_names, fast = _rows(store, faster)
            assert fast_names == names
            assert Counter(fast) == Counter(written), (query, faster)
            if query.endswith("ORDER BY ?name") and "name" in names:
                # Rows with equal names may come in any order; the names may not.
                at = names.index("name")
                assert [r[at] for r in fast] == [r[at] for r in written], query
            if query.endswith("ORDER BY ?dept") and "?dept a " in query and "p" in names:
                # Ordered by a variable that is not shown: the people's departments must
                # still come in order (each person has one at most).
                at = names.index("p")
                assert [departments.get(r[at]) for r in fast] == [
                    departments.get(r[at]) for r in written
                ], (query, faster)
    assert rewritten > 150  # most random stars have two or more constant conditions


def test_the_worker_answers_the_typical_question_the_same_either_way() -> None:
    store = _graph(random.Random(5))
    # The bench's question, in the graph's words.
    query = TYPICAL.replace('"python"', '"AVG"')
    _, body, truncated = answer(store, query, "json", 1000)
    assert not truncated
    _, unchanged, _ = answer(
        store,
        query.replace("WHERE {", "WHERE { FILTER(true)"),  # a shape the rewrite leaves alone
        "json",
        1000,
    )
    assert hash_join_form(query.replace("WHERE {", "WHERE { FILTER(true)")) is None

    def people(body: bytes) -> Counter[str]:
        return Counter(
            json.dumps(b, sort_keys=True) for b in json.loads(body)["results"]["bindings"]
        )

    assert people(body) == people(unchanged) and len(people(body)) > 0
