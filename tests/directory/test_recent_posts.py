"""A person's recent posts on their directory page: only public ones, cached, and never a 500.

The cache is driven against a real peer on loopback (an aiohttp app serving an outbox as a
node does) with an injected clock; the page is driven against the world's real Finance node,
first with posts of every visibility, then with Finance gone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from activitypub.client import FederationClient, Signer
from activitypub.hosts import StaticHostPolicy
from activitypub.keys import generate_private_key
from activitypub.sanitize import HtmlSanitizer
from node.db.models import Account
from node.directory.posts import RecentPosts
from node.services.profile import ProfileChange, change_profile
from node.services.statuses import post_status
from tests.directory.conftest import World

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


class Peer:
    """A node on loopback serving Alice's outbox; tests change what it serves."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.failing = False
        self.fetches = 0
        self.server: TestServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def alice(self) -> str:
        return f"{self.base}/users/alice"

    def note(
        self,
        n: int,
        text: str,
        *,
        to: list[str],
        cc: list[str] | None = None,
        author: str | None = None,
        kind: str = "Create",
    ) -> dict[str, Any]:
        note = {
            "id": f"{self.alice}/statuses/{n}",
            "type": "Note",
            "attributedTo": author or self.alice,
            "content": f"<p>{text}</p>",
            "published": f"2026-11-{n:02d}T09:00:00Z",
            "url": f"{self.base}/@alice/{n}",
            "to": to,
            "cc": cc or [],
        }
        return {
            "id": f"{self.alice}/statuses/{n}/activity",
            "type": kind,
            "actor": self.alice,
            "object": note,
        }

    async def outbox(self, request: web.Request) -> web.StreamResponse:
        self.fetches += 1
        if self.failing:
            return web.Response(status=503, text="down for maintenance")
        url = f"{self.alice}/outbox"
        if "page" not in request.query:
            document: dict[str, Any] = {
                "id": url,
                "type": "OrderedCollection",
                "first": f"{url}?page=true",
            }
        else:
            document = {
                "id": f"{url}?page=true",
                "type": "OrderedCollectionPage",
                "orderedItems": self.items,
            }
        return web.json_response(
            {"@context": "https://www.w3.org/ns/activitystreams", **document},
            content_type="application/activity+json",
        )


@pytest.fixture
async def peer() -> Any:
    found = Peer()
    app = web.Application()
    app.router.add_get("/users/alice/outbox", found.outbox)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    found.server = server
    yield found
    await server.close()


@pytest.fixture
async def posts_with_clock(peer: Peer) -> Any:
    """The directory's post cache over a real client, its clock in the test's hand."""
    host = peer.base.split("://", 1)[1]
    policy = StaticHostPolicy(mode="allowlist", allow=frozenset({host}))
    now = [1000.0]
    async with aiohttp.ClientSession() as http:
        client = FederationClient(http, policy=policy, allow_http=True, trusted_hosts=policy.allows)
        signer = Signer("http://127.0.0.61/actor#main-key", generate_private_key())
        cache = RecentPosts(
            client, lambda: signer, HtmlSanitizer(), ttl=300.0, clock=lambda: now[0]
        )
        yield cache, now


