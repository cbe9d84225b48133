"""The directory's pages in a real browser: Chromium driven by Playwright (issue 5).

One directory node and two department nodes on loopback, shared by the module, and one
browser. The people come the way they do in production: each department node's profile
service pushes ``Update(Person)`` (with a photo) to the directory. Every page — search,
person, department, location, the org chart of one department and of the whole
organisation — is checked at phone (360 px) and desktop (1440 px) width: a screenshot
under tests/artifacts/, axe-core without any WCAG 2.1 A/AA violation, nothing sticking
out sideways. Then search is used as a person would (typing, typo- and accent-blind), with
the keyboard only, and in Dutch and English. SQLite only: the server-side directory tests
cover PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from sqlalchemy import select

from node.api.mastodon.placeholders import solid_png
from node.appkeys import MEDIA
from node.db.models import Account
from node.services.profile import ProfileChange, change_profile
from node.services.statuses import post_status
from tests.conftest import Node
from tests.directory.conftest import World, _start
from tests.web.browser import DESKTOP, PHONE, chromium, page_problems

pytestmark = [pytest.mark.timeout(240), pytest.mark.asyncio(loop_scope="module")]

HOSTS = {"directory": "127.0.0.71", "finance": "127.0.0.72", "hr": "127.0.0.73"}

#: (node, user name, display name, job title, location, expertise, manager, photo colour)
PEOPLE: tuple[tuple[str, str, str, str, str, str, str, tuple[int, int, int]], ...] = (
    (
        "finance",
        "carol",
        "Carol Smit",
        "Hoofd Financiën",
        "Utrecht",
        "begroting",
        "",
        (150, 60, 60),
    ),
    (
        "finance",
        "alice",
        "José Álvarez",
        "Controller",
        "Utrecht",
        "subsidieaanvragen, python, AVG",
        "carol",
        (40, 110, 160),
    ),
    (
        "finance",
        "bob",
        "Bob de Vries",
        "Analist",
        "Amersfoort",
        "Excel, python",
        "carol",
        (60, 140, 80),
    ),
    ("hr", "dirk", "Dirk Bakker", "Hoofd HR", "Utrecht", "werving", "", (120, 90, 40)),
    (
        "hr",
        "eva",
        "Eva Janssen",
        "HR-adviseur",
        "Amersfoort",
        "verzuim, AVG",
        "dirk",
        (130, 70, 140),
    ),
)


async def _seed(world: World) -> dict[str, Account]:
    """Everyone fills in their profile on their own node; the nodes push to the directory."""
    nodes = {"finance": world.finance, "hr": world.hr}
    people: dict[str, Account] = {}
    for node_key, name, *_ in PEOPLE:
        people[name], _token = await nodes[node_key].user(name)
    for node_key, name, display, job, location, expertise, manager, colour in PEOPLE:
        node = nodes[node_key]
        store = node.app[MEDIA]
        photo = await store.store_upload(
            node.ctx.sessions, people[name].id, solid_png(96, 96, colour), purpose="avatar"
        )
        async with node.ctx.sessions() as session, session.begin():
            account = await session.get(Account, people[name].id)
            assert account is not None
            await change_profile(
                node.ctx,
                session,
                account,
                ProfileChange(
                    display_name=display,
                    note=f"{job} bij {node.name}.",
                    job_title=job,
                    location=location,
                    expertise=expertise,
                    languages="nl, en",
                    phone="+31 30 123 4567",
                    manager=manager,
                    avatar_url=store.url_of(photo),
                ),
            )
    async with world.finance.ctx.sessions() as session, session.begin():
        alice = await session.scalar(select(Account).where(Account.username == "alice"))
        assert alice is not None
        await post_status(world.finance.ctx, session, alice, "Nieuwe subsidieregeling gepubliceerd")
        await post_status(
            world.finance.ctx, session, alice, "Conceptbegroting, niet verder", visibility="private"
        )
    for _ in range(2):
        for node in (world.finance, world.hr, world.directory):
            await node.settle()
    return people


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def org(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[World, dict[str, Account]]]:
    """The directory on .71, Finance on .72, HR on .73 (SQLite), with five people."""
    tmp: Path = tmp_path_factory.mktemp("directory-browser")
    allow = tuple(HOSTS.values())
    nodes: list[Node] = []
    try:
        nodes.append(
            await _start(
                "Wie is wie",
                HOSTS["directory"],
                f"sqlite+aiosqlite:///{tmp / 'directory.db'}",
                role="directory",
                allow=allow,
                data_dir=tmp / "directory",
            )
        )
        for name in ("Finance", "HR"):
            key = name.lower()
            nodes.append(
                await _start(
                    name,
                    HOSTS[key],
                    f"sqlite+aiosqlite:///{tmp / f'{key}.db'}",
                    allow=allow,
                    data_dir=tmp / key,
                    federation={"directory": nodes[0].base},
                )
            )
        world = World(*nodes)
        yield world, await _seed(world)
    finally:
        for node in reversed(nodes):
            await node.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the module."""
    async with chromium() as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh page (own cookies) at desktop width; console errors fail the test."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    yield opened
    await context.close()
    assert errors == []


