"""The reading pages: paging, profiles with follow/unfollow, search, and the live stream
(issue 6). Forms are checked for validation and CSRF rejection as everywhere."""

from __future__ import annotations

import asyncio
import json
import re

from sqlalchemy import func, select

from node.db.models import Follow
from node.services.statuses import post_status
from tests.conftest import Node, NodeFactory
from tests.web.conftest import PASSWORD, Browser, BrowserFactory


async def _posts(node: Node, username: str, texts: list[str], visibility: str = "public") -> None:
    async with node.ctx.sessions() as session, session.begin():
        from node.services.accounts import local_account

        author = await local_account(session, node.ctx.domain, username)
        assert author is not None
        for text in texts:
            await post_status(node.ctx, session, author, text, visibility=visibility)


async def test_older_links_page_through_a_long_timeline(node: Node, alice: Browser) -> None:
    await _posts(node, "alice", [f"Bericht nummer {n:03d}" for n in range(45)])
    first = await alice.page("/")
    assert first.count('<article class="status"') == 40
    assert "Bericht nummer 044" in first
    older = re.search(r'href="(/\?max_id=\d+)" rel="next"', first)
    assert older, "no older link on a full page"
    second = await alice.page(older.group(1))
    assert second.count('<article class="status"') == 5
    assert "Bericht nummer 000" in second
    assert 'rel="next"' not in second
    local = await alice.page("/local")
    assert re.search(r'href="/local\?max_id=\d+" rel="next"', local)


async def test_follow_and_unfollow_from_a_profile(node: Node, alice: Browser) -> None:
    profile = await alice.page("/@bob")
    bob_id = re.search(r'action="/accounts/(\d+)/follow"', profile)
    assert bob_id
    response = await alice.post(f"/accounts/{bob_id.group(1)}/follow", {}, csrf="forged")
    assert response.status == 403

    async def follows() -> int:
        async with node.ctx.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Follow)) or 0)

    assert await follows() == 0
    response = await alice.post(f"/accounts/{bob_id.group(1)}/follow", {"next": "/@bob"})
    assert response.status == 303
    assert await follows() == 1
    assert 'action="/accounts/' + bob_id.group(1) + '/unfollow"' in await alice.page("/@bob")
    response = await alice.post(f"/accounts/{bob_id.group(1)}/unfollow", {}, csrf="forged")
    assert await follows() == 1
    await alice.post(f"/accounts/{bob_id.group(1)}/unfollow", {})
    assert await follows() == 0
    response = await alice.post("/accounts/999999/follow", {})
    assert response.status == 404


async def test_search_finds_people_posts_and_hashtags(node: Node, alice: Browser) -> None:
    await _posts(node, "bob", ["Het jaarplan staat online #strategie"])
    html = await alice.page("/search?q=bo")
    assert 'href="/@bob"' in html
    html = await alice.page("/search?q=jaarplan")
    assert "Het jaarplan staat online" in html
    html = await alice.page("/search?q=%23strat")
    assert 'href="/tags/strategie"' in html
    html = await alice.page("/search?q=" + "x" * 2000)  # long input is cut, not an error
    assert "No people found." in html


async def test_remote_handles_are_resolved_by_search_and_profile(
    make_node: NodeFactory, browser_factory: BrowserFactory
) -> None:
    finance = await make_node("finance", "127.0.0.2", allow=("127.0.0.3",))
    hr = await make_node("hr", "127.0.0.3", allow=("127.0.0.2",))
    await finance.user("alice", password=PASSWORD, display_name="Alice Jansen")
    await hr.user("bob", password=PASSWORD)
    bob = await browser_factory(hr)
    await bob.login("bob")
    html = await bob.page(f"/search?q=alice@{finance.domain}")
    assert "Alice Jansen" in html
    assert f'href="/@alice@{finance.domain}"' in html
    assert "Alice Jansen" in await bob.page(f"/@alice@{finance.domain}")
    status, _ = await bob.get("/@alice@127.0.0.9")  # not allowlisted: never fetched
    assert status == 404


async def _read_event(stream: object, wanted: str) -> dict[str, object]:
    from aiohttp import StreamReader

    assert isinstance(stream, StreamReader)
    event = ""
    while True:
        line = (await asyncio.wait_for(stream.readline(), 10)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == wanted:
            data: dict[str, object] = json.loads(line[6:])
            return data


async def test_the_stream_brings_new_posts_and_notifications_live(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    bob = await browser_factory(node)
    await bob.login("bob")
    await bob.post(
        "/accounts/"
        + re.search(  # type: ignore[union-attr]
            r'action="/accounts/(\d+)/follow"', await bob.page("/@alice")
        ).group(1)
        + "/follow",
        {},
    )
    async with bob.http.get(bob.url("/stream/user")) as stream:
        assert stream.status == 200
        assert stream.content_type == "text/event-stream"
        await _posts(node, "alice", ["Live: de lift is weer gerepareerd"])
        data = await _read_event(stream.content, "post")
        assert "de lift is weer gerepareerd" in str(data["html"])
        assert 'action="/statuses/' in str(data["html"])
    async with alice.http.get(alice.url("/stream/user")) as stream:
        status_id = re.search(r'data-id="(\d+)"', await alice.page("/"))
        assert status_id
        await bob.post(f"/statuses/{status_id.group(1)}/favourite", {})
        data = await _read_event(stream.content, "notification")
        assert "liked your post" in str(data["html"])


async def test_the_stream_needs_a_session_and_ends_with_it(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    stranger = await browser_factory(node)
    status, _ = await stranger.get("/stream/user")
    assert status == 303
    assert (await alice.get("/stream/nonsense"))[0] == 404
    async with alice.http.get(alice.url("/stream/user")) as stream:
        await alice.post("/logout", {}, form_page="/local")
        # The bus checks sessions twice a second; the stream then ends.
        rest = await asyncio.wait_for(stream.content.read(), 10)
        assert b"event: post" not in rest


async def test_filters_made_in_an_app_apply_to_the_pages(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    from tests.mastodon.conftest import call, client

    async with node.ctx.sessions() as session:
        from node.auth.tokens import issue_token
        from node.services.accounts import local_account

        me = await local_account(session, node.ctx.domain, "alice")
        assert me is not None
    async with node.ctx.sessions() as session, session.begin():
        token = await issue_token(session, me, "read write follow")
    app = client(node, token)
    await call(
        app.create_filter_v2, "Eten", ["home", "public"], "warn",
        keywords_attributes=[{"keyword": "lunch", "whole_word": True}],
    )  # fmt: skip
    await call(
        app.create_filter_v2, "Parkeren", ["public"], "hide",
        keywords_attributes=[{"keyword": "parkeren"}],
    )  # fmt: skip
    await _posts(node, "bob", ["Lunch in de kantine", "Parkeren kan weer achter", "Gewoon nieuws"])
    html = await alice.page("/local")
    assert "<summary>Filtered: Eten</summary>" in html
    assert "Parkeren kan weer" not in html
    assert "Gewoon nieuws" in html
