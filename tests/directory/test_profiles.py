"""Profiles pushed to the directory: create, update, move, remove; refusals change nothing.

Department nodes are real nodes (SQLite and PostgreSQL); each push is a signed
activity from the person's own key, as the contract's §2 describes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.directory.service import Directory
from tests.conftest import Node
from tests.directory.conftest import CONTEXT, World, person_doc, push, sparql
from tests.node.rig import snapshot

#: Tests of the directory's own logic need not repeat on PostgreSQL (the department side does).
SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"])

PROFILE: dict[str, Any] = {
    "name": "José Álvarez",
    "schema:jobTitle": "Controller",
    "schema:worksFor": {"type": "schema:Organization", "schema:name": "Finance"},
    "schema:workLocation": {"type": "schema:Place", "schema:name": "Utrecht"},
    "schema:telephone": "+31 30 123 4567",
    "schema:knowsAbout": ["subsidieaanvragen", "python", "AVG"],
    "schema:knowsLanguage": ["nl", "en"],
}


async def _get_json(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, json.loads(await response.read() or b"{}")


async def _webfinger(directory: Node, handle: str) -> tuple[int, dict[str, Any]]:
    return await _get_json(f"{directory.base}/.well-known/webfinger?resource=acct:{handle}")


async def _state(world: World) -> tuple[int, int, list[str], dict[str, int]]:
    """What a refused push must not change: people, graph generation, ids, inbox rows."""
    service = world.service
    ids = sorted(e.profile.id for e in service.everyone())
    return len(service), service.graph.generation, ids, await snapshot(world.directory)


async def test_create_update_move_remove(world: World) -> None:
    """A person appears, changes, moves department and disappears (A5, A6)."""
    alice, _ = await world.finance.user("alice")
    doc = await person_doc(world.finance, "alice", **PROFILE)
    reply = await push(world.directory, alice, "Create", doc)
    assert reply.status == 202, reply.body
    service = world.service
    hits = service.search("Jose")
    assert [h.entry.profile.id for h in hits] == [alice.uri]
    assert hits[0].entry.profile.department == "Finance"
    assert [h.entry.profile.name for h in service.search("alvarz")] == ["José Álvarez"]
    assert service.search("", expertise="python")[0].entry.profile.id == alice.uri

    # Update: a new job title replaces the old one, in search and in the graph.
    doc = await person_doc(world.finance, "alice", **{**PROFILE, "schema:jobTitle": "Analist"})
    assert (await push(world.directory, alice, "Update", doc)).status == 202
    assert service.get(alice.uri).profile.job_title == "Analist"  # type: ignore[union-attr]
    assert service.search("controller") == []
    status, _, body = await sparql(
        world.directory,
        f"SELECT ?t WHERE {{ <{alice.uri}> <http://schema.org/jobTitle> ?t }}",
    )
    assert status == 200
    assert [b["t"]["value"] for b in json.loads(body)["results"]["bindings"]] == ["Analist"]

    # Move: another department; the old one is gone from the graph and the lists.
    moved = {
        **PROFILE,
        "schema:worksFor": {"type": "schema:Organization", "schema:name": "Sociaal Domein"},
    }
    doc = await person_doc(world.finance, "alice", **moved)
    assert (await push(world.directory, alice, "Update", doc)).status == 202
    assert [g.label for g in service.groups("department")] == ["Sociaal Domein"]
    assert service.search("", department="finance") == []
    assert service.search("", department="sociaal domein")[0].entry.profile.id == alice.uri
    status, _, body = await sparql(world.directory, 'ASK { ?d <http://schema.org/name> "Finance" }')
    assert json.loads(body)["boolean"] is False

    # Remove: Delete of the actor takes her out everywhere in the directory.
    assert (await push(world.directory, alice, "Delete", alice.uri)).status == 202
    assert len(service) == 0
    assert service.search("jose") == []
    status, _ = await _webfinger(world.directory, f"alice@{world.directory.domain}")
    assert status == 404
    status, _, body = await sparql(world.directory, f"ASK {{ <{alice.uri}> ?p ?o }}")
    assert json.loads(body)["boolean"] is False


async def test_profile_from_a_node_that_does_not_host_the_person_is_refused(
    world: World,
) -> None:
    """SECURITY.md row 1 (CVE-2024-23832): HR cannot push Finance's Alice; nothing changes."""
    alice, _ = await world.finance.user("alice")
    bob, _ = await world.hr.user("bob")
    assert (
        await push(
            world.directory, alice, "Create", await person_doc(world.finance, "alice", **PROFILE)
        )
    ).status == 202
    before = await _state(world)
    forged = await person_doc(world.finance, "alice", **{**PROFILE, "name": "Mallory"})

    # Bob on HR signs an Update whose object is Alice on Finance.
    reply = await push(world.directory, bob, "Update", forged)
    assert reply.status == 403, reply.body
    # Bob's node claims the actor is Alice but signs with Bob's key.
    reply = await push(world.directory, alice, "Update", forged, signer=bob)
    assert reply.status == 401, reply.body
    # Bob pushes a Person with Alice's id as if it were his own profile (object ≠ actor).
    reply = await push(world.directory, bob, "Create", {**forged, "id": f"{bob.uri}/other"})
    assert reply.status == 403, reply.body
    # HR deletes Alice.
    reply = await push(world.directory, bob, "Delete", alice.uri)
    assert reply.status == 403, reply.body

    assert await _state(world) == before
    assert world.service.get(alice.uri).profile.name == "José Álvarez"  # type: ignore[union-attr]


