"""Issue 5 as people and peers meet it: fill in, find, move and leave (department nodes on
SQLite and PostgreSQL).

Alice and her manager Carol fill in their profiles from a Mastodon app on Finance (profile
fields and ``update_credentials`` parameters). Colleagues find Alice from both department
nodes, in a Mastodon app and on the node's own search page; Henk on HR follows her. She moves
to another department: the directory's department pages, org chart and exports follow. She
leaves: the directory, its exports, its org chart, SPARQL, the org-wide handle and the HR
node all forget her.
"""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote
from xml.etree import ElementTree

import aiohttp
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import Namespace

from node.db.models import Account
from node.services.profile import remove_person
from tests.conftest import Node
from tests.directory.conftest import World, sparql
from tests.mastodon.conftest import call, client, raw
from tests.web.conftest import PASSWORD, Browser

SDO = Namespace("http://schema.org/")
SVG = "{http://www.w3.org/2000/svg}"


async def _settle(world: World) -> None:
    for _ in range(3):
        for node in (world.finance, world.hr, world.directory):
            await node.settle()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def _web_search(node: Node, username: str, q: str) -> str:
    """The node's own search page, signed in as *username*."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = Browser(node, http)
        assert (await browser.login(username)).status == 303
        return await browser.page(f"/search?q={quote(q)}")


def _boxes(svg: str) -> list[str]:
    """The names drawn in an org chart."""
    tree = ElementTree.fromstring(svg)  # noqa: S314 (our own SVG)
    return sorted(
        (text.text or "") for text in tree.iter(f"{SVG}text") if text.get("class") != "job"
    )


async def test_fill_in_find_move_and_leave(world: World) -> None:
    finance, hr, directory = world.finance, world.hr, world.directory
    alice, alice_token = await finance.user("alice", password=PASSWORD)
    carol, carol_token = await finance.user("carol", password=PASSWORD)
    _henk, henk_token = await hr.user("henk", password=PASSWORD)
    _dirk, dirk_token = await hr.user("dirk", password=PASSWORD)

    # Profiles from Mastodon apps: profile fields, and the API's own parameters.
    await call(
        client(finance, carol_token).account_update_credentials,
        display_name="Carol Smit",
        fields=[("Functie", "Hoofd Financiën"), ("Locatie", "Utrecht")],
    )
    await call(
        client(finance, alice_token).account_update_credentials,
        display_name="José Álvarez",
        fields=[
            ("Functie", "Controller"),
            ("Locatie", "Utrecht"),
            ("Expertise", "subsidieaanvragen, python"),
            ("Voornaamwoorden", "hij/hem"),
        ],
    )
    status, _ = await raw(
        finance,
        "PATCH",
        "/api/v1/accounts/update_credentials",
        alice_token,
        data={"manager": "carol"},
    )
    assert status == 200
    await call(
        client(hr, dirk_token).account_update_credentials,
        display_name="Dirk Bakker",
        fields=[("Functie", "Recruiter"), ("Expertise", "werving, python")],
    )
    await _settle(world)
    entry = world.service.get(alice.uri)
    assert entry is not None and entry.profile.reports_to == carol.uri

    # Found from both department nodes, in an app and on the web, typo- and accent-blind.
    henk = client(hr, henk_token)
    found = await call(henk.search_v2, "alvarz", result_type="accounts")
    assert [a.acct for a in found.accounts] == [f"alice@{finance.domain}"]
    assert ("Functie", "Controller") in [(f.name, f.value) for f in found.accounts[0].fields]
    found = await call(client(finance, carol_token).search_v2, "werving", result_type="accounts")
    assert [a.acct for a in found.accounts] == [f"dirk@{hr.domain}"]
    html = await _web_search(hr, "henk", "Jose")
    assert f"@alice@{finance.domain}" in html and "José Álvarez" in html
    assert f'href="{directory.base}/directory"' in html  # on to the who is who
    html = await _web_search(finance, "carol", "werving")
    assert f"@dirk@{hr.domain}" in html and "Dirk Bakker" in html
    # The organisation-wide handle, typed into the web search, leads to her on Finance.
    html = await _web_search(hr, "henk", f"alice@{directory.domain}")
    assert f"@alice@{finance.domain}" in html
    # Henk follows her from the app (Finance accepts: her account is not locked).
    await call(
        henk.account_follow, found_id := (await call(henk.search_v2, "alvarz")).accounts[0].id
    )
    await _settle(world)
    assert (await call(henk.account_relationships, found_id))[0].following

    # Alice moves to Sociaal Domein: pages, org charts and exports follow.
    await call(
        client(finance, alice_token).account_update_credentials,
        fields=[
            ("Functie", "Controller"),
            ("Afdeling", "Sociaal Domein"),
            ("Locatie", "Utrecht"),
            ("Expertise", "subsidieaanvragen, python"),
            ("Voornaamwoorden", "hij/hem"),
        ],
    )
    await _settle(world)
    base = directory.base
    status, html = await _get(f"{base}/directory/departments/finance?lang=en")
    assert status == 200 and "Carol Smit" in html and "José Álvarez" not in html
    status, html = await _get(f"{base}/directory/departments/sociaal-domein?lang=en")
    assert status == 200 and "José Álvarez" in html
    status, svg = await _get(f"{base}/directory/orgchart.svg?department=finance")
    assert _boxes(svg) == ["Carol Smit"]
    status, svg = await _get(f"{base}/directory/orgchart.svg?department=sociaal-domein")
    assert _boxes(svg) == ["José Álvarez"]
    status, svg = await _get(f"{base}/directory/orgchart.svg")
    assert _boxes(svg) == ["Carol Smit", "Dirk Bakker", "José Álvarez"]
    assert len(ElementTree.fromstring(svg).findall(f".//{SVG}path")) == 1  # noqa: S314
    one = f"id={quote(alice.uri, safe='')}"
    status, body = await _get(f"{base}/directory/people/export.csv?{one}")
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert (row["name"], row["department"], row["location"]) == (
        "José Álvarez",
        "Sociaal Domein",
        "Utrecht",
    )
    status, body = await _get(f"{base}/directory/people/export.vcf?{one}")
    lines = body.split("\r\n")
    assert "ORG:Sociaal Domein" in lines and "FN:José Álvarez" in lines
    status, body = await _get(f"{base}/directory/people/export.jsonld?{one}")
    graph = Graph().parse(data=body, format="json-ld")
    assert (URIRef(alice.uri), SDO.jobTitle, Literal("Controller")) in graph
    assert (
        URIRef(alice.uri),
        URIRef("http://www.w3.org/ns/org#reportsTo"),
        URIRef(carol.uri),
    ) in graph
    status, _, body = await sparql(
        directory,
        "PREFIX schema: <http://schema.org/> SELECT ?n WHERE { ?p schema:worksFor/schema:name "
        '"Sociaal Domein" ; schema:name ?n }',
    )
    assert [b["n"]["value"] for b in json.loads(body)["results"]["bindings"]] == ["José Álvarez"]

    # Alice leaves (kantine users delete): gone from the directory and from HR.
    async with finance.ctx.sessions() as session, session.begin():
        leaving = await session.get(Account, alice.id)
        assert leaving is not None
        await remove_person(finance.ctx, session, leaving)
    await _settle(world)
    assert world.service.get(alice.uri) is None
    assert (await _get(f"{base}/directory/people?{one}"))[0] == 404
    assert (await _get(f"{base}/directory/people/export.csv?{one}"))[0] == 404
    status, body = await _get(f"{base}/directory/export.csv")
    assert alice.uri not in body and "Carol Smit" in body
    status, svg = await _get(f"{base}/directory/orgchart.svg")
    assert _boxes(svg) == ["Carol Smit", "Dirk Bakker"]
    assert (await _get(f"{base}/directory/departments/sociaal-domein"))[0] == 404
    status, _, body = await sparql(directory, f"ASK {{ <{alice.uri}> ?p ?o }}")
    assert json.loads(body)["boolean"] is False
    status, _ = await _get(f"{base}/.well-known/webfinger?resource=acct:alice@{directory.domain}")
    assert status == 404
    found = await call(henk.search_v2, "alvarz", result_type="accounts")
    assert found.accounts == []
    assert "José Álvarez" not in await _web_search(hr, "henk", "Jose")
    status, _ = await raw(hr, "GET", f"/api/v1/accounts/{found_id}", henk_token)
    assert status in (404, 410)


async def test_a_leaver_is_gone_from_a_node_where_no_one_follows_them(world: World) -> None:
    """Nobody on HR follows Alice; HR met her in a directory search. Her Delete still
    reaches HR (every node Finance knows, as Mastodon does), so HR forgets her."""
    finance, hr = world.finance, world.hr
    alice, alice_token = await finance.user("alice")
    _carol, _ = await finance.user("carol")
    _henk, henk_token = await hr.user("henk", password=PASSWORD)
    await call(
        client(finance, alice_token).account_update_credentials,
        display_name="José Álvarez",
        fields=[("Expertise", "subsidieaanvragen")],
    )
    henk = client(hr, henk_token)
    # HR and Finance know each other: Henk follows Carol (not Alice).
    (carol_there,) = (await call(henk.search_v2, f"carol@{finance.domain}", resolve=True)).accounts
    await call(henk.account_follow, carol_there.id)
    await _settle(world)
    found = await call(henk.search_v2, "subsidieaanvragen", result_type="accounts")
    assert [a.acct for a in found.accounts] == [f"alice@{finance.domain}"]
    known_as = found.accounts[0].id
    async with finance.ctx.sessions() as session, session.begin():
        leaving = await session.get(Account, alice.id)
        assert leaving is not None
        await remove_person(finance.ctx, session, leaving)
    await _settle(world)
    for q in ("subsidieaanvragen", "alice", f"alice@{finance.domain}"):
        found = await call(henk.search_v2, q, result_type="accounts")
        assert found.accounts == [], q
    assert "José Álvarez" not in await _web_search(hr, "henk", "alice")
    status, _ = await raw(hr, "GET", f"/api/v1/accounts/{known_as}", henk_token)
    assert status == 404
    # Carol, who stays, is still followed from HR.
    assert (await call(henk.account_relationships, carol_there.id))[0].following
