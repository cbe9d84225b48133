"""NodeInfo 2.0/2.1 documents and host-meta (PROTOCOL.md D8-D12).

``jsonschema`` is not a dependency, so ``assert_valid`` encodes the published schemas'
rules (http://nodeinfo.diaspora.software/ns/schema/2.0 and 2.1): required keys,
``additionalProperties: false`` objects, enums, types and minimums.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from xml.etree import ElementTree

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from activitypub.client import FederationClient, make_session
from activitypub.hosts import StaticHostPolicy
from activitypub.nodeinfo import (
    NODEINFO_CONTENT_TYPE,
    host_meta_xml,
    nodeinfo_content_type,
    nodeinfo_document,
    nodeinfo_links,
)
from tests.activitypub.resolvers import FixedResolver as LoopbackResolver

PROTOCOLS = {
    "activitypub",
    "buddycloud",
    "dfrn",
    "diaspora",
    "libertree",
    "ostatus",
    "pumpio",
    "tent",
    "xmpp",
    "zot",
}
INBOUND = {
    "2.0": {"atom1.0", "gnusocial", "imap", "pnut", "pop3", "pumpio", "rss2.0", "twitter"},
    "2.1": {"atom1.0", "gnusocial", "imap", "pnut", "pop3", "pumpio", "rss2.0", "twitter"},
}
OUTBOUND = {
    "atom1.0", "blogger", "buddycloud", "diaspora", "dreamwidth", "drupal", "facebook",
    "friendica", "gnusocial", "google", "insanejournal", "libertree", "linkedin",
    "livejournal", "mediagoblin", "myspace", "pinterest", "pnut", "posterous", "pumpio",
    "redmatrix", "rss2.0", "smtp", "tent", "tumblr", "twitter", "wordpress", "xmpp",
}  # fmt: skip


def assert_keys(value: Any, *, required: set[str], allowed: set[str]) -> None:
    assert isinstance(value, dict)
    assert required <= value.keys(), f"missing {required - value.keys()}"
    assert value.keys() <= allowed, f"not allowed: {value.keys() - allowed}"


def assert_count(value: Any) -> None:
    assert isinstance(value, int) and not isinstance(value, bool) and value >= 0


def assert_valid(doc: dict[str, Any], version: Literal["2.0", "2.1"]) -> None:
    """The essential rules of the NodeInfo ``version`` JSON schema."""
    top = {"version", "software", "protocols", "services", "openRegistrations", "usage"}
    assert_keys(doc, required=top | {"metadata"}, allowed=top | {"metadata"})
    assert doc["version"] == version
    software_keys = {"name", "version"} | (
        {"repository", "homepage"} if version == "2.1" else set()
    )
    assert_keys(doc["software"], required={"name", "version"}, allowed=software_keys)
    assert all(isinstance(v, str) for v in doc["software"].values())
    assert re.fullmatch(r"[a-z0-9-]+", doc["software"]["name"])
    assert isinstance(doc["protocols"], list) and len(doc["protocols"]) >= 1
    assert set(doc["protocols"]) <= PROTOCOLS
    assert_keys(doc["services"], required={"inbound", "outbound"}, allowed={"inbound", "outbound"})
    assert set(doc["services"]["inbound"]) <= INBOUND[version]
    assert set(doc["services"]["outbound"]) <= OUTBOUND
    assert isinstance(doc["openRegistrations"], bool)
    usage = doc["usage"]
    assert_keys(usage, required={"users"}, allowed={"users", "localPosts", "localComments"})
    assert_keys(usage["users"], required=set(), allowed={"total", "activeHalfyear", "activeMonth"})
    for value in [*usage["users"].values(), usage.get("localPosts", 0)]:
        assert_count(value)
    assert isinstance(doc["metadata"], dict)


def make(version: Literal["2.0", "2.1"], **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "software_name": "kantine",
        "software_version": "0.1.0",
        "open_registrations": False,
        "total_users": 42,
        "active_month": 7,
        "active_halfyear": 30,
        "local_posts": 1234,
        "metadata": {"nodeName": "HR", "nodeDescription": "Human resources"},
        "repository": "https://git.example.org/kantine",
        "homepage": "https://kantine.example.org",
    }
    arguments.update(overrides)
    return nodeinfo_document(version, **arguments)


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_nodeinfo_document_validates(version: Literal["2.0", "2.1"]) -> None:
    doc = make(version)
    assert_valid(doc, version)
    assert doc["protocols"] == ["activitypub"]
    assert doc["usage"] == {
        "users": {"total": 42, "activeHalfyear": 30, "activeMonth": 7},
        "localPosts": 1234,
    }
    assert doc["metadata"]["nodeName"] == "HR"
    json.dumps(doc)  # serialisable as is


def test_repository_and_homepage_only_in_2_1() -> None:
    assert "repository" not in make("2.0")["software"]
    assert make("2.1")["software"] == {
        "name": "kantine",
        "version": "0.1.0",
        "repository": "https://git.example.org/kantine",
        "homepage": "https://kantine.example.org",
    }
    assert make("2.1", repository=None, homepage=None)["software"].keys() == {"name", "version"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"software_name": "Kantine"},
        {"software_name": "kan tine"},
        {"software_name": ""},
        {"total_users": -1},
        {"local_posts": -5},
        {"active_month": True},
    ],
)
def test_nodeinfo_document_refuses_schema_violations(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make("2.1", **overrides)


def test_nodeinfo_links_lists_both_versions() -> None:
    for base in ("https://hr.example.org", "https://hr.example.org/"):
        assert nodeinfo_links(base) == {
            "links": [
                {
                    "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                    "href": "https://hr.example.org/nodeinfo/2.0",
                },
                {
                    "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                    "href": "https://hr.example.org/nodeinfo/2.1",
                },
            ]
        }


def test_nodeinfo_content_type() -> None:
    assert nodeinfo_content_type("2.1") == (
        'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    )
    assert NODEINFO_CONTENT_TYPE("2.0") == nodeinfo_content_type("2.0")


def test_host_meta_points_at_webfinger() -> None:
    xml = host_meta_xml("https://hr.example.org/")
    # Our own output, not untrusted input, so the stdlib parser is fine here.
    root = ElementTree.fromstring(xml)  # noqa: S314
    ns = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"
    assert root.tag == f"{ns}XRD"
    links = root.findall(f"{ns}Link")
    assert [(link.get("rel"), link.get("template")) for link in links] == [
        ("lrdd", "https://hr.example.org/.well-known/webfinger?resource={uri}")
    ]


def test_host_meta_escapes_the_base_url() -> None:
    xml = host_meta_xml('https://h.test/a&b"<c>')
    root = ElementTree.fromstring(xml)  # noqa: S314
    link = root.find("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    assert link is not None
    assert link.get("template") == 'https://h.test/a&b"<c>/.well-known/webfinger?resource={uri}'


async def test_nodeinfo_served_and_fetched_over_loopback(aiohttp_server: AiohttpServer) -> None:
    """A peer's discovery document and 2.1 document pass the client's JRD guards."""

    async def well_known(request: web.Request) -> web.StreamResponse:
        base = f"http://{request.host}"
        return web.json_response(nodeinfo_links(base))

    async def document(request: web.Request) -> web.StreamResponse:
        body = json.dumps(make("2.1")).encode()
        return web.Response(body=body, headers={"Content-Type": nodeinfo_content_type("2.1")})

    app = web.Application()
    app.router.add_get("/.well-known/nodeinfo", well_known)
    app.router.add_get("/nodeinfo/2.1", document)
    server = await aiohttp_server(app)
    host = f"hr.test:{server.port}"
    policy = StaticHostPolicy(mode="allowlist", allow=frozenset({host}))
    http = make_session(policy=policy, open_mode=False, inner_resolver=LoopbackResolver())
    try:
        client = FederationClient(http, policy=policy, allow_http=True)
        links = await client.fetch_jrd(f"http://{host}/.well-known/nodeinfo")
        href = links["links"][-1]["href"]
        assert href == f"http://{host}/nodeinfo/2.1"
        assert_valid(await client.fetch_jrd(href), "2.1")
    finally:
        await http.close()
