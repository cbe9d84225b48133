"""The pages in a real browser: Chromium driven by Playwright (issue 6).

Few and broad on purpose (one browser per test, SQLite only: the server-side tests cover
both databases): two people on two nodes on loopback, a live post with a photo, a like and its
notification; the language switch; a keyboard-only flow; axe-core on every page at phone
and desktop width, with screenshots under tests/artifacts/.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from node.api.mastodon.placeholders import solid_png
from node.db.models import Account
from node.services.site import Link, set_links
from node.services.statuses import post_status
from tests.conftest import Node, NodeFactory
from tests.web.browser import ARTIFACTS, DESKTOP, PHONE, axe_violations, chromium, page_problems
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def db_kind() -> str:
    """Browser tests run on SQLite only (the server-side tests cover PostgreSQL)."""
    return "sqlite"


async def _login(page: Any, node: Node, username: str) -> None:
    await page.goto(node.base + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("form.login button[type=submit], .login button[type=submit]")
    await page.wait_for_url(node.base + "/")


async def test_a_post_reaches_another_node_live_and_its_like_comes_back(
    make_node: NodeFactory,
) -> None:
    finance = await make_node("Finance", "127.0.0.2", allow=("127.0.0.3",), workers=True)
    hr = await make_node("HR", "127.0.0.3", allow=("127.0.0.2",), workers=True)
    await finance.user("alice", password=PASSWORD, display_name="Alice Jansen")
    await hr.user("bob", password=PASSWORD, display_name="Bob de Vries")
    async with chromium() as browser:
        alice = await (await browser.new_context(viewport=DESKTOP)).new_page()
        bob = await (await browser.new_context(viewport=PHONE)).new_page()
        errors: list[str] = []
        for page in (alice, bob):
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await _login(alice, finance, "alice")
        await _login(bob, hr, "bob")
        # Bob follows Alice on the other node, by handle, from her profile page.
        await bob.goto(f"{hr.base}/@alice@{finance.domain}")
        await bob.click("button:has-text('Follow')")
        for _ in range(40):  # requested until Alice's node accepts
            if await bob.locator("button:has-text('Unfollow')").count():
                break
            await asyncio.sleep(0.5)
            await bob.reload()
        else:
            pytest.fail("the follow was never accepted")
        await bob.goto(hr.base + "/")
        # Alice posts from the composer; Bob's open start page shows it without a reload.
        await alice.fill("#composer-text", "De nieuwe koffiemachine staat op de derde verdieping")
        await alice.click(".composer-photos summary")
        await alice.set_input_files(
            "#composer-photo1",
            {
                "name": "koffie.png",
                "mimeType": "image/png",
                "buffer": solid_png(120, 80, (90, 60, 40)),
            },
        )
        await alice.fill("#composer-alt1", "Een glimmende koffiemachine op een aanrecht")
        await alice.click(".composer button[type=submit]")
        await alice.wait_for_selector("article.status:has-text('koffiemachine')")
        post = bob.locator("article.status", has_text="koffiemachine")
        await post.wait_for(timeout=20_000)
        photo = post.locator("img[alt='Een glimmende koffiemachine op een aanrecht']")
        await photo.wait_for()
        assert await photo.evaluate("img => img.complete && img.naturalWidth > 0")
        # Alice waits on her notifications page; Bob likes the post with one tap.
        await alice.goto(finance.base + "/notifications")
        await post.locator("button.action-favourite").click()
        await bob.wait_for_selector("article.status button.action-favourite[aria-pressed=true]")
        await alice.wait_for_selector(
            ".notification-favourite:has-text('Bob de Vries')", timeout=20_000
        )
        assert "liked your post" in await alice.inner_text(".notification-favourite")
        await alice.screenshot(path=str(ARTIFACTS / "live-notification-1440.png"))
        await bob.screenshot(path=str(ARTIFACTS / "live-post-360.png"))
        assert not [e for e in errors if "Content Security Policy" in e], errors


async def _seed(node: Node) -> int:
    """A small, realistic start page: links, posts, a reply, a like; alice is admin."""
    async with node.ctx.sessions() as session, session.begin():
        await set_links(
            session,
            [
                Link("Rooster", "https://rooster.example/", "Diensten en verlof"),
                Link("Declaraties", "https://declaraties.example/", "Reiskosten en uitgaven"),
                Link("Wiki", "https://wiki.example/", "Handboeken en afspraken"),
                Link("Servicedesk", "https://servicedesk.example/", "Storingen melden"),
            ],
        )
        await session.execute(
            update(Account).where(Account.username == "alice").values(role="admin")
        )
    return 0


async def _post(page: Any, node: Node, text: str, *, cw: str = "") -> None:
    await page.goto(node.base + "/")
    await page.fill("#composer-text", text)
    if cw:
        await page.click(".composer-more summary")
        await page.fill("#composer-cw", cw)
    await page.click(".composer button[type=submit]")
    await page.wait_for_selector(f"article.status:has-text({text[:20]!r})")


async def test_every_page_is_accessible_at_phone_and_desktop_width(
    node: Node,
) -> None:
    await _seed(node)
    async with chromium() as browser:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.goto(node.base + "/login")
        for width, viewport in (("360", PHONE), ("1440", DESKTOP)):
            await page.set_viewport_size(viewport)
            await page.screenshot(path=str(ARTIFACTS / f"login-{width}.png"), full_page=True)
        assert await axe_violations(page) == []
        await _login(page, node, "bob")
        await _post(page, node, "Wie heeft er zin in een lunchwandeling? #pauze")
        await page.goto(node.base + "/login")
        await context.clear_cookies()
        await _login(page, node, "alice")
        await _post(page, node, "Het kwartaalverslag staat klaar op de wiki. #finance")
        await _post(page, node, "Spoiler voor wie de serie nog niet zag", cw="Televisie")
        await page.goto(node.base + "/local")
        await (
            page.locator("article.status", has_text="lunchwandeling")
            .locator("button.action-favourite")
            .click()
        )
        await page.wait_for_selector("button.action-favourite[aria-pressed=true]")
        await (
            page.locator("article.status", has_text="lunchwandeling")
            .locator("button.action-favourite[aria-pressed=true]")
            .wait_for()
        )
        thread = (
            await page.locator("article.status", has_text="kwartaalverslag")
            .locator("a.status-time")
            .get_attribute("href")
        )
        pages = {
            "home": "/",
            "local": "/local",
            "public": "/public",
            "tag": "/tags/pauze",
            "thread": thread,
            "profile": "/@bob",
            "notifications": "/notifications",
            "bookmarks": "/bookmarks",
            "search": "/search?q=bob",
            "edit": f"{thread}/edit",
        }
        problems: dict[str, Any] = {}
        for name, path in pages.items():
            await page.goto(node.base + str(path))
            problems |= await page_problems(page, name)
        assert problems == {}
        # Dark mode follows the system.
        await page.emulate_media(color_scheme="dark")
        await page.set_viewport_size(PHONE)
        await page.goto(node.base + "/")
        await page.screenshot(path=str(ARTIFACTS / "home-dark-360.png"))
        assert await axe_violations(page) == []


async def test_the_language_switch_and_a_keyboard_only_flow(node: Node) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=PHONE, locale="nl-NL")
        page = await context.new_page()
        await page.goto(node.base + "/login")
        assert await page.get_attribute("html", "lang") == "nl"
        # Keyboard only: the first Tab reaches the skip link, then the form, Enter logs in.
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        for _ in range(10):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "username":
                break
        await page.keyboard.type("alice")
        await page.keyboard.press("Tab")
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")
        await page.wait_for_url(node.base + "/")
        assert "Waar werk je aan?" in await page.inner_text("main")
        for _ in range(30):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "composer-text":
                break
        else:
            pytest.fail("the composer cannot be reached with Tab")
        await page.keyboard.type("Alleen met het toetsenbord geschreven")
        for _ in range(6):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.textContent.trim()") == "Plaatsen":
                break
        await page.keyboard.press("Enter")
        article = page.locator("article.status", has_text="toetsenbord")
        await article.wait_for()
        like = article.locator("button.action-favourite")
        await like.focus()
        await page.keyboard.press("Enter")
        await page.wait_for_selector("button.action-favourite[aria-pressed=true]")
        # Switch to English from the footer, still on the keyboard.
        await page.focus("#language-select")
        await page.select_option("#language-select", "en")
        await page.keyboard.press("Tab")
        # Wait for the page the form leads to, not for the one already loaded.
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert await page.get_attribute("html", "lang") == "en"
        assert "What are you working on?" in await page.inner_text("main")


async def test_scrolling_down_loads_older_posts_in_place(node: Node) -> None:
    async with node.ctx.sessions() as session, session.begin():
        author = await session.scalar(select(Account).where(Account.username == "alice"))
        assert author is not None
        for n in range(45):
            await post_status(node.ctx, session, author, f"Oud bericht {n:02d}")
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await _login(page, node, "alice")
        assert await page.locator("article.status").count() == 40
        await page.locator("a[data-older]").scroll_into_view_if_needed()
        for _ in range(100):  # (wait_for_function would need 'unsafe-eval' under our CSP)
            if await page.locator("article.status").count() == 45:
                break
            await asyncio.sleep(0.1)
        ids = await page.eval_on_selector_all("article.status", "nodes => nodes.map(n => n.id)")
        assert len(set(ids)) == 45
        assert "Oud bericht 00" in await page.inner_text("main")
        assert await page.locator("a[data-older]").count() == 0
        assert page.url == node.base + "/"  # loaded in place, no navigation
