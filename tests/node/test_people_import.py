"""Importing people from CSV and LDIF, pruning and removing them (issue 5, contract §2).

A department node on loopback pushes to a stand-in directory (``directory_stub``) that
checks every signature; the import runs through the service and, once, through the
``kantine`` command as an admin types it. Bad rows are reported by line and column, good
rows are imported, and a bad row leaves nothing behind (SECURITY.md: assert nothing
happened).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from node.appkeys import SETTINGS
from node.cli import main
from node.db.models import Account, Profile, Status, Tombstone
from node.services.people_import import import_people
from node.services.roster import read_roster
from node.services.statuses import post_status
from tests.conftest import Node, NodeFactory
from tests.node.directory_stub import DirectoryStub

__all__: list[str] = []

HEADER = "username,display name,email,job title,department,location,phone,expertise,languages,manager username\n"
GOOD = (
    "carol,Carol Jansen,carol@finance.example,Head of Finance,Finance,Utrecht,+31 30 111,budget;AVG,nl;en,\n"
    "alice,Alice de Boer,alice@finance.example,Controller,Planning,Utrecht,+31 30 123 4567,subsidieaanvragen;python;AVG,nl,carol\n"
    "erik,Erik Smit,,Analyst,Planning,Amersfoort,,python,,alice\n"
)
BAD = (
    "Bad Name!,Someone,,,,,,,,\n"  # line 5: username
    "frank,Frank,frank@,,,,,,,\n"  # line 6: email
    "gina,Gina,,,,,phone me,,,\n"  # line 7: phone
    "henk,Henk,,,,,,,,nobody\n"  # line 8: manager
    "carol,Carol again,,,,,,,,\n"  # line 9: duplicate
    "ivo,Ivo,,,,,,,x-<b>,\n"  # line 10: languages
    f"jan,Jan,,{'t' * 300},,,,,,\n"  # line 11: job title
    "kees,Kees,,,,,,,,,extra,cells\n"  # line 12: too many cells
)


@pytest.fixture
async def directory() -> AsyncIterator[DirectoryStub]:
    stub = DirectoryStub("127.0.0.5")
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
async def finance(make_node: NodeFactory, directory: DirectoryStub) -> Node:
    return await make_node("Finance", "127.0.0.2", allow=("127.0.0.5",), directory=directory.base)


async def _usernames(node: Node) -> dict[str, bool]:
    async with node.ctx.sessions() as session:
        rows = await session.execute(
            select(Account.username, Account.suspended_at).where(
                Account.local.is_(True), Account.actor_type == "Person"
            )
        )
        return {name: suspended is None for name, suspended in rows}


def _pushed(directory: DirectoryStub, kind: str) -> list[str]:
    return [b["actor"].rsplit("/", 1)[1] for b in directory.inbox_bodies() if b["type"] == kind]


async def test_csv_import_creates_updates_and_reports_bad_rows(
    finance: Node, directory: DirectoryStub
) -> None:
    roster = read_roster("people.csv", (HEADER + GOOD + BAD).encode())
    # Keys made in worker processes, as for a large import.
    report = await import_people(finance.ctx, roster, parallel_keys_from=1)
    assert sorted(report.created) == ["alice", "carol", "erik"]
    errors = [(e.line, e.column) for e in report.errors]
    assert errors == [
        (5, "username"),
        (6, "email"),
        (7, "phone"),
        (8, "manager"),
        (9, "username"),
        (10, "languages"),
        (11, "job_title"),
        (12, "row"),
    ]
    assert "line 9, username: carol is already on line 2" in [str(e) for e in report.errors]
    # Nothing half-done: the bad rows left no account (not even without a profile).
    assert set(await _usernames(finance)) == {"alice", "carol", "erik"}

    await finance.settle()
    assert sorted(_pushed(directory, "Update")) == ["alice", "carol", "erik"]
    alice = next(
        b["object"] for b in directory.inbox_bodies() if b["actor"].endswith("/users/alice")
    )
    assert alice["name"] == "Alice de Boer"
    assert alice["schema:worksFor"]["schema:name"] == "Planning"
    assert alice["schema:knowsAbout"] == ["subsidieaanvragen", "python", "AVG"]
    assert alice["org:reportsTo"] == {"id": f"{finance.base}/users/carol"}
    assert all(r.verified for r in directory.received)

    # The same file again changes nothing and pushes nothing.
    again = await import_people(finance.ctx, read_roster("people.csv", (HEADER + GOOD).encode()))
    assert sorted(again.unchanged) == ["alice", "carol", "erik"] and not again.updated
    await finance.settle()
    assert len(_pushed(directory, "Update")) == 3

    # Erik moves to another department: one Update, with the new department.
    moved = GOOD.replace("Analyst,Planning,Amersfoort", "Analyst,Treasury,Amersfoort")
    report = await import_people(finance.ctx, read_roster("people.csv", (HEADER + moved).encode()))
    assert report.updated == ["erik"]
    await finance.settle()
    last = directory.inbox_bodies()[-1]
    assert last["actor"].endswith("/users/erik")
    assert last["object"]["schema:worksFor"]["schema:name"] == "Treasury"


async def test_prune_removes_people_everywhere_and_dry_run_changes_nothing(
    finance: Node, directory: DirectoryStub
) -> None:
    await import_people(finance.ctx, read_roster("p.csv", (HEADER + GOOD).encode()))
    await finance.settle()
    admin, _ = await finance.user("root", role="admin")
    async with finance.ctx.sessions() as session, session.begin():
        erik = (
            await session.execute(select(Account).where(Account.username == "erik"))
        ).scalar_one()
        post = await post_status(finance.ctx, session, erik, "Tot ziens!", visibility="public")
    without_erik = HEADER + GOOD.splitlines(keepends=True)[0] + GOOD.splitlines(keepends=True)[1]

    dry = await import_people(
        finance.ctx, read_roster("p.csv", without_erik.encode()), prune=True, dry_run=True
    )
    assert dry.removed == ["erik"] and dry.kept == ["root"]
    assert (await _usernames(finance))["erik"] is True  # still there

    report = await import_people(
        finance.ctx, read_roster("p.csv", without_erik.encode()), prune=True
    )
    assert report.removed == ["erik"] and report.kept == ["root"]
    assert (await _usernames(finance)) == {
        "alice": True,
        "carol": True,
        "erik": False,
        "root": True,
    }
    await finance.settle()
    (delete,) = [b for b in directory.inbox_bodies() if b["type"] == "Delete"]
    assert delete["actor"] == delete["object"] == f"{finance.base}/users/erik"
    async with finance.ctx.sessions() as session:
        assert await session.get(Status, post.id) is None
        assert await session.get(Tombstone, post.uri) is not None
    async with aiohttp.ClientSession() as http, http.get(f"{finance.base}/users/erik") as response:
        assert response.status == 410
    assert admin.username == "root"


LDIF = """\
version: 1

