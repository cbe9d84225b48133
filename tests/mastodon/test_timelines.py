"""Timelines, and who sees what on every read path (PROTOCOL.md C6, C21; SECURITY.md rows 11–12).

``MAY_SEE`` is the one table of visibility × viewer; every read path is checked against it.
The IDOR test finds every Mastodon route with an ``{id}`` by itself, so a new route cannot
forget the check.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import func, select

from node.app import MASTODON_ROUTES
from node.db.models import Favourite, MediaAttachment, Notification, Status
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.own_resources import own_resources, snapshot

VIEWERS = ("anonymous", "stranger", "follower", "mentioned", "author")
VISIBILITIES = ("public", "unlisted", "private", "direct")

#: The one table: may this viewer see a post of this visibility?
MAY_SEE: dict[str, dict[str, bool]] = {
    "public": dict.fromkeys(VIEWERS, True),
    "unlisted": dict.fromkeys(VIEWERS, True),
    "private": {
        "anonymous": False,
        "stranger": False,
        "follower": True,
        "mentioned": True,
        "author": True,
    },
    "direct": {
        "anonymous": False,
        "stranger": False,
        "follower": False,
        "mentioned": True,
        "author": True,
    },
}


@dataclass
class World:
    node: Node
    tokens: dict[str, str | None]
    root: int
    posts: dict[str, int]


async def _world(make_node: NodeFactory) -> World:
    """alice (author) posts under her public root, once per visibility, mentioning dave;
    carol follows her; erin is a stranger. Each post is liked and tagged."""
    node = await make_node("finance", "127.0.0.2")
    alice, alice_token = await node.user("alice")
    _carol, carol_token = await node.user("carol")
    _dave, dave_token = await node.user("dave")
    _erin, erin_token = await node.user("erin")
    api = client(node, alice_token)
    await call(client(node, carol_token).account_follow, alice.id)
    root = await call(api.status_post, "Draad #matrix")
    posts = {}
    for visibility in VISIBILITIES:
        post = await call(
            api.status_post,
            f"@dave {visibility} #matrix",
            in_reply_to_id=root.id,
            visibility=visibility,
        )
        await call(api.status_favourite, post.id)
        posts[visibility] = int(post.id)
    tokens = {
        "anonymous": None,
        "stranger": erin_token,
        "follower": carol_token,
        "mentioned": dave_token,
        "author": alice_token,
    }
    return World(node, tokens, int(root.id), posts)


async def _ids(node: Node, path: str, token: str | None) -> set[int]:
    status, body = await raw(node, "GET", path, token)
    assert status == 200, (path, body)
    found = set()
    for item in body["descendants"] if isinstance(body, dict) else body:
        found.add(int(item["id"]))
        if item.get("reblog"):
            found.add(int(item["reblog"]["id"]))
    return found


async def test_visibility_matrix(make_node: NodeFactory) -> None:
    world = await _world(make_node)
    node = world.node
    _, me = await raw(node, "GET", "/api/v1/accounts/verify_credentials", world.tokens["author"])
    alice_id = me["id"]
    failures = []
    for viewer in VIEWERS:
        token = world.tokens[viewer]
        thread = await _ids(node, f"/api/v1/statuses/{world.root}/context", token)
        profile = await _ids(node, f"/api/v1/accounts/{alice_id}/statuses?limit=40", token)
        public = await _ids(node, "/api/v1/timelines/public?limit=40", token)
        tagged = await _ids(node, "/api/v1/timelines/tag/matrix?limit=40", token)
        home = await _ids(node, "/api/v1/timelines/home", token) if token else set()
        for visibility, post in world.posts.items():
            may = MAY_SEE[visibility][viewer]
            found = {
                "show": (await raw(node, "GET", f"/api/v1/statuses/{post}", token))[0] == 200,
                "own context": (await raw(node, "GET", f"/api/v1/statuses/{post}/context", token))[
                    0
                ]
                == 200,
                "favourited_by": (
                    await raw(node, "GET", f"/api/v1/statuses/{post}/favourited_by", token)
                )[0]
                == 200,
                "reblogged_by": (
                    await raw(node, "GET", f"/api/v1/statuses/{post}/reblogged_by", token)
                )[0]
                == 200,
                "history": (await raw(node, "GET", f"/api/v1/statuses/{post}/history", token))[0]
                == 200,
                "thread": post in thread,
                "account statuses": post in profile,
            }
            for path, seen in found.items():
                if seen != may:
                    failures.append((visibility, viewer, path, seen))
            # Timelines show a subset of what one may see: the public ones only public posts.
            for path, ids, expected in (
                ("public timeline", public, may and visibility == "public"),
                ("tag timeline", tagged, may and visibility == "public"),
            ):
                if (post in ids) != expected:
                    failures.append((visibility, viewer, path, post in ids))
            if post in home and not may:
                failures.append((visibility, viewer, "home timeline", True))
    assert failures == []


async def test_idor_every_id_route(make_node: NodeFactory) -> None:
    """Another user gets 404 on every route with an id for alice's direct post and her
    notifications — and nothing changes (SECURITY.md rows 11, 22)."""
    world = await _world(make_node)
    node = world.node
    carol_token = world.tokens["follower"]
    assert carol_token is not None
    async with node.ctx.sessions() as session:
        notification = await session.scalar(select(Notification.id).limit(1))
    assert notification is not None  # carol's follow of alice
    _, me = await raw(node, "GET", "/api/v1/accounts/verify_credentials", world.tokens["author"])
    # alice's unposted picture: only she may read or describe it.
    picture = io.BytesIO()
    Image.new("RGB", (4, 4)).save(picture, "PNG")
    form = aiohttp.FormData()
    form.add_field("file", picture.getvalue(), filename="a.png", content_type="image/png")
    form.add_field("description", "alice's")
    _, media = await raw(node, "POST", "/api/v2/media", world.tokens["author"], data=form)
    # follow_requests/{id} names an account: carol has no pending request from alice.
    targets = {
        "statuses": world.posts["direct"],
        "notifications": notification,
        "follow_requests": int(me["id"]),
        "media": int(media["id"]),
    }
    # Lists, conversations, filters and scheduled posts: one of each of alice's, per route.
    author = world.tokens["author"]
    assert author is not None
    _, dave = await raw(node, "GET", "/api/v1/accounts/lookup?acct=dave", author)
    await raw(node, "POST", f"/api/v1/accounts/{dave['id']}/follow", author)
    own = await own_resources(node, author, world.posts["direct"], int(dave["id"]))
    before = await snapshot(node, author, own)
    # Account routes are public by design (as on Mastodon); what they list is checked above.
    public_by_design = {"accounts"}
    probed = 0
    for table in MASTODON_ROUTES:
        for route in table:
            path = getattr(route, "path", "")
            if "{id}" not in path or path.endswith("/"):
                continue
            resource = path.split("/")[3]
            if resource in public_by_design:
                continue
            key = path if path in own else resource
            assert key in targets or key in own, f"classify {path} for the IDOR test"
            url = path.replace("{id}", str(own[key] if key in own else targets[key]))
            method = str(getattr(route, "method", ""))
            for token in (carol_token, None):
                status, body = await raw(node, method, url, token)
                allowed = {404} if token else {401, 404}
                assert status in allowed, (method, path, status, body)
            probed += 1
    assert probed >= 14 + len(own)
    assert await snapshot(node, author, own) == before
    async with node.ctx.sessions() as session:
        direct = await session.get(Status, world.posts["direct"])
        assert direct is not None and direct.reblogs_count == 0 and direct.favourites_count == 1
        likes = await session.scalar(
            select(func.count()).select_from(Favourite).where(Favourite.status_id == direct.id)
        )
        assert likes == 1
        assert await session.get(Notification, notification) is not None
        picture_row = await session.get(MediaAttachment, int(media["id"]))
        assert picture_row is not None and picture_row.description == "alice's"


async def test_home_public_and_tag_timelines(pair: Pair) -> None:
    finance, hr = pair.finance, pair.hr
    alice = client(finance, pair.alice_token)
    bob = client(hr, pair.bob_token)
    bob_here = await call(alice.account_lookup, f"bob@{hr.domain}")
    await call(alice.account_follow, bob_here.id)
    await settle(finance, hr)
    remote = [await call(bob.status_post, f"HR nieuws {i} #Nieuws") for i in range(3)]
    # Settled first: a remote post's id comes from its published second and its arrival.
    await settle(finance, hr)
    local = await call(alice.status_post, "Finance nieuws #nieuws")
    quiet = await call(alice.status_post, "Stil", visibility="unlisted")
    await settle(finance, hr)

    home = await call(alice.timeline_home, limit=2)
    assert [s.content for s in home] == [quiet.content, local.content]
    older = await call(alice.fetch_next, home)
    assert older is not None and len(older) == 2 and all("HR nieuws" in s.content for s in older)
    newer = await call(alice.timeline_home, since_id=older[0].id)
    assert [s.id for s in newer] == [quiet.id, local.id]

    everywhere = await call(alice.timeline_public)
    assert len(everywhere) == 4  # unlisted stays out of the public timelines
    here = await call(alice.timeline_public, local=True)
    assert [s.id for s in here] == [local.id]
    there = await call(alice.timeline_public, remote=True)
    assert len(there) == 3 and all(s.account.acct == f"bob@{hr.domain}" for s in there)
    tagged = await call(alice.timeline_hashtag, "nieuws")
    assert len(tagged) == 4
    tagged_here = await call(alice.timeline_hashtag, "Nieuws", local=True)
    assert [s.id for s in tagged_here] == [local.id]
    status, body = await raw(finance, "GET", "/api/v1/timelines/home?limit=1", pair.alice_token)
    assert status == 200 and len(body) == 1
    assert remote[0].id != local.id


@pytest.mark.parametrize("path", ["/api/v1/timelines/public", "/api/v1/timelines/tag/x"])
async def test_anonymous_timelines_answer(make_node: NodeFactory, path: str) -> None:
    node = await make_node("finance", "127.0.0.2")
    status, body = await raw(node, "GET", path)
    assert (status, body) == (200, [])
