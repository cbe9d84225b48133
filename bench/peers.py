"""Remote peers on loopback: actors with RSA keys, their signed posts, and counting receivers.

Keys are generated and requests signed in a process pool before any timed run: signing
costs ~0.7 ms (PERFORMANCE.md), and a load generator that signs while it sends measures
its own signing, not the node.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from activitypub.keys import (
    generate_private_key,
    load_private_key,
    private_key_to_pem,
    public_key_to_pem,
)
from activitypub.signatures import sign_request

__all__ = [
    "PUBLIC",
    "Receiver",
    "RemoteActor",
    "RemoteHost",
    "SignedPost",
    "create_note",
    "make_actors",
    "sign_posts",
]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_AS2 = "application/activity+json"


@dataclass(frozen=True)
class RemoteActor:
    """An actor on the fake remote host, with its key pair (PEM)."""

    base: str
    username: str
    private_pem: str = field(repr=False)
    public_pem: str

    @property
    def uri(self) -> str:
        return f"{self.base}/users/{self.username}"

    @property
    def key_id(self) -> str:
        return f"{self.uri}#main-key"

    def document(self) -> dict[str, Any]:
        """A Mastodon-shaped ``Person`` (PROTOCOL.md D13)."""
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Person",
            "preferredUsername": self.username,
            "name": self.username.title(),
            "summary": "<p>Remote colleague on the load generator.</p>",
            "inbox": f"{self.uri}/inbox",
            "outbox": f"{self.uri}/outbox",
            "followers": f"{self.uri}/followers",
            "following": f"{self.uri}/following",
            "url": f"{self.base}/@{self.username}",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": self.public_pem},
        }


def _new_key_pair(_: int) -> tuple[str, str]:
    key = generate_private_key()
    return private_key_to_pem(key), public_key_to_pem(key)


def make_actors(base: str, count: int, pool: ProcessPoolExecutor) -> list[RemoteActor]:
    """*count* actors ``user0…`` on *base*, each with a fresh RSA-2048 key."""
    pairs = list(pool.map(_new_key_pair, range(count)))
    return [RemoteActor(base, f"user{i}", priv, pub) for i, (priv, pub) in enumerate(pairs)]


def create_note(
    actor: RemoteActor,
    n: int,
    *,
    mention_uri: str,
    mention_name: str,
    published: datetime | None = None,
) -> bytes:
    """A ``Create(Note)`` as Mastodon sends it: ~600 characters of HTML, a mention, a link, a tag."""
    note_id = f"{actor.uri}/statuses/{n}"
    mention = (
        f'<span class="h-card" translate="no"><a href="{mention_uri}" class="u-url mention">'
        f"@<span>{mention_name}</span></a></span>"
    )
    link = (
        f'<a href="https://intranet.example/reports/q3/{n}" target="_blank" '
        'rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://</span>'
        '<span class="ellipsis">intranet.example/reports/q3</span>'
        f'<span class="invisible">/{n}</span></a>'
    )
    tag = (
        f'<a href="{actor.base}/tags/finance" class="mention hashtag" rel="tag">'
        "#<span>finance</span></a>"
    )
    content = (
        f"<p>{mention} de kwartaalcijfers voor Q3 staan klaar. Omzet, marge en de "
        f"kasstroom zijn bijgewerkt; de toelichting staat hier: {link}</p>"
        f"<p>Vragen graag vóór vrijdag in de thread. {tag}</p>"
    )
    # Mastodon writes ``published`` to the second.
    stamp = (published or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    activity = {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor.uri,
        "published": stamp,
        "to": [PUBLIC],
        "cc": [f"{actor.uri}/followers", mention_uri],
        "object": {
            "id": note_id,
            "type": "Note",
            "summary": None,
            "inReplyTo": None,
            "published": stamp,
            "url": f"{actor.base}/@{actor.username}/{n}",
            "attributedTo": actor.uri,
            "to": [PUBLIC],
            "cc": [f"{actor.uri}/followers", mention_uri],
            "sensitive": False,
            "content": content,
            "contentMap": {"nl": content},
            "attachment": [],
            "tag": [
                {"type": "Mention", "href": mention_uri, "name": f"@{mention_name}"},
                {"type": "Hashtag", "href": f"{actor.base}/tags/finance", "name": "#finance"},
            ],
        },
    }
    return json.dumps(activity, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class SignedPost:
    """A request body and the headers that sign it (draft-cavage, as Mastodon signs)."""

    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)


_KEYS: dict[str, Any] = {}


def _load_keys(pems: dict[str, str]) -> None:
    _KEYS.update({key_id: load_private_key(pem) for key_id, pem in pems.items()})


def _sign_chunk(url: str, chunk: list[tuple[str, bytes]]) -> list[dict[str, str]]:
    return [
        {
            **sign_request(
                method="POST", url=url, key_id=key_id, private_key=_KEYS[key_id], body=body
            ),
            "Content-Type": _AS2,
        }
        for key_id, body in chunk
    ]


def _chunks(items: Sequence[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def sign_posts(
    url: str, posts: Sequence[tuple[RemoteActor, bytes]], *, processes: int = 2
) -> list[SignedPost]:
    """Sign each (actor, body) for a POST to *url*, in *processes* worker processes."""
    pems = {actor.key_id: actor.private_pem for actor, _ in posts}
    items = [(actor.key_id, body) for actor, body in posts]
    with ProcessPoolExecutor(processes, initializer=_load_keys, initargs=(pems,)) as pool:
        futures = [pool.submit(_sign_chunk, url, chunk) for chunk in _chunks(items, 250)]
        headers = [h for future in futures for h in future.result()]
    return [SignedPost(body, h) for (_, body), h in zip(items, headers, strict=True)]


class RemoteHost:
    """The fake remote server: serves actor documents and accepts POSTs to its inboxes."""

    def __init__(self, ip: str, port: int, actors: Sequence[RemoteActor]) -> None:
        self.ip, self.port = ip, port
        self.documents = {f"/users/{a.username}": a.document() for a in actors}
        self.hits: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    async def _get(self, request: web.Request) -> web.Response:
        self.hits["GET"] += 1
        doc = self.documents.get(request.path)
        if doc is None:
            return web.Response(status=404)
        return web.Response(body=json.dumps(doc).encode(), content_type=_AS2)

    async def _post(self, request: web.Request) -> web.Response:
        await request.read()
        self.hits["POST"] += 1
        return web.Response(status=202)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._get)
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.ip, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Receiver:
    """A lightweight peer that counts what its shared inbox receives, with arrival times."""

    def __init__(self, ip: str, port: int) -> None:
        self.ip, self.port = ip, port
        self.arrivals: list[float] = []
        self.signatures: set[str] = set()
        self.bodies: list[bytes] = []
        self._runner: web.AppRunner | None = None
        self._event = asyncio.Event()

    @property
    def host(self) -> str:
        return f"{self.ip}:{self.port}"

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrivals.append(asyncio.get_running_loop().time())
        self.signatures.add(request.headers.get("Signature", ""))
        self.bodies.append(body)
        self._event.set()
        return web.Response(status=202)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.ip, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
