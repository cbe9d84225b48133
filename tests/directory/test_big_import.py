"""A 10,000-line HR export full of bad rows (issue 5, "Bad input"; department nodes on SQLite
and PostgreSQL).

Each bad row gets its own error with its line and column, the good rows are imported and
reach the directory, and a refused row leaves nothing behind. Most bad rows here are refused
while the file is read (cheap); the few refused by the profile rules show that a row that
passed reading can still fail whole. (The time a 10,000-row import of good people takes is
measured in bench/people_import.py, not here.)
"""

from __future__ import annotations

import io
from collections import Counter

from sqlalchemy import func, select

from node.db.models import Account, Profile
from node.services.people_import import import_people
from node.services.roster import read_roster
from tests.directory.conftest import World

HEADER = "username,display name,email,job title,department,location,phone,expertise,languages,manager username\n"
LINES = 10_000
#: Every 500th line is a good person: p0002, p0502, …
GOOD_EVERY = 500


def _export() -> tuple[bytes, dict[int, str], set[str]]:
    """The file, the column each bad line must be refused on, and the good user names."""
    out = io.StringIO()
    out.write(HEADER)
    expected: dict[int, str] = {}
    good: set[str] = set()
    kinds = ("username", "row", "duplicate", "cell", "empty")
    for line in range(2, LINES + 1):
        name = f"p{line:04d}"
        if line % GOOD_EVERY == 2:
            out.write(f"{name},Persoon {line},,Adviseur,Finance,Utrecht,+31 30 {line},python,nl,\n")
            good.add(name)
            continue
        if line % GOOD_EVERY == 7:  # passes reading, refused by the profile rules
            out.write(f"{name},Persoon {line},,Adviseur,Finance,Utrecht,bel me,python,nl,\n")
            expected[line] = "phone"
            continue
        kind = kinds[line % len(kinds)]
        if kind == "username":
            out.write(f"Naam {line}!,Iemand,,,,,,,,\n")
        elif kind == "row":
            out.write(f"{name},Iemand,,,,,,,,,teveel\n")
        elif kind == "duplicate":
            out.write("p0002,Nog een keer,,,,,,,,\n")
        elif kind == "cell":
            out.write(f"{name},{'x' * 5000},,,,,,,,\n")
        else:
            out.write(",Zonder naam,,,,,,,,\n")
        expected[line] = {"row": "row", "cell": "display_name"}.get(kind, "username")
    return out.getvalue().encode(), expected, good


async def test_ten_thousand_lines_with_bad_rows(world: World) -> None:
    data, expected, good = _export()
    assert data.count(b"\n") == LINES
    finance = world.finance
    report = await import_people(finance.ctx, read_roster("hr-export.csv", data))
    assert sorted(report.created) == sorted(good)
    refused = {error.line: error.column for error in report.errors}
    assert len(report.errors) == len(refused)  # one error per bad row
    columns = Counter(refused.values())
    assert refused.keys() == expected.keys(), columns
    wrong = {
        line: (refused[line], column)
        for line, column in expected.items()
        if refused[line] != column
    }
    assert wrong == {}
    messages = {error.line: str(error) for error in report.errors}
    assert messages[12] == "line 12, username: p0002 is already on line 2"
    assert messages[4] == "line 4, username: is empty"
    assert messages[7] == "line 7, phone: expected digits, spaces and + ( ) - . / only"
    # Nothing half-done: only the good people have an account and a profile.
    async with finance.ctx.sessions() as session:
        people = set(
            await session.scalars(
                select(Account.username).where(
                    Account.local.is_(True), Account.actor_type == "Person"
                )
            )
        )
        profiles = await session.scalar(select(func.count()).select_from(Profile))
    assert people == good and profiles == len(good)
    # The good rows reach the directory.
    for _ in range(3):
        await finance.settle()
        await world.directory.settle()
    for name in good:
        entry = world.service.get(f"{finance.base}/users/{name}")
        assert entry is not None, name
        assert entry.profile.location == "Utrecht"
    assert len(world.service) == len(good)
