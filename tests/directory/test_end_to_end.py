"""End to end through the department side's own code: edit a profile, it reaches the directory.

Finance pushes Alice's profile through its delivery queue (``change_profile``, contract §2);
the directory stores it; HR finds her through the Mastodon API (``/api/v2/search``, which
asks the directory); a move and a removal (``remove_person``) follow the same path.  The
department nodes run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from node.services.profile import ProfileChange, change_profile, remove_person
from tests.directory.conftest import World


async def _search(world: World, token: str, q: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{world.hr.base}/api/v2/search",
            params={"q": q, "type": "accounts"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        accounts: list[dict[str, Any]] = json.loads(await response.read())["accounts"]
        return accounts


async def _flow(world: World) -> None:
    await world.finance.settle()
    await world.directory.settle()


async def test_profile_edit_reaches_the_directory_and_search(world: World) -> None:
    alice, _ = await world.finance.user("alice")
    _, token = await world.hr.user("henk")
    finance = world.finance.ctx
    change = ProfileChange(
        display_name="José Álvarez",
        job_title="Controller",
        department="Finance",
        location="Utrecht",
        expertise=["subsidieaanvragen", "python"],
        languages=["nl", "en"],
        phone="+31 30 123 4567",
    )
    async with finance.sessions() as session, session.begin():
        assert await change_profile(finance, session, alice, change)
    await _flow(world)

    entry = world.service.get(alice.uri)
    assert entry is not None
    profile = entry.profile
    assert (profile.name, profile.job_title, profile.department, profile.location) == (
        "José Álvarez",
        "Controller",
        "Finance",
        "Utrecht",
    )
    assert set(profile.knows_about) == {"subsidieaanvragen", "python"}
    assert profile.telephone == "+31 30 123 4567"

    # HR's people find her from a Mastodon app, accent-blind and with a typo.
    for q in ("jose", "alvarz", "subsidieaanvragen"):
        found = await _search(world, token, q)
        assert [a["acct"] for a in found] == [f"alice@{world.finance.domain}"], (q, found)

    # A move to another department travels the same way.
    async with finance.sessions() as session, session.begin():
        assert await change_profile(
            finance, session, alice, ProfileChange(department="Sociaal Domein")
        )
    await _flow(world)
    moved = world.service.get(alice.uri)
    assert moved is not None and moved.profile.department == "Sociaal Domein"
    assert [g.label for g in world.service.groups("department")] == ["Sociaal Domein"]

    # Removing her on Finance removes her from the directory.
    async with finance.sessions() as session, session.begin():
        await remove_person(finance, session, alice)
    await _flow(world)
    assert world.service.get(alice.uri) is None
    assert world.service.search("jose") == []
