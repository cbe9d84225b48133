"""The compact reader (node.directory.compact) reads a profile exactly as rdflib's JSON-LD parser does.

Every check compares ``ProfileReader.read`` (which takes the compact path whenever the
document is in the contract's form) with ``ProfileReader.read_with_rdflib`` (the
reading through rdflib), and asserts which path was taken, so a test cannot pass by
quietly falling back for everything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitypub.contexts import default_context
from bench.directory import generate
from node.directory.compact import compact_values
from node.directory.profiles import Profile, ProfileError, ProfileReader
from node.federation.person import PERSON_TERMS
from tests.directory.conftest import CONTEXT

READER = ProfileReader()
KANTINE_CONTEXT: list[Any] = [*default_context(), PERSON_TERMS]
ID = "https://finance.example/users/alice"


def _both(doc: dict[str, Any]) -> tuple[Profile | str, Profile | str]:
    """Both readings of *doc*, or the refusal's reason in place of each."""
    out: list[Profile | str] = []
    for read in (READER.read, READER.read_with_rdflib):
        try:
            out.append(read(doc))
        except ProfileError as exc:
            out.append(f"refused: {exc.reason}")
    return out[0], out[1]


def _person(**fields: Any) -> dict[str, Any]:
    """A Person as a Kantine department node pushes it (Mastodon's terms and the contract's)."""
    doc: dict[str, Any] = {
        "@context": KANTINE_CONTEXT,
        "id": ID,
        "type": "Person",
        "preferredUsername": "alice",
        "name": "Alice de Vries",
        "summary": "<p>Controller bij <b>Financiën</b></p>",
        "url": "https://finance.example/@alice",
        "inbox": f"{ID}/inbox",
        "outbox": f"{ID}/outbox",
        "followers": f"{ID}/followers",
        "featured": f"{ID}/collections/featured",
        "featuredTags": f"{ID}/collections/tags",
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": False,
        "published": "2026-11-01T00:00:00Z",
        "endpoints": {"sharedInbox": "https://finance.example/inbox"},
        "publicKey": {"id": f"{ID}#main-key", "owner": ID, "publicKeyPem": "-----BEGIN…"},
        "icon": {"type": "Image", "mediaType": "image/png", "url": "https://finance.example/a.png"},
        "tag": [],
        "schema:jobTitle": "Controller",
        "schema:worksFor": {"type": "schema:Organization", "schema:name": "Financiën"},
        "schema:workLocation": {"type": "schema:Place", "schema:name": "Utrecht"},
        "schema:telephone": "+31 30 123 4567",
        "schema:email": "mailto:alice@finance.example",
        "schema:knowsAbout": ["subsidieaanvragen", "python", "AVG", "Python"],
        "schema:knowsLanguage": ["nl", "en"],
        "org:reportsTo": {"id": "https://finance.example/users/carol"},
        "attachment": [
            {"type": "PropertyValue", "name": "Job title", "value": "Controller"},
            {"type": "PropertyValue", "name": "Afdeling", "value": "Financiën"},
        ],
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def test_generated_profiles_read_alike() -> None:
    for body in generate(300, seed=3):
        doc = json.loads(body)
        assert compact_values(doc) is not None
        fast, slow = _both(doc)
        assert fast == slow


@pytest.mark.parametrize(
    "context", [KANTINE_CONTEXT, CONTEXT, None], ids=["kantine", "contract", "none"]
)
def test_a_department_nodes_push_reads_alike(context: Any) -> None:
    doc = _person(**{"@context": context})
    assert compact_values(doc) is not None
    fast, slow = _both(doc)
    assert fast == slow
    assert isinstance(fast, Profile)
    assert (fast.department, fast.location, fast.reports_to) == (
        "Financiën",
        "Utrecht",
        "https://finance.example/users/carol",
    )
    assert fast.knows_about == ("subsidieaanvragen", "python", "AVG")
    assert fast.summary == "Controller bij Financiën" and fast.email == "alice@finance.example"
    assert fast.icon == "https://finance.example/a.png"


@pytest.mark.parametrize(
    "fields",
    [
        # Another context: a sender's own terms change what keys mean.
        {"@context": [*CONTEXT, {"jobTitle": "schema:jobTitle"}], "jobTitle": "Jurist"},
        {"@context": [*CONTEXT, {"schema": "https://evil.example/"}]},
        {"@context": [CONTEXT[2], *default_context()]},  # Mastodon's "schema" last
        # Keywords, compact IRIs where IRIs go, nodes with ids, typed values.
        {"@id": "https://finance.example/users/mallory"},
        {"url": "schema:alice"},
        {"icon": "_:b0", "schema:worksFor": {"id": "_:b0", "schema:name": "Gotcha"}},
        {"schema:worksFor": {"id": ID}},
        {"schema:jobTitle": {"@value": "Controller", "@language": "nl"}},
        {"schema:jobTitle": 42},
        {"as:name": "Mallory"},
        {"toot:discoverable": {"@id": 5}},
        {"schema:worksFor": {"@id": 5}},
        {"schema:knowsAbout": [["nested"]]},
        {"discoverable": {"@id": 5}},
        {"url": "https://finance.example/@alice smith"},
    ],
)
def test_what_the_compact_reader_leaves_to_rdflib(fields: dict[str, Any]) -> None:
    doc = _person(**fields)
    assert compact_values(doc) is None
    fast, slow = _both(doc)
    assert fast == slow


def test_huge_and_html_fields_are_sanitised_on_the_compact_path() -> None:
    doc = _person(
        name="<script>alert(1)</script><b>Alice</b> " + "a" * 50_000,
        summary="<img src=x onerror=alert(1)>" + "s" * 100_000,
        **{
            "schema:jobTitle": '<img src=x onerror="alert(1)">Controller\x00\x07',
            "schema:knowsAbout": [
                "<i>python</i>",
                "x" * 10_000,
                *[f"topic{i}" for i in range(500)],
            ],
            "schema:worksFor": {"schema:name": "<a href='javascript:alert(1)'>Fin</a>ance"},
        },
    )
    assert compact_values(doc) is not None
    fast, slow = _both(doc)
    assert fast == slow
    assert isinstance(fast, Profile)
    assert fast.name.startswith("Alice aaa") and len(fast.name) <= 300 and "<" not in fast.name
    assert len(fast.summary) <= 2000 and "<" not in fast.summary and "onerror" not in fast.summary
    assert fast.job_title == "Controller"
    assert fast.department == "Finance"
    assert fast.knows_about[0] == "python" and len(fast.knows_about) <= 50
    assert all(len(k) <= 100 for k in fast.knows_about)


# Random documents: keys a profile reads, keys it does not, and values of every shape.
_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "Utrecht",
            "<b>Fin</b>ance",
            "&amp; co",
            "mailto:x@y.example",
            "https://a.example/x",
            "http://a.example/y z",
            "schema:x",
            "_:b1",
            "/relative",
            "\x00\x1f",
        ]
    ),
    st.text(max_size=30),
)
_SCALAR = st.one_of(_TEXT, st.booleans(), st.integers(), st.none())
_NODE_KEYS = st.sampled_from(
    ["type", "name", "schema:name", "url", "href", "mediaType", "id", "@id", "@value", "other"]
)
_NODE = st.dictionaries(_NODE_KEYS, st.one_of(_SCALAR, st.lists(_TEXT, max_size=3)), max_size=4)
_VALUE = st.one_of(
    _SCALAR,
    _NODE,
    st.lists(st.one_of(_TEXT, _NODE, st.integers()), max_size=4),
)
_KEYS = st.sampled_from(
    [
        "name",
        "summary",
        "url",
        "icon",
        "outbox",
        "schema:name",
        "schema:jobTitle",
        "schema:worksFor",
        "schema:department",
        "schema:workLocation",
        "schema:telephone",
        "schema:email",
        "schema:knowsAbout",
        "schema:knowsLanguage",
        "https://schema.org/knowsAbout",
        "http://schema.org/jobTitle",
        "vcard:fn",
        "vcard:hasEmail",
        "vcard:locality",
        "org:memberOf",
        "org:reportsTo",
        "schema:birthDate",
        "toot:x",
        "discoverable",
        "featured",
        "value",
        "inbox",
        "attachment",
        "@type",
    ]
)
_CONTEXTS = st.sampled_from(
    [
        KANTINE_CONTEXT,
        CONTEXT,
        None,
        "https://www.w3.org/ns/activitystreams",
        [*CONTEXT, {"x": "schema:x"}],
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context=_CONTEXTS, fields=st.dictionaries(_KEYS, _VALUE, max_size=8))
def test_random_documents_read_alike(context: Any, fields: dict[str, Any]) -> None:
    doc = {"@context": context, "id": ID, "type": "Person", "preferredUsername": "alice", **fields}
    fast, slow = _both(doc)
    assert fast == slow


# Random documents in the contract's form: the compact path must take every one of them.
_CLEAN_TEXT = st.one_of(_TEXT.filter(lambda t: not t.startswith("http")), st.just("<p>x</p>"))
_URL = st.sampled_from(["https://a.example/x", "http://b.example/y?z=1#f", "https://a.example/ü"])
_NAMED = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["schema:Place", "Image", ["A", "B"]]),
        "schema:name": _CLEAN_TEXT,
        "name": _CLEAN_TEXT,
        "url": _URL,
        "mediaType": st.just("image/png"),
    },
)
_CLEAN = {
    "name": st.one_of(_CLEAN_TEXT, _NAMED),
    "summary": _CLEAN_TEXT,
    "url": st.one_of(_URL, st.lists(st.one_of(_URL, _NAMED), max_size=3)),
    "icon": st.one_of(_URL, _NAMED, st.lists(_NAMED, max_size=3)),
    "schema:jobTitle": st.one_of(_CLEAN_TEXT, st.lists(_CLEAN_TEXT, max_size=3)),
    "schema:worksFor": st.one_of(_CLEAN_TEXT, _NAMED, st.lists(_NAMED, max_size=2)),
    "https://schema.org/workLocation": st.one_of(_CLEAN_TEXT, _NAMED),
    "schema:knowsAbout": st.lists(st.one_of(_CLEAN_TEXT, _NAMED), max_size=60),
    "https://schema.org/knowsAbout": st.lists(_CLEAN_TEXT, max_size=5),
    "org:reportsTo": st.one_of(
        _URL, st.fixed_dictionaries({"id": _URL}, optional={"type": st.just("Person")})
    ),
    "discoverable": st.booleans(),
    "schema:birthDate": _CLEAN_TEXT,
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    context=st.sampled_from([KANTINE_CONTEXT, CONTEXT, None]),
    fields=st.fixed_dictionaries({}, optional=_CLEAN),
)
def test_random_contract_documents_take_the_compact_path(
    context: Any, fields: dict[str, Any]
) -> None:
    doc = {"@context": context, "id": ID, "type": "Person", "preferredUsername": "alice", **fields}
    assert compact_values(doc) is not None
    fast, slow = _both(doc)
    assert fast == slow
