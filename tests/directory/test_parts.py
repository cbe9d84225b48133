"""The directory's parts on their own: settings, the SPARQL guard, search folding, vCard, org chart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import SettingsError, settings_from_mapping
from node.directory.exports import _vcard
from node.directory.graph import Entry
from node.directory.index import SearchIndex, fold
from node.directory.orgchart import org_chart_svg
from node.directory.profiles import Profile, ProfileError, ProfileReader
from node.directory.service import Directory
from node.directory.sparql_guard import QueryRefused, check_query


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"sparql_timeout_seconds": 0}, "directory.sparql_timeout_seconds"),
        ({"sparql_max_results": 0}, "directory.sparql_max_results"),
        ({"sparql_workers": 40}, "directory.sparql_workers"),
        ({"store_path": " "}, "directory.store_path"),
        ({"max_field_chars": 5}, "directory.max_field_chars"),
        ({"colour": "red"}, "directory.colour"),
    ],
)
def test_directory_settings_errors_name_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping({"directory": values}, env={})
    assert caught.value.key == key


def test_a_directory_node_runs_in_one_process() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping({"node": {"role": "directory"}, "server": {"workers": 2}}, env={})
    assert caught.value.key == "server.workers"


def test_directory_settings_defaults_and_environment() -> None:
    settings = settings_from_mapping(
        {"node": {"role": "directory"}}, env={"KANTINE_DIRECTORY_SPARQL_WORKERS": "2"}
    )
    assert settings.directory.sparql_workers == 2
    assert settings.directory.sparql_timeout_seconds == 5.0
    assert settings.directory_store_path.name == "directory-graph"


@pytest.mark.parametrize(
    "query",
    [
        'SELECT * WHERE { ?s ?p "SERVICE <http://x/> { }" }',
        "SELECT * WHERE { ?s <http://example.org/from/load> ?o } # FROM SERVICE LOAD\n",
        "PREFIX service: <http://x/> SELECT ?from WHERE { ?from service:insert ?o }",
        "SELECT * WHERE { ?s ?p '''DELETE\nINSERT''' }",
        "ASK { ?s ?p ?o FILTER(?o < 3) }",
    ],
)
def test_guard_lets_keywords_inside_strings_iris_names_and_comments_pass(query: str) -> None:
    assert check_query(query)


@pytest.mark.parametrize(
    "query",
    [
        "service",
        "SELECT * WHERE { sErViCe <http://x/> { ?s ?p ?o } }",
        "SELECT * WHERE { SERVICE SILENT <http://x/> { ?s ?p ?o } }",
        "SELECT * WHERE { \\U00000053ERVICE <http://x/> { ?s ?p ?o } }",
        "select * from named <http://x/> where { graph ?g { ?s ?p ?o } }",
        "WITH <http://x/> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
        "DROP ALL",
        "SELECT * WHERE { ?s ?p 'open",
        "SELECT * WHERE { ?s ?p \\uD800 }",
    ],
)
def test_guard_refuses(query: str) -> None:
    with pytest.raises(QueryRefused):
        check_query(query)


@given(st.text(max_size=300))
def test_guard_never_crashes(query: str) -> None:
    """Any text is either a query to run or a refusal with a reason (SECURITY.md row 17)."""
    try:
        assert isinstance(check_query(query), str)
    except QueryRefused as exc:
        assert exc.reason


def test_search_is_accent_blind_and_typo_tolerant() -> None:
    index = SearchIndex()
    index.put("a", {"name": ["José Álvarez"], "expertise": ["subsidieaanvragen"]}, {})
    index.put("b", {"name": ["Joost de Vries"], "job": ["Controller"]}, {})
    index.put(
        "c",
        {"name": ["Zoë Çelik"], "department": ["Sociaal Domein"]},
        {"department": ["Sociaal Domein"]},
    )
    assert fold("Zoë Çelik") == "zoe celik"
    assert index.search("jose")[0].person == "a"
    assert index.search("jsoe")[0].person == "a"  # a swapped pair
    assert [h.person for h in index.search("alvarz")] == ["a"]  # a missing letter
    assert [h.person for h in index.search("celik")] == ["c"]
    assert [h.person for h in index.search("subsidie")] == ["a"]  # a prefix
    assert [h.person for h in index.search("joost vries")] == ["b"]
    # A word that matches nothing does not hide what the others find.
    assert [h.person for h in index.search("joost qqxqq")] == ["b"]
    assert index.facet("department", "sociaal domein") == {"c"}
    index.remove("a")
    assert index.search("jose") == [] or index.search("jose")[0].person != "a"
    assert index.search("qqqq") == []


def test_profile_reader_refuses_what_is_not_a_profile() -> None:
    reader = ProfileReader()
    base = {"id": "https://a.example/users/x", "type": "Person", "preferredUsername": "x"}
    assert reader.read(base).name == "x"
    for bad in (
        {**base, "type": "Note"},
        {**base, "id": "ftp://a.example/x"},
        {**base, "preferredUsername": "no spaces please"},
        {**base, "schema:knowsAbout": {"@value": {"nested": True}}},
        {**base, "schema:worksFor": {"type": 5}},
    ):
        with pytest.raises(ProfileError):
            reader.read(bad)


def _entry(name: str, uri: str, manager: str | None = None) -> Entry:
    profile = Profile(
        id=uri, username=uri.rsplit("/", 1)[-1], name=name, job_title="Adviseur", reports_to=manager
    )
    return Entry(profile, f"{profile.username}@org.example")


def test_vcard_escapes_and_folds() -> None:
    entry = _entry("Anaïs, de; Groot " + "x" * 100, "https://a.example/users/anais")
    card = _vcard(entry)
    lines = card.split("\r\n")
    assert lines[0] == "BEGIN:VCARD" and lines[-2] == "END:VCARD"
    assert all(len(line.encode()) <= 75 for line in lines)
    assert "FN:Anaïs\\, de\\; Groot" in card


def test_org_chart_draws_each_person_once_even_in_a_cycle() -> None:
    a = "https://a.example/users/a"
    b = "https://a.example/users/b"
    c = "https://a.example/users/c"
    people = [_entry("<A>", a, manager=c), _entry("B", b, manager=a), _entry("C", c, manager=b)]
    svg = org_chart_svg(people, link=lambda e: e.profile.id, title="T & co")
    assert svg.count("<rect") == 3
    assert "&lt;A&gt;" in svg and "<A>" not in svg and "T &amp; co" in svg


def test_a_person_twice_in_one_batch_is_stored_as_their_last_version(tmp_path: Path) -> None:
    directory = Directory(tmp_path / "graph", base_url="https://dir.example", domain="org.example")
    first = Profile(
        id="https://a.example/users/ann",
        username="ann",
        name="Ann",
        job_title="Adviseur",
        department="Finance",
        knows_about=("AVG",),
    )
    moved = replace(first, job_title="Teamleider", department="HR", knows_about=("python",))
    other = Profile(id="https://a.example/users/bo", username="bo", name="Bo")
    entries = directory.put_many([first, other, moved])
    assert [e.profile for e in entries] == [moved, other]
    stored = {e.profile.id: e.profile for e in directory.graph.entries()}
    assert stored[first.id] == moved  # no second job title, department or expertise
    directory.close()
    reopened = Directory(tmp_path / "graph", base_url="https://dir.example", domain="org.example")
    found = reopened.get(first.id)
    assert found is not None and found.profile == moved
    reopened.close()