def _person(base: str, account: Account, lang: str = "en") -> str:
    return f"{base}/directory/people?id={quote(account.uri, safe='')}&lang={lang}"


async def test_every_directory_page_at_phone_and_desktop_width(
    org: tuple[World, dict[str, Account]], page: Any
) -> None:
    world, people = org
    base = world.directory.base
    problems: dict[str, Any] = {}
    # Search, as typed into the box: accent-blind ("Jose" finds "José").
    await page.goto(f"{base}/directory?lang=en")
    await page.fill("input[name=q]", "Jose")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**/directory?q=Jose*")
    results = page.locator("#results li")
    assert await results.count() == 1
    assert "José Álvarez" in await results.inner_text()
    photo = results.locator("img.photo")
    assert await photo.evaluate("img => img.complete && img.naturalWidth > 0")
    problems |= await page_problems(page, "directory-search")
    # Each result leads to the person's own node to follow or message them.
    follow = await results.locator("a.follow").get_attribute("href")
    assert follow == f"{world.finance.base}/@alice"

    # Her page: profile, expertise, manager, colleagues, her public post (not the other).
    await results.locator("a").first.click()
    await page.wait_for_url("**/directory/people?id=*")
    assert await page.inner_text("h1") == "José Álvarez"
    main = await page.inner_text("main")
    for shown in (
        "Controller",
        "Finance",
        "Utrecht",
        "subsidieaanvragen",
        "AVG",
        "Carol Smit",  # manager
        "Bob de Vries",  # colleague
        f"alice@{world.directory.domain}",
        "Nieuwe subsidieregeling gepubliceerd",
    ):
        assert shown in main, shown
    assert "Conceptbegroting" not in main
    assert await page.locator("img.photo.big").evaluate("img => img.naturalWidth > 0")
    problems |= await page_problems(page, "directory-person")

    # The department and the location, reached from her page.
    await page.click("dd a:has-text('Finance')")
    await page.wait_for_url("**/directory/departments/finance*")
    assert await page.inner_text("h1") == "Finance"
    names = await page.locator("ul.people strong").all_inner_texts()
    assert names == ["Bob de Vries", "Carol Smit", "José Álvarez"]
    problems |= await page_problems(page, "directory-department")
    await page.goto(_person(base, people["alice"]))
    await page.click("dd a:has-text('Utrecht')")
    await page.wait_for_url("**/directory/locations/utrecht*")
    names = await page.locator("ul.people strong").all_inner_texts()
    assert names == ["Carol Smit", "Dirk Bakker", "José Álvarez"]
    problems |= await page_problems(page, "directory-location")
    await page.goto(f"{base}/directory/departments?lang=en")
    problems |= await page_problems(page, "directory-departments")

    # The org chart of Finance: Carol above her two reports; a box leads to a person.
    await page.goto(f"{base}/directory/departments/finance?lang=en")
    await page.click("main a:has-text('Org chart')")
    await page.wait_for_url("**/directory/orgchart?department=finance*")
    chart = page.locator("svg.orgchart")
    assert await chart.locator("rect").count() == 3
    assert await chart.locator("path").count() == 2
    problems |= await page_problems(page, "directory-orgchart-finance")
    await chart.locator("a", has_text="Bob de Vries").click()
    await page.wait_for_url("**/directory/people?id=*")
    assert await page.inner_text("h1") == "Bob de Vries"
    # The whole organisation: both trees, chosen from the form.
    await page.goto(f"{base}/directory/orgchart?department=finance&lang=en")
    await page.select_option("select[name=department]", "")
    await page.click("form button[type=submit]")
    await page.wait_for_url("**/directory/orgchart?department=&*")
    assert await chart.locator("rect").count() == 5
    assert await chart.locator("path").count() == 3  # Carol→José, Carol→Bob, Dirk→Eva
    problems |= await page_problems(page, "directory-orgchart-all")
    # The chart as an image of its own.
    response = await page.goto(f"{base}/directory/orgchart.svg?department=finance")
    assert response is not None and response.headers["content-type"].startswith("image/svg+xml")
    assert problems == {}, json.dumps(problems, indent=1)