async def test_only_the_persons_own_public_posts_are_shown_sanitised(
    peer: Peer, posts_with_clock: Any
) -> None:
    cache, _now = posts_with_clock
    followers = f"{peer.alice}/followers"
    peer.items = [
        peer.note(1, "Openbaar <script>alert(1)</script>bericht", to=[PUBLIC], cc=[followers]),
        peer.note(2, "Niet vermeld", to=[followers], cc=[PUBLIC]),
        peer.note(3, "Alleen volgers", to=[followers]),
        peer.note(4, "Direct aan Bob", to=[f"{peer.base}/users/bob"]),
        peer.note(5, "Van iemand anders", to=[PUBLIC], author=f"{peer.base}/users/mallory"),
        peer.note(6, "Een boost", to=[PUBLIC], kind="Announce"),
        peer.note(7, "Als:Public", to=["as:Public"]),
    ]
    shown = await cache.recent(peer.alice, f"{peer.alice}/outbox")
    assert shown is not None
    assert [p.url for p in shown] == [f"{peer.base}/@alice/1", f"{peer.base}/@alice/7"]
    assert "<script>" not in shown[0].html and "Openbaar" in shown[0].html
    assert shown[0].published == "2026-11-01"
    # An outbox on another host is not the person's: nothing is fetched from it.
    before = peer.fetches
    assert await cache.recent("http://127.0.0.62:9/users/alice", f"{peer.alice}/outbox") == []
    assert peer.fetches == before


async def test_the_cache_expires_and_a_failure_is_remembered_briefly(
    peer: Peer, posts_with_clock: Any
) -> None:
    cache, now = posts_with_clock
    outbox = f"{peer.alice}/outbox"
    peer.items = [peer.note(1, "Eerste", to=[PUBLIC])]
    first = await cache.recent(peer.alice, outbox)
    assert first is not None and [p.html for p in first] == ["<p>Eerste</p>"]
    fetched = peer.fetches
    peer.items = [peer.note(2, "Tweede", to=[PUBLIC]), *peer.items]
    now[0] += 299  # within posts_cache_seconds: the cached answer, no request
    assert await cache.recent(peer.alice, outbox) == first
    assert peer.fetches == fetched
    now[0] += 2  # expired: asked again
    second = await cache.recent(peer.alice, outbox)
    assert second is not None and [p.html for p in second] == ["<p>Tweede</p>", "<p>Eerste</p>"]
    assert peer.fetches > fetched
    # Their node fails: no posts (None, "could not be fetched"), remembered for a minute.
    peer.failing = True
    now[0] += 301
    assert await cache.recent(peer.alice, outbox) is None
    peer.failing = False
    fetched = peer.fetches
    now[0] += 59
    assert await cache.recent(peer.alice, outbox) is None
    assert peer.fetches == fetched
    now[0] += 2
    assert await cache.recent(peer.alice, outbox) == second


async def _person_page(world: World, account: Account) -> tuple[int, str]:
    url = f"{world.directory.base}/directory/people?id={quote(account.uri, safe='')}&lang=en"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_the_page_shows_public_posts_and_survives_their_node_going_down(
    world: World,
) -> None:
    finance = world.finance.ctx
    alice, _ = await world.finance.user("alice")
    bob, _ = await world.finance.user("bob")
    async with finance.sessions() as session, session.begin():
        for person, name in ((alice, "Alice Jansen"), (bob, "Bob de Vries")):
            row = await session.get(Account, person.id)
            assert row is not None
            await change_profile(
                finance, session, row, ProfileChange(display_name=name, job_title="Adviseur")
            )
        author = await session.scalar(select(Account).where(Account.id == alice.id))
        assert author is not None
        for text, visibility in (
            ("Openbaar: de nieuwe subsidieregeling", "public"),
            ("Niet vermeld: lunch om twaalf", "unlisted"),
            ("Alleen volgers: conceptbegroting", "private"),
            ("@bob direct: jouw beoordeling", "direct"),
        ):
            await post_status(finance, session, author, text, visibility=visibility)
    await world.finance.settle()
    await world.directory.settle()

    status, html = await _person_page(world, alice)
    assert status == 200
    assert "Openbaar: de nieuwe subsidieregeling" in html
    for hidden in ("Niet vermeld", "conceptbegroting", "jouw beoordeling"):
        assert hidden not in html

    # Finance goes down: Bob's page (not cached yet) still answers, without posts.
    await world.finance.stop()
    status, html = await _person_page(world, bob)
    assert status == 200, html[:300]
    assert "Bob de Vries" in html and "Adviseur" in html
    assert "The posts could not be fetched." in html
