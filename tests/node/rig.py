"""A hermetic federation world for negative tests: remote peers that record what they see.

A :class:`Peer` is a real aiohttp app on a loopback address with its own actors and RSA
keys; it answers WebFinger, actor and object GETs, accepts inbox POSTs, and records every
request it receives, so a test can assert that a node made *no* outbound request.
:func:`post_activity` signs with :func:`activitypub.signatures.sign_request` and can
break one thing at a time (the signature matrix); :func:`snapshot` counts the rows of
every table a side effect could touch, so a test asserts ``after == before``
(SECURITY.md §1: "a negative test that asserts that nothing happened").
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from activitypub.keys import generate_private_key, public_key_to_pem
from activitypub.signatures import sign_request
from node.db.models import (
    Account,
    Block,
    Delivery,
    Favourite,
    Follow,
    HomeFeedEntry,
    InboxItem,
    Mention,
    Notification,
    OutboxActivity,
    Status,
    StatusEdit,
    Tombstone,
)
from tests.conftest import Node, free_port

__all__ = [
    "AS2",
    "PUBLIC",
    "Peer",
    "PeerFactory",
    "Reply",
    "Seen",
    "c2s",
    "changed",
    "peers",
    "post_activity",
    "signed_get",
    "snapshot",
]

AS2 = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
_ids = itertools.count(1)
# RSA key generation is the slow part of starting a peer; a few keys serve every test,
# each one to a single actor per test.
_KEYS: list[rsa.RSAPrivateKey] = []


def _key(index: int) -> rsa.RSAPrivateKey:
    while len(_KEYS) <= index:
        _KEYS.append(generate_private_key())
    return _KEYS[index]


@dataclass(frozen=True)
class Seen:
    """One request a peer received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Peer:
    """A remote server on ``host:port`` with actors ``names``; it records every request."""

    host: str
    port: int
    keys: dict[str, rsa.RSAPrivateKey]
    #: Extra or replaced fields per actor document (``None`` removes a field).
    patches: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Objects served by path (``/notes/1``), as the peer's authors published them.
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    #: Seconds the peer takes to answer a POST (a slow receiver, for crash tests).
    post_delay: float = 0.0

    @property
    def domain(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.domain}"

    def actor(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def key_id(self, name: str) -> str:
        return f"{self.actor(name)}#main-key"

    def new_id(self, name: str, kind: str = "activities") -> str:
        """A fresh id on this peer, under the actor's path."""
        return f"{self.actor(name)}/{kind}/{next(_ids)}"

    def actor_document(self, name: str) -> dict[str, Any]:
        uri = self.actor(name)
        doc: dict[str, Any] = {
            "@context": _CONTEXT,
            "id": uri,
            "type": "Person",
            "preferredUsername": name,
            "inbox": f"{uri}/inbox",
            "outbox": f"{uri}/outbox",
            "followers": f"{uri}/followers",
            "following": f"{uri}/following",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {
                "id": self.key_id(name),
                "owner": uri,
                "publicKeyPem": public_key_to_pem(self.keys[name]),
            },
        }
        for key, value in self.patches.get(name, {}).items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        return doc

    def requests(self, method: str | None = None) -> list[Seen]:
        """What the peer received (all, or one method), in order."""
        return [s for s in self.seen if method is None or s.method == method]

    def delivered(self) -> list[dict[str, Any]]:
        """The JSON bodies POSTed to any inbox of this peer."""
        return [json.loads(s.body) for s in self.seen if s.method == "POST"]

    def note(self, name: str, content: str = "hello", **fields: Any) -> dict[str, Any]:
        """A public Note by *name*, not yet served (put it in ``documents`` to serve it)."""
        return {
            "id": self.new_id(name, "statuses"),
            "type": "Note",
            "attributedTo": self.actor(name),
            "content": f"<p>{content}</p>",
            "to": [PUBLIC],
            "cc": [f"{self.actor(name)}/followers"],
            **fields,
        }

    def serve(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Serve *doc* at the path of its id; returns it."""
        path = str(doc["id"]).removeprefix(self.base)
        self.documents[path] = {"@context": _CONTEXT[0], **doc}
        return doc

    def activity(self, name: str, kind: str, obj: Any, **fields: Any) -> dict[str, Any]:
        """An activity by *name* (a fresh id, addressed like its object when it has one)."""
        doc: dict[str, Any] = {
            "@context": _CONTEXT[0],
            "id": self.new_id(name),
            "type": kind,
            "actor": self.actor(name),
            "object": obj,
        }
        if isinstance(obj, dict) and "to" in obj:
            doc["to"], doc["cc"] = obj["to"], obj.get("cc", [])
        doc.update(fields)
        return doc

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(request.method, request.path, request.query_string, dict(request.headers), body)
        )
        if request.method == "POST":
            await asyncio.sleep(self.post_delay)
            return web.json_response({}, status=202)
        if request.path == "/.well-known/webfinger":
            resource = request.query.get("resource", "").removeprefix("acct:")
            name, _, host = resource.partition("@")
            if host != self.domain or name not in self.keys:
                return web.json_response({"error": "not found"}, status=404)
            return web.json_response(
                {
                    "subject": f"acct:{name}@{self.domain}",
                    "links": [{"rel": "self", "type": AS2, "href": self.actor(name)}],
                },
                content_type="application/jrd+json",
            )
        name = request.path.removeprefix("/users/")
        if name in self.keys:
            return _as2(self.actor_document(name))
        if request.path in self.documents:
            return _as2(self.documents[request.path])
        return web.json_response({"error": "not found"}, status=404)


def _as2(doc: Mapping[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), content_type=AS2)


PeerFactory = Callable[..., Awaitable[Peer]]


@asynccontextmanager
async def peers() -> AsyncIterator[PeerFactory]:
    """Start peers with ``await make(host, "alice", "bob")``; all stop on exit."""
    runners: list[web.AppRunner] = []
    # Every actor of one test gets its own key, so no key confusion can pass unnoticed.
    handed_out = itertools.count()

    async def make(host: str, *names: str) -> Peer:
        port = free_port(host)
        peer = Peer(host, port, {name: _key(next(handed_out)) for name in names})
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", peer._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
        return peer

    try:
        yield make
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


@dataclass(frozen=True)
class Reply:
    """A node's answer: the status and the JSON body (``{}`` when it was not JSON)."""

    status: int
    body: dict[str, Any]


async def _send(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.request(method, url, data=body, headers=dict(headers)) as response,
    ):
        raw = await response.read()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {}
    return Reply(response.status, parsed if isinstance(parsed, dict) else {"value": parsed})


async def post_activity(
    node: Node,
    peer: Peer,
    name: str,
    activity: Mapping[str, Any] | None = None,
    *,
    inbox: str = "/inbox",
    body: bytes | None = None,
    key_id: str | None = None,
    private_key: rsa.RSAPrivateKey | None = None,
    sign_method: str = "POST",
    sign_url: str | None = None,
    signed_body: bytes | None = None,
    now: datetime | None = None,
    content_type: str = AS2,
    sign_body: bool = True,
    headers: Mapping[str, str] | None = None,
    edit: Callable[[dict[str, str]], None] | None = None,
) -> Reply:
    """Sign *activity* (or raw *body*) as *name* of *peer* and POST it to the node's *inbox*.

    Each keyword breaks one thing: sign another method, URL or body than the one sent,
    leave the body out of the signature, use another key, shift the clock, replace
    ``headers`` or ``edit`` them after signing.
    """
    if body is None:
        body = json.dumps(activity).encode()
    url = f"{node.base}{inbox}"
    sent = {
        "Content-Type": content_type,
        **sign_request(
            method=sign_method,
            url=sign_url or url,
            key_id=key_id or peer.key_id(name),
            private_key=private_key or peer.keys[name],
            body=None if not sign_body else body if signed_body is None else signed_body,
            now=now,
        ),
        **(headers or {}),
    }
    if edit is not None:
        edit(sent)
    return await _send("POST", url, sent, body)


async def signed_get(
    url: str,
    peer: Peer | None = None,
    name: str = "",
    *,
    sign_url: str | None = None,
    private_key: rsa.RSAPrivateKey | None = None,
) -> Reply:
    """GET *url* as a peer would: signed by *name* of *peer*, or unsigned without a peer.

    *sign_url* or *private_key* break the signature: signed for another URL, or with
    another key than the one *name* publishes."""
    sent = {"Accept": AS2}
    if peer is not None:
        sent.update(
            sign_request(
                method="GET",
                url=sign_url or url,
                key_id=peer.key_id(name),
                private_key=private_key or peer.keys[name],
            )
        )
    return await _send("GET", url, sent, None)


async def c2s(node: Node, user: str, token: str, activity: Mapping[str, Any]) -> Reply:
    """POST *activity* to *user*'s outbox with a bearer token, as a client would (AP §6)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": AS2}
    url = f"{node.base}/users/{user}/outbox"
    return await _send("POST", url, headers, json.dumps(activity).encode())


_TABLES = {
    "accounts": Account,
    "statuses": Status,
    "status_edits": StatusEdit,
    "mentions": Mention,
    "follows": Follow,
    "favourites": Favourite,
    "blocks": Block,
    "notifications": Notification,
    "home_feed": HomeFeedEntry,
    "inbox_items": InboxItem,
    "outbox_activities": OutboxActivity,
    "deliveries": Delivery,
    "tombstones": Tombstone,
}


async def snapshot(node: Node) -> dict[str, int]:
    """Row counts of every table a received activity could write to."""
    counts: dict[str, int] = {}
    async with node.ctx.sessions() as session:
        for name, table in _TABLES.items():
            counts[name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts


def changed(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """The tables whose row count differs, with (before, after)."""
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}
