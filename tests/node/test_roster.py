"""Reading HR exports: any text gives people or per-line errors, never an exception."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from node.services.roster import read_csv, read_ldif, read_roster

__all__: list[str] = []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_is_read_without_exceptions(text: str) -> None:
    for roster in (read_csv(text), read_ldif(text), read_roster("x.csv", text.encode())):
        assert all(e.line >= 1 and e.reason for e in roster.errors)
        assert len({p.username for p in roster.people}) == len(roster.people)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=500))
def test_any_bytes_are_read_without_exceptions(data: bytes) -> None:
    roster = read_roster("x.ldif", data)
    assert all(e.line >= 1 for e in roster.errors)


def test_csv_columns_quotes_and_blank_lines() -> None:
    text = "Gebruikersnaam;x\n"  # no username column: one error, nothing read
    roster = read_csv(text)
    assert [str(e) for e in roster.errors] == ["line 1, header: no username column"]
    text = (
        "Username,Naam,Expertise,Unknown\n"
        "\n"
        'alice,"de Boer, Alice","AVG; python ;",x\n'
        '"bob","Bob ""B"" Smit",,\n'
    )
    roster = read_csv(text)
    assert roster.errors == []
    alice, bob = roster.people
    assert (alice.line, alice.display_name, alice.expertise) == (
        3,
        "de Boer, Alice",
        ("AVG", "python"),
    )
    assert (bob.line, bob.display_name, bob.expertise) == (4, 'Bob "B" Smit', ())
    assert alice.email is None  # no such column: left alone


def test_ldif_folding_base64_options_and_manager_dns() -> None:
    name = base64.b64encode("Zoë".encode()).decode()
    text = (
        "dn: uid=zoe,dc=x\nuid: zoe\ncn;lang-nl:: " + name + "\nmanager: cn=Boss,dc=x\n\n"
        "dn: cn=Boss,dc=x\nobjectClass: person\nuid: BOSS\ntitle: Direct\n eur\n"
    )
    roster = read_ldif(text)
    assert roster.errors == []
    zoe, boss = roster.people
    assert (zoe.display_name, zoe.manager) == ("Zoë", "boss")
    assert (boss.username, boss.job_title) == ("boss", "Directeur")
