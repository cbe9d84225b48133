"""What people and tools read from the directory: exports, the search API and the pages."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import aiohttp
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import Namespace
from sqlalchemy import select

from activitypub.keys import load_private_key
from activitypub.signatures import sign_request
from node.db.models import Account
from node.services.statuses import post_status
from tests.directory.conftest import World, person_doc, push

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"])

SDO = Namespace("http://schema.org/")


async def _get(url: str, **headers: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def _org(world: World) -> dict[str, Account]:
    """Carol (head of Finance) with Alice and Bob reporting to her; Dirk on HR."""
    people: dict[str, Account] = {}
    for node, name in (
        (world.finance, "carol"),
        (world.finance, "alice"),
        (world.finance, "bob"),
        (world.hr, "dirk"),
    ):
        people[name], _ = await node.user(name)
    carol = people["carol"].uri
    specs: list[tuple[str, Any, dict[str, Any]]] = [
        ("carol", world.finance, {"name": "Carol Smit", "schema:jobTitle": "Hoofd Financiën"}),
        (
            "alice",
            world.finance,
            {
                "name": "José Álvarez",
                "schema:jobTitle": "Controller",
                "org:reportsTo": {"id": carol},
            },
        ),
        (
            "bob",
            world.finance,
            {
                "name": "Bob <b>de</b> Vries",
                "schema:jobTitle": "Analist",
                "org:reportsTo": {"id": carol},
            },
        ),
        ("dirk", world.hr, {"name": "Dirk Bakker", "schema:jobTitle": "Recruiter"}),
    ]
    for name, node, extra in specs:
        department = "Finance" if node is world.finance else "HR"
        doc = await person_doc(
            node,
            name,
            **{
                "schema:worksFor": {"type": "schema:Organization", "schema:name": department},
                "schema:workLocation": {"type": "schema:Place", "schema:name": "Utrecht"},
                "schema:knowsAbout": ["python", "subsidieaanvragen"],
                "schema:telephone": "+31 30 123 4567",
                **extra,
            },
        )
        assert (await push(world.directory, people[name], "Create", doc)).status == 202
    return people


async def test_exports_parse_back(world: World) -> None:
    """JSON-LD and Turtle parse with rdflib, CSV with csv, vCard line by line; one or all."""
    people = await _org(world)
    base = world.directory.base
    alice = people["alice"].uri
    for kind, fmt in (("ttl", "turtle"), ("jsonld", "json-ld")):
        status, _, body = await _get(f"{base}/directory/export.{kind}")
        assert status == 200
        graph = Graph().parse(data=body, format=fmt)
        assert len(set(graph.subjects(SDO.name, None))) >= 4
        assert (URIRef(alice), SDO.jobTitle, Literal("Controller")) in graph
        assert (
            URIRef(alice),
            URIRef("http://www.w3.org/ns/org#reportsTo"),
            URIRef(people["carol"].uri),
        ) in graph
        status, _, body = await _get(f"{base}/directory/people/export.{kind}?id={quote(alice)}")
        one = Graph().parse(data=body, format=fmt)
        assert set(one.subjects(SDO.jobTitle, None)) == {URIRef(alice)}
    status, kind, body = await _get(f"{base}/directory/export.csv")
    assert status == 200 and kind.startswith("text/csv")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(body))}
    assert len(rows) == 4
    assert rows[alice]["name"] == "José Álvarez"
    assert rows[alice]["org_handle"] == f"alice@{world.directory.domain}"
    assert rows[alice]["expertise"] == "python; subsidieaanvragen"
    status, kind, body = await _get(f"{base}/directory/people/export.vcf?id={quote(alice)}")
    assert status == 200 and kind.startswith("text/vcard")
    lines = body.split("\r\n")
    assert lines[0] == "BEGIN:VCARD" and "VERSION:4.0" in lines and "END:VCARD" in lines
    assert "FN:José Álvarez" in lines and "TITLE:Controller" in lines
    assert "NOTE:python\\, subsidieaanvragen" in lines
    status, _, body = await _get(f"{base}/directory/export.vcf")
    assert body.count("BEGIN:VCARD") == 4
    assert (await _get(f"{base}/directory/people/export.csv?id=nobody"))[0] == 404


async def test_search_api_for_department_nodes(world: World) -> None:
    """Signed GET from an allowlisted node (contract §3); unsigned is refused."""
    people = await _org(world)
    url = f"{world.directory.base}/directory/api/search?q=jose&limit=5"
    assert (await _get(url))[0] == 401
    # Signed as HR's instance actor, the way a department node asks.
    hr = world.hr.ctx
    async with hr.sessions() as session:
        instance = (
            await session.execute(select(Account).where(Account.uri == hr.urls.instance_actor))
        ).scalar_one()
    assert instance.private_key_pem is not None
    headers = sign_request(
        method="GET",
        url=url,
        key_id=instance.public_key_id,
        private_key=load_private_key(instance.private_key_pem),
    )
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200
        results = json.loads(await response.read())["results"]
    assert [r["id"] for r in results] == [people["alice"].uri]
    hit = results[0]
    assert hit["handle"] == f"alice@{world.finance.domain}"
    assert hit["org_handle"] == f"alice@{world.directory.domain}"
    assert hit["department"] == "Finance" and hit["location"] == "Utrecht"
    assert hit["jobTitle"] == "Controller" and hit["knowsAbout"] == ["python", "subsidieaanvragen"]
    assert set(hit) >= {"name", "icon", "url", "score"}


async def test_pages_in_dutch_and_english(world: World) -> None:
    """Search, person (with posts from her node), department, location and org chart pages."""
    people = await _org(world)
    base = world.directory.base
    finance = world.finance.ctx
    async with finance.sessions() as session, session.begin():
        alice = await session.get(Account, people["alice"].id)
        assert alice is not None
        await post_status(
            finance,
            session,
            alice,
            text="Nieuwe subsidieregeling gepubliceerd",
            visibility="public",
        )
    await world.finance.settle()

    status, kind, html = await _get(f"{base}/directory?q=jose", **{"Accept-Language": "nl"})
    assert status == 200 and kind.startswith("text/html")
    assert "José Álvarez" in html and "Zoeken" in html
    status, _, html = await _get(f"{base}/directory?q=alvares&lang=en")
    assert "José Álvarez" in html and "Search" in html
    status, _, html = await _get(f"{base}/directory?q=qqqqzzz&lang=en")
    assert "Nobody found." in html
    # HTML in a name arrives as text, escaped again on the page.
    status, _, html = await _get(f"{base}/directory?q=vries")
    assert "Bob de Vries" in html and "<b>de</b>" not in html

    status, _, html = await _get(f"{base}/directory/people?id={quote(people['alice'].uri)}&lang=en")
    assert status == 200
    assert "José Álvarez" in html and "Controller" in html and "Carol Smit" in html
    assert "Nieuwe subsidieregeling gepubliceerd" in html  # fetched from Finance, signed
    assert f"alice@{world.directory.domain}" in html
    status, _, html = await _get(f"{base}/directory/people?id={quote(people['carol'].uri)}&lang=nl")
    assert "Medewerkers" in html and "José Álvarez" in html and "Bob de Vries" in html
    assert (await _get(f"{base}/directory/people?id=http://nowhere/x"))[0] == 404

    status, _, html = await _get(f"{base}/directory/departments?lang=en")
    assert "Finance" in html and "HR" in html
    status, _, html = await _get(f"{base}/directory/departments/finance")
    assert status == 200 and "Carol Smit" in html and "Dirk Bakker" not in html
    status, _, html = await _get(f"{base}/directory/locations/utrecht")
    assert status == 200 and "Dirk Bakker" in html and "Carol Smit" in html
    assert (await _get(f"{base}/directory/departments/nope"))[0] == 404

    status, kind, svg = await _get(f"{base}/directory/orgchart.svg?department=finance")
    assert status == 200 and kind.startswith("image/svg+xml")
    tree = ElementTree.fromstring(svg)  # noqa: S314 (our own SVG)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(tree.findall(f".//{ns}rect")) == 3
    assert len(tree.findall(f".//{ns}path")) == 2  # Carol → Alice, Carol → Bob
    status, _, svg = await _get(f"{base}/directory/orgchart.svg")
    assert len(ElementTree.fromstring(svg).findall(f".//{ns}rect")) == 4  # noqa: S314
    status, _, html = await _get(f"{base}/directory/orgchart?department=finance&lang=en")
    assert status == 200 and "<svg" in html and "Org chart" in html