# The organisation's units are not people.
dn: ou=people,dc=finance,dc=example
objectClass: organizationalUnit
ou: people

dn: uid=carol,ou=people,dc=finance,dc=example
objectClass: inetOrgPerson
uid: carol
cn: Carol Jansen
mail: carol@finance.example
title: Head of Finance
departmentNumber: Finance
l: Utrecht
telephoneNumber: +31 30 111

dn: cn=Alice de Boer,ou=people,dc=finance,dc=example
objectClass: inetOrgPerson
uid: alice
cn: Alice de Boer
displayName:: QWxpY2UgZGUgQm/DqXI=
title: Controller
ou: Planning
physicalDeliveryOfficeName: Utrecht, kamer
 3.14
manager: uid=carol,ou=people,dc=finance,dc=example
preferredLanguage: nl-NL

dn: uid=erik,ou=people,dc=finance,dc=example
objectClass: inetOrgPerson
uid: erik
cn: Erik
manager: cn=Alice de Boer,ou=people,dc=finance,dc=example

dn: uid=broken,ou=people,dc=finance,dc=example
objectClass: inetOrgPerson
uid: broken
cn:: not base64!!

dn: cn=nobody,ou=people,dc=finance,dc=example
objectClass: inetOrgPerson
cn: Nobody