async def test_search_with_a_typo_by_facet_and_with_nobody_found(
    org: tuple[World, dict[str, Account]], page: Any
) -> None:
    world, _people = org
    await page.goto(f"{world.directory.base}/directory?lang=en")
    await page.fill("input[name=q]", "alvares")  # Álvarez, one letter off, no accent
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**q=alvares*")
    assert await page.locator("#results strong").all_inner_texts() == ["José Álvarez"]
    # Job titles, typed into the same box.
    await page.fill("input[name=q]", "analist")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**q=analist*")
    assert await page.locator("#results strong").all_inner_texts() == ["Bob de Vries"]
    await page.fill("input[name=q]", "hr-adviseur")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**q=hr-adviseur*")
    assert (await page.locator("#results strong").all_inner_texts())[0] == "Eva Janssen"
    # Expertise: everyone who knows about AVG, on both department nodes.
    await page.fill("input[name=q]", "")
    await page.fill("input[name=expertise]", "AVG")
    await page.press("input[name=expertise]", "Enter")
    await page.wait_for_url("**expertise=AVG*")
    assert sorted(await page.locator("#results strong").all_inner_texts()) == [
        "Eva Janssen",
        "José Álvarez",
    ]
    # A location narrows a search.
    await page.fill("input[name=expertise]", "")
    await page.fill("input[name=q]", "python")
    await page.select_option("select[name=location]", "Amersfoort")
    await page.click("form.search button[type=submit]")
    await page.wait_for_url("**q=python*")
    assert await page.locator("#results strong").all_inner_texts() == ["Bob de Vries"]
    await page.fill("input[name=q]", "qqqzzz")
    await page.select_option("select[name=location]", "")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**q=qqqzzz*")
    assert await page.inner_text("#results") == "Nobody found."


async def test_keyboard_only_and_the_language_switch(
    org: tuple[World, dict[str, Account]], browser: Any
) -> None:
    world, _people = org
    context = await browser.new_context(viewport=PHONE, locale="nl-NL")
    try:
        page = await context.new_page()
        await page.goto(f"{world.directory.base}/directory")
        # The browser asks for Dutch.
        assert await page.get_attribute("html", "lang") == "nl"
        assert "Zoeken" in await page.inner_text("form.search")
        # Tab to the search box, type, Enter; Tab to the first result, Enter opens it.
        for _ in range(15):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.name") == "q":
                break
        else:
            pytest.fail("the search box cannot be reached with Tab")
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        await page.keyboard.type("Jose")
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        for _ in range(30):
            await page.keyboard.press("Tab")
            focused = await page.evaluate("document.activeElement.textContent.trim()")
            if focused == "José Álvarez":
                break
        else:
            pytest.fail("the result cannot be reached with Tab")
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert await page.inner_text("h1") == "José Álvarez"
        assert "Leidinggevende" in await page.inner_text("main")
        # The switch to English, on the keyboard: same page, other language.
        for _ in range(10):
            await page.keyboard.press("Shift+Tab")
            if await page.evaluate("document.activeElement.hreflang") == "en":
                break
        else:
            await page.focus("a[hreflang=en]")
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.inner_text("h1") == "José Álvarez"
        assert "Manager" in await page.inner_text("main")
        assert "lang=en" in page.url
        # And back to Dutch.
        await page.click("a[hreflang=nl]")
        await page.wait_for_url("**lang=nl*")
        assert await page.get_attribute("html", "lang") == "nl"
    finally:
        await context.close()
