"""Posting and acting on posts from the web pages: each form's validation and CSRF (issue 6).

Every refused form must leave nothing behind (SECURITY.md: negative tests assert that
nothing happened).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from node.appkeys import MEDIA
from node.db.models import Bookmark, Favourite, Status
from tests.conftest import Node
from tests.web.conftest import Browser, BrowserFactory


async def _count(node: Node, model: type, **where: object) -> int:
    async with node.ctx.sessions() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)


async def _post(browser: Browser, text: str, **extra: str) -> int:
    response = await browser.post("/statuses", {"status": text, "visibility": "public", **extra})
    assert response.status == 303, await response.text()
    async with browser.node.ctx.sessions() as session:
        found = await session.scalar(select(Status.id).where(Status.text == text))
    assert found is not None
    return int(found)


async def test_a_post_from_the_composer_shows_on_the_start_page(node: Node, alice: Browser) -> None:
    await _post(alice, "Koffie in de kantine om drie uur #pauze")
    html = await alice.page("/")
    assert "Koffie in de kantine om drie uur" in html
    assert '/tags/pauze"' in html
    assert "Koffie in de kantine" in await alice.page("/local")
    assert "Koffie in de kantine" in await alice.page("/public")
    assert "Koffie in de kantine" in await alice.page("/tags/pauze")
    assert "Koffie in de kantine" in await alice.page("/@alice")


async def test_content_warning_and_local_only_visibility(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    status_id = await _post(
        alice, "Binnenkort: reorganisatie", spoiler_text="Werk", visibility="local"
    )
    async with node.ctx.sessions() as session:
        status = await session.get(Status, status_id)
        assert status is not None
        assert status.visibility == "local"
        assert status.summary == "Werk"
    html = await alice.page(f"/statuses/{status_id}")
    assert "<summary>Werk</summary>" in html


async def test_composer_validation_keeps_the_text_and_posts_nothing(
    node: Node, alice: Browser
) -> None:
    before = await _count(node, Status)
    for data, message in [
        ({"status": "   "}, "Write something first."),
        ({"status": "x" * 5001}, "at most 5000 characters"),
        ({"status": "hallo", "spoiler_text": "w" * 501}, "at most 500 characters"),
        ({"status": "hallo", "visibility": "everyone"}, "Choose who can see the post."),
        ({"status": "hallo", "in_reply_to_id": "abc"}, "does not exist"),
        ({"status": "hallo", "in_reply_to_id": "12345"}, "does not exist"),
    ]:
        response = await alice.post("/statuses", data)
        assert response.status == 422, data
        assert message in await response.text()
    assert await _count(node, Status) == before


async def test_composer_without_csrf_token_posts_nothing(node: Node, alice: Browser) -> None:
    response = await alice.post("/statuses", {"status": "forged"}, csrf="")
    assert response.status == 403
    response = await alice.post("/statuses", {"status": "forged"}, csrf="not-the-token")
    assert response.status == 403
    assert await _count(node, Status) == 0


async def test_a_token_of_another_session_is_refused(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    bob = await browser_factory(node)
    await bob.login("bob")
    bobs_token = re.search(r'name="csrf_token" value="([^"]+)"', await bob.page("/"))
    assert bobs_token
    response = await alice.post("/statuses", {"status": "cross"}, csrf=bobs_token.group(1))
    assert response.status == 403
    assert await _count(node, Status) == 0


async def test_like_boost_bookmark_one_tap_each_and_undo(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    status_id = await _post(alice, "Wie heeft de sleutel van de fietsenstalling?")
    bob = await browser_factory(node)
    await bob.login("bob")
    for verb, model, where in [
        ("favourite", Favourite, {"status_id": status_id}),
        ("bookmark", Bookmark, {"status_id": status_id}),
        ("boost", Status, {"reblog_of_id": status_id}),
    ]:
        response = await bob.post(f"/statuses/{status_id}/{verb}", {"next": "/public"})
        assert response.status == 303
        assert response.headers["Location"] == "/public"
        assert await _count(node, model, **where) == 1, verb
        response = await bob.post(f"/statuses/{status_id}/un{verb}", {"next": "/public"})
        assert await _count(node, model, **where) == 0, verb
    await bob.post(f"/statuses/{status_id}/bookmark", {})
    assert "fietsenstalling" in await bob.page("/bookmarks")


async def test_actions_answer_json_for_fetch(node: Node, alice: Browser) -> None:
    status_id = await _post(alice, "Lunchwandeling om twaalf uur")
    token = re.search(r'data-csrf="([^"]+)"', await alice.page("/"))
    assert token
    async with alice.http.post(
        alice.url(f"/statuses/{status_id}/favourite"),
        headers={"Accept": "application/json", "X-CSRF-Token": token.group(1)},
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert body["ok"] is True
    assert 'aria-pressed="true"' in body["html"]


async def test_actions_without_csrf_change_nothing(node: Node, alice: Browser) -> None:
    status_id = await _post(alice, "Niet liken zonder token")
    for verb in ("favourite", "boost", "bookmark", "delete"):
        response = await alice.post(f"/statuses/{status_id}/{verb}", {}, csrf="forged")
        assert response.status == 403, verb
    assert await _count(node, Favourite) == 0
    assert await _count(node, Bookmark) == 0
    assert await _count(node, Status) == 1


async def test_edit_and_delete_own_post_only(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    status_id = await _post(alice, "Eerste versie")
    bob = await browser_factory(node)
    await bob.login("bob")
    assert (await bob.get(f"/statuses/{status_id}/edit"))[0] == 404
    response = await bob.post(f"/statuses/{status_id}/edit", {"status": "gekaapt"})
    assert response.status == 404
    response = await bob.post(f"/statuses/{status_id}/delete", {})
    assert response.status == 404
    edit_form = await alice.page(f"/statuses/{status_id}/edit")
    assert "Eerste versie" in edit_form
    response = await alice.post(f"/statuses/{status_id}/edit", {"status": " "})
    assert response.status == 422
    response = await alice.post(f"/statuses/{status_id}/edit", {"status": "Tweede versie"})
    assert response.status == 303
    assert "Tweede versie" in await alice.page(f"/statuses/{status_id}")
    response = await alice.post(f"/statuses/{status_id}/edit", {"status": "csrf"}, csrf="x")
    assert response.status == 403
    response = await alice.post(f"/statuses/{status_id}/delete", {"next": f"/statuses/{status_id}"})
    assert response.status == 303
    assert response.headers["Location"] == "/"
    assert await _count(node, Status) == 0


async def test_reply_from_the_thread_page(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    status_id = await _post(alice, "Wie gaat er mee naar de vrijdagborrel?")
    bob = await browser_factory(node)
    await bob.login("bob")
    thread = await bob.page(f"/statuses/{status_id}")
    assert f'name="in_reply_to_id" value="{status_id}"' in thread
    response = await bob.post(
        "/statuses",
        {"status": "@alice ik!", "in_reply_to_id": str(status_id), "visibility": "public"},
        form_page=f"/statuses/{status_id}",
    )
    assert response.status == 303
    assert "ik!" in await alice.page(f"/statuses/{status_id}")
    assert "mentioned you" in await alice.page("/notifications")


async def test_someone_elses_private_post_is_not_found(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    status_id = await _post(alice, "Alleen voor volgers", visibility="private")
    bob = await browser_factory(node)
    await bob.login("bob")
    assert (await bob.get(f"/statuses/{status_id}"))[0] == 404
    response = await bob.post(f"/statuses/{status_id}/favourite", {})
    assert response.status == 404
    assert await _count(node, Favourite) == 0


async def test_mentions_and_hashtags_link_to_these_pages(
    node: Node, alice: Browser, browser_factory: BrowserFactory
) -> None:
    await _post(alice, "@bob kijk even naar #planning en https://example.com/tags/python")
    html = await alice.page("/")
    assert 'href="/@bob"' in html
    assert 'href="/tags/planning"' in html
    assert 'href="https://example.com/tags/python"' in html  # an ordinary link stays


def _png() -> bytes:
    from node.api.mastodon.placeholders import solid_png

    return solid_png(64, 48, (40, 120, 200))


async def test_a_photo_with_alt_text_from_the_composer(node: Node, alice: Browser) -> None:
    import aiohttp

    token = re.search(r'name="csrf_token" value="([^"]+)"', await alice.page("/"))
    assert token
    form = aiohttp.FormData()
    form.add_field("csrf_token", token.group(1))
    form.add_field("status", "Het nieuwe kantoor")
    form.add_field("visibility", "public")
    form.add_field("photo1", _png(), filename="kantoor.png", content_type="image/png")
    form.add_field("alt1", "Een lichte ruimte met planten en lange tafels")
    async with alice.http.post(alice.url("/statuses"), data=form, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    html = await alice.page("/")
    assert 'alt="Een lichte ruimte met planten en lange tafels"' in html
    assert "<figcaption>Een lichte ruimte met planten en lange tafels</figcaption>" in html
    src = re.search(r'<img src="([^"]+/media/[^"]+)"', html)
    assert src
    async with alice.http.get(src.group(1)) as response:
        assert response.status == 200
        assert response.content_type.startswith("image/")


async def test_a_bad_photo_posts_nothing_and_keeps_no_file(node: Node, alice: Browser) -> None:
    import aiohttp

    from node.db.models import MediaAttachment

    token = re.search(r'name="csrf_token" value="([^"]+)"', await alice.page("/"))
    assert token
    for photo, alt in [(b"not a picture at all", "x"), (_png(), "a" * 1501)]:
        form = aiohttp.FormData()
        form.add_field("csrf_token", token.group(1))
        form.add_field("status", "Met een kapotte foto")
        form.add_field("photo1", photo, filename="x.png", content_type="image/png")
        form.add_field("alt1", alt)
        async with alice.http.post(alice.url("/statuses"), data=form) as response:
            assert response.status == 422
    assert await _count(node, Status) == 0
    assert await _count(node, MediaAttachment) == 0
    directory = node.app[MEDIA].directory
    assert not directory.exists() or not any(directory.iterdir())
