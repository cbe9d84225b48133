"""The read-only SPARQL endpoint: answers, formats, time-out, and every refusal.

Each refusal asserts that the store is unchanged and that no outbound request was made:
the SERVICE, LOAD and FROM targets are a recording peer on loopback (SECURITY.md row 14,
``test_sparql_rejects_service_from_update_load``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.directory.conftest import World, person_doc, push, sparql
from tests.node.rig import peers

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"])

S = "PREFIX schema: <http://schema.org/> "
#: The typical question: who knows about X in location Y?
EXPERTS = (
    S + 'SELECT ?person ?name WHERE { ?person schema:knowsAbout "python" ; '
    'schema:workLocation/schema:name "Utrecht" ; schema:name ?name } ORDER BY ?name'
)


async def _people(world: World) -> None:
    for node, name, full, place, topics in (
        (world.finance, "alice", "Alice Jansen", "Utrecht", ["python", "AVG"]),
        (world.finance, "bob", "Bob de Vries", "Zwolle", ["python"]),
        (world.hr, "carla", "Carla Çelik", "Utrecht", ["python", "arbo"]),
        (world.hr, "dirk", "Dirk Bakker", "Utrecht", ["werving"]),
    ):
        account, _ = await node.user(name)
        doc = await person_doc(
            node,
            name,
            name=full,
            **{
                "schema:workLocation": {"type": "schema:Place", "schema:name": place},
                "schema:knowsAbout": topics,
            },
        )
        assert (await push(world.directory, account, "Create", doc)).status == 202


def _names(body: str) -> list[str]:
    return [b["name"]["value"] for b in json.loads(body)["results"]["bindings"]]


async def test_sparql_answers_in_json_and_csv_over_get_and_post(world: World) -> None:
    await _people(world)
    status, kind, body = await sparql(world.directory, EXPERTS)
    assert status == 200 and kind.startswith("application/sparql-results+json")
    assert _names(body) == ["Alice Jansen", "Carla Çelik"]
    assert json.loads(body)["head"]["vars"] == ["person", "name"]
    for form in (False, True):
        status, _, body = await sparql(world.directory, EXPERTS, method="POST", form=form)
        assert status == 200 and _names(body) == ["Alice Jansen", "Carla Çelik"]
    status, kind, body = await sparql(world.directory, EXPERTS, accept="text/csv")
    assert status == 200 and kind.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["name"] for r in rows] == ["Alice Jansen", "Carla Çelik"]
    assert rows[0]["person"].endswith("/users/alice")
    status, _, body = await sparql(world.directory, S + 'ASK { ?p schema:knowsAbout "arbo" }')
    assert json.loads(body) == {"head": {}, "boolean": True}
    status, kind, body = await sparql(
        world.directory,
        S + 'CONSTRUCT { ?p schema:name ?n } WHERE { ?p schema:name ?n ; schema:knowsAbout "AVG" }',
        accept="text/turtle",
    )
    assert status == 200 and kind.startswith("text/turtle") and "Alice Jansen" in body


async def test_sparql_result_limit(world: World) -> None:
    """The world's directory answers at most 50 rows; the cut is said in a header."""
    await _people(world)
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{world.directory.base}/sparql",
            params={"query": "SELECT * WHERE { ?s ?p ?o }"},
        ) as response,
    ):
        body = json.loads(await response.read())
        assert response.status == 200
        assert response.headers["X-Kantine-Truncated"] == "true"
    assert len(body["results"]["bindings"]) == 50


async def test_a_query_that_never_ends_is_stopped(world: World) -> None:
    """Time-out → 503 with a message; the node and the endpoint keep answering."""
    await _people(world)
    endless = (
        "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . "
        "?m ?n2 ?o . ?q ?r ?s . ?t ?u ?v . ?w ?x ?y }"
    )
    began = time.monotonic()
    status, _, body = await sparql(world.directory, endless)
    assert status == 503
    assert "took too long" in json.loads(body)["error"]
    assert time.monotonic() - began < 30
    status, _, body = await sparql(world.directory, EXPERTS)
    assert status == 200 and _names(body) == ["Alice Jansen", "Carla Çelik"]


REFUSED: list[tuple[str, str]] = [
    ('INSERT DATA { <http://x/a> <http://x/b> "c" }', "SPARQL Update is not allowed"),
    ("DELETE WHERE { ?s ?p ?o }", "SPARQL Update is not allowed"),
    ("CLEAR DEFAULT", "SPARQL Update is not allowed"),
    ("LOAD <{peer}/data.ttl>", "LOAD is not allowed"),
    ("SELECT * WHERE { SERVICE <{peer}/sparql> { ?s ?p ?o } }", "SERVICE is not allowed"),
    ("SELECT * WHERE { \\u0053ERVICE <{peer}/sparql> { ?s ?p ?o } }", "SERVICE is not allowed"),
    ("SELECT * FROM <{peer}/graph.ttl> WHERE { ?s ?p ?o }", "FROM and FROM NAMED are not allowed"),
    ("SELECT * FROM NAMED <{peer}/g> WHERE { GRAPH ?g { ?s ?p ?o } }", "FROM and FROM NAMED"),
    ("PREFIX e: <http://e/> SELECT * WHERE { e:a\\# SERVICE <{peer}/s> { ?s ?p ?o } }", "SERVICE"),
]


async def _store_state(world: World) -> tuple[int, int, list[Any]]:
    service = world.service
    return (
        len(service.graph.graph),
        service.graph.generation,
        sorted(e.profile.id for e in service.everyone()),
    )


async def test_sparql_rejects_service_from_update_load(world: World) -> None:
    """Each refusal: 400 with the reason, the store unchanged, no outbound request at all."""
    await _people(world)
    before = await _store_state(world)
    async with peers() as make:
        peer = await make("127.0.0.64", "x")
        for template, reason in REFUSED:
            query = template.replace("{peer}", peer.base)
            for method, form in (("GET", False), ("POST", False), ("POST", True)):
                status, _, body = await sparql(world.directory, query, method=method, form=form)
                assert status == 400, (query, body)
                assert reason in json.loads(body)["error"], (query, body)
        # SPARQL Update sent the protocol's way is refused too.
        async with aiohttp.ClientSession() as http:
            for data, kind in (
                ({"update": "INSERT DATA { <http://x/a> <http://x/b> 1 }"}, None),
                ("INSERT DATA { <http://x/a> <http://x/b> 1 }", "application/sparql-update"),
            ):
                headers = {"Content-Type": kind} if kind else {}
                async with http.post(
                    f"{world.directory.base}/sparql", data=data, headers=headers
                ) as response:
                    assert response.status == 400
            async with http.get(
                f"{world.directory.base}/sparql",
                params={"query": "SELECT * WHERE { ?s ?p ?o }", "default-graph-uri": peer.base},
            ) as response:
                assert response.status == 400
        assert peer.seen == []
    assert await _store_state(world) == before


async def test_bad_queries_are_clear_errors(world: World) -> None:
    for query in ("SELEKT * WHERE { ?s ?p ?o }", "", 'SELECT * WHERE { ?s ?p "open }'):
        status, _, body = await sparql(world.directory, query)
        assert status == 400, body
        assert json.loads(body)["error"]
