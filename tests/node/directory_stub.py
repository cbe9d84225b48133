"""A small stand-in for the directory node on loopback: a signed inbox, the search API and
WebFinger for organisation-wide handles, as the directory contract describes them.

It checks every signature with the key it fetches from the signer's own node (no shortcuts),
records what arrived, and answers searches with what the test told it to.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from activitypub.errors import SignatureError
from activitypub.keys import load_public_key
from activitypub.signatures import parse_signed_request

__all__ = ["DirectoryStub", "Received"]


@dataclass(frozen=True)
class Received:
    """One signed request the stub accepted or refused."""

    method: str
    path: str
    key_id: str
    verified: bool
    body: dict[str, Any] | None


@dataclass
class DirectoryStub:
    """Inbox at ``/inbox``, search at ``/directory/api/search``, WebFinger for org handles."""

    ip: str
    received: list[Received] = field(default_factory=list)
    #: What the search API answers: the ``results`` list of the contract.
    results: list[dict[str, Any]] = field(default_factory=list)
    #: Org handles: user name → actor id on the person's own node.
    handles: dict[str, str] = field(default_factory=dict)
    #: When set, the search API does not answer (the directory is down or hangs).
    hang: bool = False
    #: Keys fetched before, as a real directory stores them: a removed person's node
    #: answers 410 for the actor, but their ``Delete`` is signed with the key we know.
    keys: dict[str, str] = field(default_factory=dict)
    #: Keys whose actor answered 410 Gone.
    gone: set[str] = field(default_factory=set)
    _server: TestServer | None = None

    @property
    def domain(self) -> str:
        assert self._server is not None
        return f"{self.ip}:{self._server.port}"

    @property
    def base(self) -> str:
        return f"http://{self.domain}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/inbox", self._inbox)
        app.router.add_get("/directory/api/search", self._search)
        app.router.add_get("/.well-known/webfinger", self._webfinger)
        self._server = TestServer(app, host=self.ip, port=0)
        await self._server.start_server()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _verified(self, request: web.Request, body: bytes | None) -> tuple[str, bool]:
        try:
            signed = parse_signed_request(
                method=request.method, url=str(request.url), headers=request.headers, body=body
            )
        except SignatureError:
            return "", False
        if signed.key_id not in self.keys:
            owner = signed.key_id.split("#")[0]
            async with (
                aiohttp.ClientSession() as http,
                http.get(owner, headers={"Accept": "application/activity+json"}) as response,
            ):
                if response.status != 200:
                    self.gone.add(signed.key_id) if response.status == 410 else None
                    return signed.key_id, False
                actor = json.loads(await response.read())
            self.keys[signed.key_id] = actor["publicKey"]["publicKeyPem"]
        try:
            signed.verify(load_public_key(self.keys[signed.key_id]))
        except SignatureError:
            return signed.key_id, False
        return signed.key_id, True

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        key_id, verified = await self._verified(request, body)
        activity = json.loads(body)
        self.received.append(Received("POST", request.path, key_id, verified, activity))
        if verified:
            return web.Response(status=202)
        if (
            key_id in self.gone
            and activity.get("type") == "Delete"
            and activity.get("actor") == activity.get("object")
        ):
            return web.Response(status=202)  # an unknown actor deleting itself (S15)
        return web.Response(status=401)

    async def _search(self, request: web.Request) -> web.Response:
        key_id, verified = await self._verified(request, None)
        self.received.append(Received("GET", request.path_qs, key_id, verified, None))
        if not verified:
            return web.json_response({"error": "not signed"}, status=401)
        if self.hang:
            await asyncio.sleep(30)
        return web.json_response({"results": self.results})

    async def _webfinger(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        user = resource.removeprefix("acct:").split("@")[0]
        actor = self.handles.get(user)
        if actor is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(
            {
                "subject": f"acct:{user}@{self.domain}",
                "aliases": [actor],
                "links": [
                    {"rel": "self", "type": "application/activity+json", "href": actor},
                ],
            },
            content_type="application/jrd+json",
        )

    def actor_deletes(self) -> list[str]:
        """Actors whose ``Delete`` of themselves arrived (verified, or gone as S15 allows)."""
        return [
            r.body["actor"]
            for r in self.received
            if r.method == "POST"
            and r.body
            and r.body.get("type") == "Delete"
            and (r.verified or r.key_id in self.gone)
        ]

    def inbox_bodies(self) -> list[dict[str, Any]]:
        """The verified activities the inbox received, oldest first."""
        return [r.body for r in self.received if r.method == "POST" and r.verified and r.body]