@SQLITE_ONLY
async def test_malformed_huge_and_html_profiles(world: World) -> None:
    """Bad input: clear refusals and sanitised text; never a 500, nothing half-written."""
    alice, _ = await world.finance.user("alice")
    before = await _state(world)
    # Malformed JSON-LD: an @id that is not a string; a restructuring @graph.
    bad = await person_doc(world.finance, "alice", **{**PROFILE, "schema:worksFor": {"@id": 5}})
    reply = await push(world.directory, alice, "Update", bad)
    assert reply.status == 400, reply.body
    # A Person without a username is not a profile.
    bad = await person_doc(world.finance, "alice", preferredUsername="not a name!")
    assert (await push(world.directory, alice, "Update", bad)).status in {400, 403}
    # Not JSON at all.
    reply = await push(world.directory, alice, "Update", {}, body=b"{not json")
    assert reply.status == 400
    # A body over the node's limit.
    huge = await person_doc(world.finance, "alice", summary="x" * 2_000_000)
    assert (await push(world.directory, alice, "Update", huge)).status == 413
    assert await _state(world) == before

    # Long fields are cut, HTML is removed, a context URL we do not bundle is never fetched.
    doc = await person_doc(
        world.finance,
        "alice",
        **{
            **PROFILE,
            "@context": [*CONTEXT, "https://evil.example/context.jsonld"],
            "name": "<script>alert(1)</script><b>Alice</b> " + "a" * 5000,
            "schema:jobTitle": '<img src=x onerror="alert(1)">Controller',
            "schema:knowsAbout": ["<i>python</i>", "x" * 1000, *[f"topic{i}" for i in range(200)]],
        },
    )
    assert (await push(world.directory, alice, "Update", doc)).status == 202
    profile = world.service.get(alice.uri).profile  # type: ignore[union-attr]
    assert profile.name.startswith("Alice aaa") and len(profile.name) <= 300
    assert "<" not in profile.name and "script" not in profile.name
    assert profile.job_title == "Controller"
    assert profile.knows_about[0] == "python"
    assert len(profile.knows_about) <= 50 and all(len(k) <= 100 for k in profile.knows_about)


@SQLITE_ONLY
async def test_org_wide_handles(world: World) -> None:
    """alice@<directory> → Alice's actor on Finance; HR's Alice gets alice.<label>."""
    alice, _ = await world.finance.user("alice")
    other, _ = await world.hr.user("alice")
    await push(
        world.directory, alice, "Create", await person_doc(world.finance, "alice", **PROFILE)
    )
    await push(
        world.directory, other, "Create", await person_doc(world.hr, "alice", name="Alice de Vries")
    )
    domain = world.directory.domain
    status, jrd = await _webfinger(world.directory, f"alice@{domain}")
    assert status == 200
    assert jrd["subject"] == f"acct:alice@{domain}"
    assert jrd["aliases"] == [alice.uri]
    links = {link["rel"]: link for link in jrd["links"]}
    assert links["self"] == {"rel": "self", "type": "application/activity+json", "href": alice.uri}
    assert links["http://webfinger.net/rel/profile-page"]["type"] == "text/html"
    second = world.service.get(other.uri)
    assert second is not None and second.org_handle == f"alice.127@{domain}"
    status, jrd = await _webfinger(world.directory, f"alice.127@{domain}")
    assert status == 200 and jrd["aliases"] == [other.uri]
    # The handle sticks: Finance's Alice keeps "alice" after an update.
    await push(
        world.directory, alice, "Update", await person_doc(world.finance, "alice", **PROFILE)
    )
    assert world.service.get(alice.uri).org_handle == f"alice@{domain}"  # type: ignore[union-attr]
    # Unknown people and other domains are not found; the node's own actor still resolves.
    assert (await _webfinger(world.directory, f"nobody@{domain}"))[0] == 404
    own = world.directory.ctx.urls.instance_actor
    status, _ = await _get_json(f"{world.directory.base}/.well-known/webfinger?resource={own}")
    assert status == 200


@SQLITE_ONLY
async def test_directory_survives_a_restart(world: World, tmp_path: Path) -> None:
    """The graph is on disk: a Directory opened on a copy of the store finds everyone again."""
    alice, _ = await world.finance.user("alice")
    await push(
        world.directory, alice, "Create", await person_doc(world.finance, "alice", **PROFILE)
    )
    copy = tmp_path / "copy"
    world.service.graph.snapshot(copy)
    reopened = Directory(copy, base_url=world.directory.base, domain=world.directory.domain)
    try:
        entry = reopened.get(alice.uri)
        assert entry is not None and entry.org_handle == f"alice@{world.directory.domain}"
        assert entry.profile.department == "Finance"
        assert entry.profile.knows_about == ("AVG", "python", "subsidieaanvragen")
        assert [h.entry.profile.id for h in reopened.search("jose")] == [alice.uri]
    finally:
        reopened.close()
