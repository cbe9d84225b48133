"""The who-is-who profile through Mastodon.py, pushed to a directory (issue 5, contract §1–§3).

Two department nodes (finance, hr) and a stand-in directory on loopback
(``tests.node.directory_stub``): profile fields from an app become the structured profile,
the signed ``Update(Person)`` reaches the directory and the followers, search on a
department node includes the directory's hits, and an organisation-wide handle resolves to
the node where the person lives (PROTOCOL.md C19, C23, C34; A5, A6; D4, D17).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from node.db.models import Account, OutboxActivity, Profile
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import call, client, raw, settle
from tests.mastodon.shapes import check
from tests.node.directory_stub import DirectoryStub
from tests.node.rig import peers

__all__: list[str] = []


@dataclass
class Org:
    """finance (alice) and hr (bob), both pushing to the stand-in directory."""

    directory: DirectoryStub
    finance: Node
    hr: Node
    alice: Account
    alice_token: str
    bob: Account
    bob_token: str


@pytest.fixture
async def org(make_node: NodeFactory) -> AsyncIterator[Org]:
    directory = DirectoryStub("127.0.0.5")
    await directory.start()
    finance = await make_node(
        "Finance", "127.0.0.2", allow=("127.0.0.3", "127.0.0.5"), directory=directory.base
    )
    hr = await make_node(
        "HR", "127.0.0.3", allow=("127.0.0.2", "127.0.0.5"), directory=directory.base
    )
    alice, alice_token = await finance.user("alice")
    bob, bob_token = await hr.user("bob")
    yield Org(directory, finance, hr, alice, alice_token, bob, bob_token)
    await directory.stop()


PROFILE_FIELDS = [
    ("Functie", "Controller"),
    ("Afdeling", "Planning & Control"),
    ("Location", "Utrecht"),
    ("Telefoon", "+31 30 123 4567"),
    ("Expertise", "subsidieaanvragen; python, AVG"),
    ("Hobby", "<b>zeilen</b> & roeien"),
]


async def test_app_profile_fields_become_the_structured_profile_and_reach_the_directory(
    org: Org,
) -> None:
    finance, hr = org.finance, org.hr
    alice = client(finance, org.alice_token)
    bob = client(hr, org.bob_token)
    alice_there = await call(bob.account_lookup, f"alice@{finance.domain}")
    await call(bob.account_follow, alice_there.id)
    await settle(finance, hr)

    me = await call(alice.account_update_credentials, fields=PROFILE_FIELDS)
    assert [(f.name, f.value) for f in me.fields] == [
        ("Functie", "Controller"),
        ("Afdeling", "Planning &amp; Control"),
        ("Location", "Utrecht"),
        ("Telefoon", "+31 30 123 4567"),
        ("Expertise", "subsidieaanvragen, python, AVG"),
        ("Hobby", "&lt;b&gt;zeilen&lt;/b&gt; &amp; roeien"),
    ]
    # source.fields gives the plain text back, so an app edits what the person typed.
    assert [(f.name, f.value) for f in me.source.fields][-1] == ("Hobby", "<b>zeilen</b> & roeien")
    status, raw_me = await raw(
        finance, "GET", "/api/v1/accounts/verify_credentials", org.alice_token
    )
    assert status == 200
    check("Account", raw_me)
    assert all(f["verified_at"] is None for f in raw_me["fields"])

    await settle(finance, hr)
    (update,) = [b for b in org.directory.inbox_bodies() if b["type"] == "Update"]
    assert {r.key_id for r in org.directory.received} == {f"{org.alice.uri}#main-key"}
    assert all(r.verified for r in org.directory.received)
    person = update["object"]
    assert update["actor"] == person["id"] == org.alice.uri
    assert "https://www.w3.org/ns/activitystreams#Public" in update["to"]
    terms = update["@context"][-1]
    assert terms["schema"] == "http://schema.org/" and terms["org"] == "http://www.w3.org/ns/org#"
    assert person["schema:jobTitle"] == "Controller"
    assert person["schema:worksFor"] == {
        "type": "schema:Organization",
        "schema:name": "Planning & Control",
    }
    assert person["schema:workLocation"] == {"type": "schema:Place", "schema:name": "Utrecht"}
    assert person["schema:telephone"] == "+31 30 123 4567"
    assert person["schema:knowsAbout"] == ["subsidieaanvragen", "python", "AVG"]
    assert "schema:email" not in person and "org:reportsTo" not in person  # absent: omitted
    assert {
        "type": "PropertyValue",
        "name": "Hobby",
        "value": "&lt;b&gt;zeilen&lt;/b&gt; &amp; roeien",
    } in person["attachment"]

    # The actor document served over HTTP says the same (contract §1).
    status, document = await raw(
        finance, "GET", "/users/alice", headers={"Accept": "application/activity+json"}
    )
    assert status == 200
    doc = json.loads(document) if isinstance(document, (str, bytes)) else document
    assert doc["schema:knowsAbout"] == person["schema:knowsAbout"]
    assert doc["attachment"] == person["attachment"]

    # The follower's node shows the fields, sanitised, in the remote Account entity.
    seen = await call(bob.account, alice_there.id)
    assert ("Afdeling", "Planning &amp; Control") in [(f.name, f.value) for f in seen.fields]
    assert all("<b>" not in f.value for f in seen.fields)


async def test_department_defaults_to_the_node_and_unchanged_profiles_are_not_pushed(
    org: Org,
) -> None:
    finance = org.finance
    alice = client(finance, org.alice_token)
    status, document = await raw(
        finance, "GET", "/users/alice", headers={"Accept": "application/activity+json"}
    )
    assert status == 200
    doc = json.loads(document) if isinstance(document, (str, bytes)) else document
    assert doc["schema:worksFor"]["schema:name"] == "Finance"  # node.name

    await call(alice.account_update_credentials, fields=[("Location", "Utrecht")])
    await call(alice.account_update_credentials, fields=[("Location", "Utrecht")])
    await settle(finance)
    updates = [b for b in org.directory.inbox_bodies() if b["type"] == "Update"]
    assert len(updates) == 1  # the second save changed nothing and pushed nothing
    assert updates[0]["object"]["schema:worksFor"]["schema:name"] == "Finance"


async def _outbox_count(node: Node) -> int:
    async with node.ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxActivity)) or 0)


#: Bad input and a word the 422 message must contain (one node pair for all: time).
BAD_INPUT: list[tuple[dict[str, str], str]] = [
    ({"fields_attributes[0][name]": "Hobby", "fields_attributes[0][value]": "x" * 2049}, "too long"),
    ({f"fields_attributes[{i}][name]": f"F{i}" for i in range(5)}, "at most 4"),
    ({"fields_attributes[0][name]": "Telefoon", "fields_attributes[0][value]": "call me"}, "phone"),
    ({"fields_attributes[0][name]": "Functie", "fields_attributes[0][value]": "a" * 201}, "job_title"),
    ({"fields_attributes[0][name]": "Afdeling", "fields_attributes[0][value]": "HR\x07"}, "control"),
    ({"email": "not an address"}, "email"),
    ({"languages[]": "<script>"}, "languages"),
    ({"manager": "nobody"}, "manager"),
    ({"manager": "http://127.0.0.77:9/users/mallory"}, "manager"),
    ({"display_name": "x" * 101, "job_title": "Controller"}, "display_name"),
]  # fmt: skip


async def test_bad_profile_input_is_refused_and_changes_nothing(org: Org) -> None:
    finance = org.finance
    alice = client(finance, org.alice_token)
    await call(alice.account_update_credentials, fields=[("Location", "Utrecht")])
    before = await call(alice.account_verify_credentials)
    outbox = await _outbox_count(finance)
    for data, message in BAD_INPUT:
        status, body = await raw(
            finance, "PATCH", "/api/v1/accounts/update_credentials", org.alice_token, data=data
        )
        assert status == 422, data
        assert message in body["error"], (data, body)
    after = await call(alice.account_verify_credentials)
    assert (after.display_name, after.fields) == (before.display_name, before.fields)
    assert await _outbox_count(finance) == outbox
    async with finance.ctx.sessions() as session:
        row = await session.get(Profile, org.alice.id)
        assert row is not None and row.job_title == "" and row.location == "Utrecht"


async def test_structured_parameters_and_a_manager_on_another_node(org: Org) -> None:
    finance, hr = org.finance, org.hr
    status, body = await raw(
        finance, "PATCH", "/api/v1/accounts/update_credentials", org.alice_token,
        data={
            "job_title": "Controller",
            "department": "Finance",
            "email": "alice@finance.example",
            "languages[]": ["nl", "en"],
            "expertise[]": ["AVG", "python"],
            "manager": f"bob@{hr.domain}",
        },
    )  # fmt: skip
    assert status == 200, body
    await settle(finance, hr)
    person = org.directory.inbox_bodies()[-1]["object"]
    assert person["org:reportsTo"] == {"id": org.bob.uri}
    assert person["schema:email"] == "alice@finance.example"
    assert person["schema:knowsLanguage"] == ["nl", "en"]
    assert ("Languages", "nl, en") in [(f["name"], f["value"]) for f in body["fields"]]


async def test_search_includes_the_directorys_people(org: Org) -> None:
    finance, hr = org.finance, org.hr
    carol, _ = await hr.user("carol", display_name="Carol Jansen")
    org.directory.results = [
        {"id": carol.uri, "handle": f"carol@{hr.domain}", "name": "Carol Jansen", "score": 3.0},
        {"id": org.alice.uri, "name": "Alice", "score": 1.0},
        {"id": "http://127.0.0.77:9/users/mallory", "name": "Not a peer", "score": 0.5},
    ]
    alice = client(finance, org.alice_token)
    found = await call(alice.search_v2, "subsidie", result_type="accounts")
    assert [a.acct for a in found.accounts] == [f"carol@{hr.domain}", "alice"]
    check(
        "Account",
        (await raw(finance, "GET", "/api/v2/search?q=subsidie", org.alice_token))[1]["accounts"][0],
    )
    (asked,) = [r for r in org.directory.received if r.method == "GET"][:1]
    assert asked.verified and asked.key_id == f"{finance.base}/actor#main-key"
    assert "q=subsidie" in asked.path

    # Answers are cached briefly: the same question did not ask the directory again.
    await call(alice.search_v2, "subsidie", result_type="accounts")
    assert len([r for r in org.directory.received if r.method == "GET"]) == 1

    # Without a viewer, no request goes out; and a local match comes first.
    status, body = await raw(finance, "GET", "/api/v2/search?q=ali&type=accounts")
    assert status == 200 and [a["acct"] for a in body["accounts"]] == ["alice"]


async def test_search_works_when_the_directory_is_down(org: Org) -> None:
    org.directory.hang = True
    alice = client(org.finance, org.alice_token)
    found = await call(alice.search_v2, "alice", result_type="accounts")
    assert [a.acct for a in found.accounts] == ["alice"]
    await org.directory.stop()
    found = await call(alice.search_v2, "ali", result_type="accounts")
    assert [a.acct for a in found.accounts] == ["alice"]


async def test_an_organisation_wide_handle_resolves_to_the_persons_node(org: Org) -> None:
    finance, hr = org.finance, org.hr
    org.directory.handles["alice"] = org.alice.uri
    bob = client(hr, org.bob_token)
    found = await call(bob.search_v2, f"alice@{org.directory.domain}", resolve=True)
    assert [a.acct for a in found.accounts] == [f"alice@{finance.domain}"]
    assert found.accounts[0].uri == org.alice.uri
    # Unknown org handles find no one and raise nothing.
    found = await call(bob.search_v2, f"nobody@{org.directory.domain}", resolve=True)
    assert found.accounts == []


async def test_remote_property_values_are_shown_as_sanitised_fields(
    make_node: NodeFactory,
) -> None:
    """A peer's PropertyValue attachments with hostile HTML (A7, D17) become safe fields."""
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.6", "zoe")
        peer.patches["zoe"] = {
            "attachment": [
                {
                    "type": "PropertyValue",
                    "name": "<b>Afdeling</b>",
                    "value": '<script>alert(1)</script><a href="https://x.example" onclick="e()">ICT</a>',
                },
                {"type": "PropertyValue", "name": "Locatie", "value": "Zwolle"},
                {"type": "Note", "name": "not a field", "value": "x"},
            ],
            "schema:jobTitle": "<i>Developer</i>",
        }
        node = await make_node("Finance", "127.0.0.2", allow=("127.0.0.6",))
        _alice, token = await node.user("alice")
        alice = client(node, token)
        found = await call(alice.search_v2, f"zoe@{peer.domain}", resolve=True)
        (zoe,) = found.accounts
        assert [f.name for f in zoe.fields] == ["Afdeling", "Locatie"]
        value = zoe.fields[0].value
        assert "<script" not in value and "onclick" not in value and "ICT</a>" in value
        assert zoe.fields[1].value == "Zwolle"
        status, body = await raw(node, "GET", f"/api/v1/accounts/{zoe.id}", token)
        assert status == 200
        check("Account", body)
