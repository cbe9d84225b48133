"""End to end: department nodes push their people to the directory and search it (issue 5).

The directory node and the Finance and HR department nodes of ``conftest.world`` run on
loopback (department nodes on SQLite and PostgreSQL). Nothing is pushed by hand here: the
department side's own import, Mastodon API and workers send the signed activities, and
people search through Mastodon.py as an app would (PROTOCOL.md C23; A5, A6; D4).
"""

from __future__ import annotations

from sqlalchemy import select

from node.auth.tokens import issue_token
from node.db.models import Account
from node.services.people_import import ImportReport, import_people
from node.services.roster import read_roster
from tests.conftest import Node
from tests.directory.conftest import World
from tests.mastodon.conftest import call, client

__all__: list[str] = []

HEADER = "username,display name,email,job title,department,location,phone,expertise,languages,manager username\n"
FINANCE = (
    "carol,Carol Jansen,,Head of Finance,Finance,Utrecht,+31 30 111,budget,nl;en,\n"
    "alice,José Álvarez,,Controller,Finance,Utrecht,+31 30 123 4567,subsidieaanvragen;python,nl,carol\n"
    "erik,Erik Smit,,Analyst,Finance,Amersfoort,,python,,alice\n"
)
HR = "bob,Bob de Vries,,Adviseur,Personeelszaken,Zwolle,,arbo;AVG,nl,\n"


async def _import(node: Node, text: str, *, prune: bool = False) -> ImportReport:
    report = await import_people(node.ctx, read_roster("people.csv", text.encode()), prune=prune)
    assert report.errors == []
    return report


async def _settle(world: World) -> None:
    for _ in range(4):
        for node in (world.finance, world.hr, world.directory):
            await node.settle()


async def _token(node: Node, username: str) -> str:
    _account, token = await node.user(username)
    return token


async def _login(node: Node, username: str) -> str:
    async with node.ctx.sessions() as session, session.begin():
        account = (
            await session.execute(select(Account).where(Account.username == username))
        ).scalar_one()
        return await issue_token(session, account, "read write follow")


async def test_import_update_move_remove_and_search_from_both_nodes(world: World) -> None:
    finance, hr, service = world.finance, world.hr, world.service
    await _import(finance, HEADER + FINANCE)
    await _import(hr, HEADER + HR)
    await _settle(world)
    alice_uri, erik_uri = f"{finance.base}/users/alice", f"{finance.base}/users/erik"
    alice = service.get(alice_uri)
    assert alice is not None
    assert (alice.profile.name, alice.profile.department, alice.profile.location) == (
        "José Álvarez",
        "Finance",
        "Utrecht",
    )
    assert len(service) == 4

    # Alice edits her profile in a Mastodon app: the directory has it after the push.
    alice_app = client(finance, await _login(finance, "alice"))
    await call(
        alice_app.account_update_credentials,
        fields=[("Functie", "Senior controller"), ("Expertise", "subsidieaanvragen, AVG")],
    )
    await _settle(world)
    alice = service.get(alice_uri)
    assert alice is not None and alice.profile.job_title == "Senior controller"
    assert {h.entry.profile.id for h in service.search("", expertise="avg")} == {
        alice_uri,
        f"{hr.base}/users/bob",
    }

    # Erik moves to Treasury in the next HR export.
    await _import(finance, HEADER + FINANCE.replace("Analyst,Finance", "Analyst,Treasury"))
    await _settle(world)
    erik = service.get(erik_uri)
    assert erik is not None and erik.profile.department == "Treasury"

    # Search from both department nodes through Mastodon.py: the directory's hits come in.
    hank = client(hr, await _token(hr, "hank"))
    found = await call(hank.search_v2, "subsidieaanvragen", result_type="accounts")
    assert [a.acct for a in found.accounts] == [f"alice@{finance.domain}"]
    # The export is the source of truth: the re-import set her job title back.
    assert found.accounts[0].display_name == "José Álvarez"
    assert ("Functie", "Controller") in [(f.name, f.value) for f in found.accounts[0].fields]
    fay = client(finance, await _token(finance, "fay"))
    found = await call(fay.search_v2, "arbo", result_type="accounts")
    assert [a.acct for a in found.accounts] == [f"bob@{hr.domain}"]
    found = await call(fay.search_v2, "Jose", result_type="accounts")
    assert [a.acct for a in found.accounts] == ["alice"]  # typo- and accent-tolerant, local

    # The organisation-wide handle leads to Alice on Finance.
    found = await call(hank.search_v2, f"alice@{world.directory.domain}", resolve=True)
    assert [a.acct for a in found.accounts] == [f"alice@{finance.domain}"]

    # Erik leaves: the next full import with --prune removes him everywhere.
    without_erik = HEADER + "".join(FINANCE.splitlines(keepends=True)[:2])
    report = await _import(finance, without_erik, prune=True)
    assert report.removed == ["erik", "fay"]  # fay was made by hand, not in the export
    await _settle(world)
    assert service.get(erik_uri) is None
    assert len(service) == 3
    found = await call(hank.search_v2, "Erik Smit", result_type="accounts")
    assert found.accounts == []