objectClass: inetOrgPerson
uid: nodn
cn: No DN

dn: uid=frits,ou=people,dc=finance,dc=example
objectClass: inetOrgPerson
uid: frits
manager: uid=ghost,ou=people,dc=elsewhere
"""


async def test_ldif_import_maps_ldap_attributes_and_reports_broken_entries(
    finance: Node, directory: DirectoryStub
) -> None:
    roster = read_roster("export.ldif", LDIF.encode())
    report = await import_people(finance.ctx, roster)
    assert sorted(report.created) == ["alice", "carol", "erik"]
    assert [(e.line, e.column) for e in report.errors] == [
        (36, "entry"),
        (41, "uid"),
        (45, "dn"),
        (49, "manager"),
    ]
    assert "not valid base64" in str(report.errors[0])
    assert set(await _usernames(finance)) == {"alice", "carol", "erik"}
    async with finance.ctx.sessions() as session:
        alice = (
            await session.execute(select(Account).where(Account.username == "alice"))
        ).scalar_one()
        profile = await session.get(Profile, alice.id)
    assert alice.display_name == "Alice de Boér"
    assert profile is not None
    assert (profile.job_title, profile.department, profile.location) == (
        "Controller",
        "Planning",
        "Utrecht, kamer3.14",
    )
    assert profile.manager_uri == f"{finance.base}/users/carol"
    assert json.loads(profile.languages_json) == ["nl"]
    await finance.settle()
    erik = next(b for b in directory.inbox_bodies() if b["actor"].endswith("/users/erik"))
    assert erik["object"]["org:reportsTo"] == {"id": f"{finance.base}/users/alice"}


def _config(node: Node, directory: DirectoryStub, path: Path) -> Path:
    url = node.app[SETTINGS].database_url
    path.write_text(
        "[node]\n"
        f'domain = "{node.domain}"\nbase_url = "{node.base}"\nname = "Finance"\n'
        "[database]\n"
        f'url = "{url}"\n'
        "[federation]\n"
        f'allow_http = true\nallow = ["127.0.0.5"]\ndirectory = "{directory.base}"\n',
        encoding="utf-8",
    )
    return path


async def test_the_kantine_command_imports_syncs_and_deletes(
    finance: Node, directory: DirectoryStub, tmp_path: Path
) -> None:
    config = _config(finance, directory, tmp_path / "finance.toml")
    people = tmp_path / "people.csv"
    people.write_text(HEADER + GOOD + BAD, encoding="utf-8")

    def run(*argv: str) -> int:
        return main([*argv, "--config", str(config)])

    assert await asyncio.to_thread(run, "directory", "import", str(people), "--dry-run") == 1
    assert set(await _usernames(finance)) == set()
    assert await asyncio.to_thread(run, "directory", "import", str(people)) == 1  # bad rows
    assert set(await _usernames(finance)) == {"alice", "carol", "erik"}
    assert await asyncio.to_thread(run, "directory", "sync") == 0
    assert await asyncio.to_thread(run, "users", "delete", "erik") == 0
    assert await asyncio.to_thread(run, "users", "delete", "erik") == 1  # already removed
    assert await asyncio.to_thread(run, "directory", "import", str(tmp_path / "none.csv")) == 1
    await finance.settle()
    # erik's queued Updates were dropped when he was removed: only his Delete went out.
    assert sorted(_pushed(directory, "Update")) == ["alice", "alice", "carol", "carol"]
    assert directory.actor_deletes() == [f"{finance.base}/users/erik"]
    async with finance.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Profile)) == 3
