"""Settings and admin pages in a real browser: Chromium driven by Playwright (issue 6).

Two flows a person does with mouse and keyboard (turn two-factor sign-in on, then sign in
with a code; an admin adds a node to the allowlist), and axe-core on each settings and admin
page at phone and desktop width, with screenshots under tests/artifacts/. SQLite only: the
server-side tests cover both databases.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, update

from node.auth.password_changes import issue_reset, reset_url
from node.auth.totp import totp
from node.db.models import Account
from tests.conftest import Node, NodeFactory
from tests.web.browser import ARTIFACTS, DESKTOP, PHONE, axe_violations, chromium
from tests.web.conftest import PASSWORD
from tests.web.test_settings_pages import SETTINGS_PAGES

pytestmark = pytest.mark.timeout(240)

PAGES = (
    *SETTINGS_PAGES,
    "/admin/users",
    "/admin/federation",
    "/admin/moderation",
    "/admin/node",
)


@pytest.fixture
def db_kind() -> str:
    """Browser tests run on SQLite only (the server-side tests cover PostgreSQL)."""
    return "sqlite"


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    started = await make_node("Finance", "127.0.0.2")
    await started.user("alice", password=PASSWORD, display_name="Alice Jansen", role="admin")
    await started.user("bob", password=PASSWORD, display_name="Bob de Vries")
    return started


async def _password_step(page: Any, node: Node, username: str) -> None:
    await page.goto(node.base + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")


async def test_turn_on_two_factor_then_sign_in_with_a_code(node: Node) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await _password_step(page, node, "alice")
        await page.wait_for_url(node.base + "/")
        await page.goto(node.base + "/settings/two-factor")
        await page.click("button:has-text('Set up two-factor sign-in')")
        await page.wait_for_selector(".qr svg")
        await page.click("summary:has-text('Type the key in instead')")
        secret = (await page.inner_text("#totp-secret")).replace(" ", "")
        now = time.time()
        await page.fill("#confirm", totp(secret, at=now))
        await page.click("button:has-text('Turn on')")
        await page.wait_for_selector("text=Two-factor sign-in is on.")
        assert await page.locator("ul.codes li").count() == 10
        await page.screenshot(path=str(ARTIFACTS / "settings-two-factor-codes-360.png"))

        # A new browser: the password is not enough, the code from the app is.
        other = await (await browser.new_context(viewport=DESKTOP)).new_page()
        await _password_step(other, node, "alice")
        await other.wait_for_selector("#code")
        assert other.url == node.base + "/login"
        await other.fill("#code", "000000")
        await other.keyboard.press("Enter")
        await other.wait_for_selector("text=That code is not right.")
        # The next time step: the step used to confirm cannot be used again.
        await other.fill("#code", totp(secret, at=now + 30))
        await other.keyboard.press("Enter")
        await other.wait_for_url(node.base + "/")
        assert await other.locator("summary:has-text('@alice')").count() == 1


async def test_admin_adds_a_node_to_the_allowlist(node: Node) -> None:
    assert not node.ctx.policy.allows("hr.example.org")
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=DESKTOP)).new_page()
        await _password_step(page, node, "alice")
        await page.wait_for_url(node.base + "/")
        await page.click("summary:has-text('@alice')")
        await page.click("a:has-text('Administration')")
        await page.click("nav.subnav a:has-text('Federation')")
        await page.fill("#host", "bad host")
        await page.click("form[action='/admin/federation/peers'] button[type=submit]")
        await page.wait_for_selector("#host-error")
        assert await page.get_attribute("#host", "aria-invalid") == "true"
        await page.fill("#host", "hr.example.org")
        await page.select_option("#decision", "allow")
        await page.click("form[action='/admin/federation/peers'] button[type=submit]")
        await page.wait_for_selector("td:has-text('Allowed')")
        assert await page.locator("code:has-text('hr.example.org')").count() == 1
    assert node.ctx.policy.allows("hr.example.org")


async def test_settings_and_admin_pages_pass_axe_at_both_widths(node: Node) -> None:
    async with node.ctx.sessions() as session, session.begin():
        await session.execute(update(Account).values(role="admin"))
        bob = await session.scalar(select(Account).where(Account.username == "bob"))
        assert bob is not None
        reset_link = reset_url(node.base, await issue_reset(session, bob))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {}
    async with chromium() as browser:
        for width, viewport in (("360", PHONE), ("1440", DESKTOP)):
            page = await (await browser.new_context(viewport=viewport)).new_page()
            await _password_step(page, node, "alice")
            await page.wait_for_url(node.base + "/")
            for path in PAGES:
                await page.goto(node.base + path)
                name = path.strip("/").replace("/", "-")
                await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
                await _check(page, f"{path} ({width})", found)
            # The set-up step with its QR code, and a reset link's page (anonymous).
            await page.goto(node.base + "/settings/two-factor")
            if await page.locator("button:has-text('Set up two-factor sign-in')").count():
                await page.click("button:has-text('Set up two-factor sign-in')")
            await page.wait_for_selector(".qr svg")
            await page.screenshot(path=str(ARTIFACTS / f"settings-two-factor-setup-{width}.png"))
            await _check(page, f"two-factor set-up ({width})", found)
            anonymous = await (await browser.new_context(viewport=viewport)).new_page()
            await anonymous.goto(reset_link)
            await anonymous.screenshot(path=str(ARTIFACTS / f"password-reset-{width}.png"))
            await _check(anonymous, f"reset page ({width})", found)
    assert not found, found


async def _check(page: Any, what: str, found: dict[str, Any]) -> None:
    violations = await axe_violations(page)
    if violations:
        found[what] = violations
    # Nothing wider than the screen on a phone.
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px too wide"
