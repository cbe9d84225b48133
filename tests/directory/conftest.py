"""A directory node and two department nodes on loopback, and helpers to push profiles.

:func:`push` sends what a department node sends (directory contract §1–2): a signed
``Update``/``Create``/``Delete`` whose object is the person's actor document as their node
serves it, plus the schema.org profile terms, signed with the person's own key, to the
directory's shared inbox.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from activitypub.keys import load_private_key
from activitypub.signatures import sign_request
from config import settings_from_mapping
from node.app import create_app
from node.db.models import Account
from node.directory.appkeys import DIRECTORY
from node.directory.service import Directory
from tests.conftest import DatabaseUrlFactory, Node, free_port
from tests.node.rig import AS2, PUBLIC, Reply

__all__ = ["CONTEXT", "World", "person_doc", "push", "sparql"]

CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/v1",
    {
        "schema": "http://schema.org/",
        "org": "http://www.w3.org/ns/org#",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]
_ids = itertools.count(1)


@dataclass
class World:
    """The directory and the Finance and HR department nodes."""

    directory: Node
    finance: Node
    hr: Node

    @property
    def service(self) -> Directory:
        return self.directory.app[DIRECTORY]


async def _start(
    name: str,
    host: str,
    database_url: str,
    *,
    role: str = "department",
    allow: tuple[str, ...] = (),
    data_dir: Path,
    federation: Mapping[str, Any] | None = None,
    directory: Mapping[str, Any] | None = None,
) -> Node:
    port = free_port(host)
    settings = settings_from_mapping(
        {
            "node": {
                "role": role,
                "domain": f"{host}:{port}",
                "base_url": f"http://{host}:{port}",
                "name": name,
                "data_dir": str(data_dir),
            },
            "server": {"host": host, "port": port},
            "database": {"url": database_url, "pool_size": 5},
            "federation": {"allow_http": True, "allow": list(allow), **(federation or {})},
            "directory": dict(directory or {}),
        },
        env={},
    )
    app = create_app(settings, run_workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return Node(name, host, port, app, runner)


@pytest.fixture
async def world(database_url_factory: DatabaseUrlFactory, tmp_path: Path) -> AsyncIterator[World]:
    """Directory on 127.0.0.61, Finance on .62, HR on .63; all allow each other."""
    hosts = {"directory": "127.0.0.61", "finance": "127.0.0.62", "hr": "127.0.0.63"}
    allow = tuple(hosts.values())
    nodes: list[Node] = []
    try:
        directory = await _start(
            "Wie is wie",
            hosts["directory"],
            await database_url_factory("directory", migrated=True),
            role="directory",
            allow=allow,
            data_dir=tmp_path / "directory",
            directory={"sparql_timeout_seconds": 2.0, "sparql_max_results": 50},
        )
        nodes.append(directory)
        for name in ("Finance", "HR"):
            node = await _start(
                name,
                hosts[name.lower()],
                await database_url_factory(name.lower(), migrated=True),
                allow=allow,
                data_dir=tmp_path / name.lower(),
                federation={"directory": directory.base},
            )
            nodes.append(node)
        yield World(*nodes)
    finally:
        for node in reversed(nodes):
            await node.stop()


async def person_doc(node: Node, username: str, **profile: Any) -> dict[str, Any]:
    """The person's actor document as their node serves it, plus the contract's profile terms."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{node.base}/users/{username}", headers={"Accept": AS2}) as response,
    ):
        assert response.status == 200, await response.text()
        doc: dict[str, Any] = json.loads(await response.read())
    doc["@context"] = CONTEXT
    for key, value in profile.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


async def push(
    directory: Node,
    account: Account,
    kind: str,
    obj: Any,
    *,
    actor: str | None = None,
    signer: Account | None = None,
    body: bytes | None = None,
) -> Reply:
    """Sign *kind* of *obj* as *account* (or *signer*'s key) and POST it to the directory's inbox."""
    actor = actor or account.uri
    key_owner = signer or account
    activity = {
        "@context": CONTEXT,
        "id": f"{actor}#profile/{next(_ids)}",
        "type": kind,
        "actor": actor,
        "object": obj,
        "to": [PUBLIC],
    }
    data = body if body is not None else json.dumps(activity).encode()
    url = f"{directory.base}/inbox"
    assert key_owner.private_key_pem is not None
    headers = {
        "Content-Type": AS2,
        **sign_request(
            method="POST",
            url=url,
            key_id=key_owner.public_key_id,
            private_key=load_private_key(key_owner.private_key_pem),
            body=data,
        ),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=data, headers=headers) as response,
    ):
        raw = await response.read()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {}
    reply = Reply(response.status, parsed if isinstance(parsed, dict) else {})
    await directory.settle()
    return reply


async def sparql(
    directory: Node,
    query: str,
    *,
    method: str = "GET",
    accept: str = "application/sparql-results+json",
    form: bool = False,
) -> tuple[int, str, str]:
    """Ask the directory's SPARQL endpoint; (status, content type, body)."""
    url = f"{directory.base}/sparql"
    headers = {"Accept": accept}
    async with aiohttp.ClientSession() as http:
        if method == "GET":
            request = http.get(url, params={"query": query}, headers=headers)
        elif form:
            request = http.post(url, data={"query": query}, headers=headers)
        else:
            headers["Content-Type"] = "application/sparql-query"
            request = http.post(url, data=query.encode(), headers=headers)
        async with request as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()
