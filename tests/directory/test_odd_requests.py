"""Odd requests to a directory node get a clear answer, never a 500 (issue 5, "Bad input")."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import pytest

from tests.directory.conftest import World, person_doc, push

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"])


#: (method, path, the status a client must get)
ODD: list[tuple[str, str, int]] = [
    ("GET", "/directory?q=" + "jose" * 2000, 200),
    ("GET", "/directory?q=%F0%9F%98%80%00%ff", 200),
    ("GET", "/directory?department=%00&location=%E2%80%AE&expertise=" + "x" * 500, 200),
    ("GET", "/directory?lang=xx", 200),
    ("GET", "/directory/people", 404),
    ("GET", "/directory/people?id=javascript:alert(1)", 404),
    ("GET", "/directory/people?id=" + quote("http://127.0.0.62/users/" + "a" * 5000), 404),
    ("GET", "/directory/departments/%C3%A9%00", 404),
    ("GET", "/directory/locations/" + "x" * 300, 404),
    ("GET", "/directory/orgchart?department=nope", 404),
    ("GET", "/directory/orgchart.svg?department=nope", 404),
    ("GET", "/directory/export.exe", 404),
    ("GET", "/directory/people/export.csv", 404),
    ("GET", "/directory/api/search?q=jose", 401),
    ("GET", "/sparql", 400),
    ("GET", "/sparql?query=SELECT%20WHERE%20%7B", 400),
    ("POST", "/sparql", 415),
    ("GET", "/.well-known/webfinger?resource=nonsense", 400),
    ("GET", "/.well-known/webfinger?resource=acct:nobody@127.0.0.61", 404),
]


async def test_odd_requests_get_a_clear_answer(world: World) -> None:
    alice, _ = await world.finance.user("alice")
    doc = await person_doc(world.finance, "alice", name="José Álvarez")
    assert (await push(world.directory, alice, "Create", doc)).status == 202
    wrong: list[tuple[str, int, str]] = []
    async with aiohttp.ClientSession() as http:
        for method, path, expected in ODD:
            async with http.request(method, world.directory.base + path) as response:
                body = await response.text()
            if response.status != expected:
                wrong.append((path[:80], response.status, body[:200]))
            elif response.status == 200:
                assert "<html" in body, path[:80]
            elif response.status >= 400 and "json" in response.content_type:
                assert body.startswith('{"error"'), (path[:80], body[:200])
    assert wrong == []
    # The node is still fine afterwards.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{world.directory.base}/directory?q=jose") as response,
    ):
        assert response.status == 200 and "José Álvarez" in await response.text()
