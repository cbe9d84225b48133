"""Playwright on the system's Chromium for the browser tests (issue 6).

Playwright never downloads a browser here: it drives Debian's ``chromium`` package
(``.ci/run`` installs it). Without it the tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "ARTIFACTS",
    "AXE",
    "CHROMIUM_ARGS",
    "DESKTOP",
    "PHONE",
    "axe_violations",
    "chromium",
    "chromium_path",
    "page_problems",
]

ROOT = Path(__file__).resolve().parents[2]
#: Screenshots of every page at phone and desktop width (git-ignored; CI keeps them).
ARTIFACTS = ROOT / "tests" / "artifacts"
#: axe-core 4.10.3 from the npm registry (``npm pack axe-core@4.10.3``), MPL-2.0, unmodified.
AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.10.3.min.js"
#: The two widths every page is checked at (issue 6: a 360 px phone, a 1440 px desktop).
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1440, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """The system Chromium; skips (or fails in CI) when it is not installed."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        message = "Chromium is not installed (apt-get install chromium) — browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A started Chromium (Playwright's ``Browser``), closed afterwards."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")
    path = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


_AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
}"""


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on *page* (evaluated through DevTools, so the
    page's Content-Security-Policy need not allow it)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = await page.evaluate(_AXE_RUN)
    return violations


async def page_problems(page: Any, name: str) -> dict[str, Any]:
    """Check the open *page* at phone and desktop width: a full-page screenshot of each
    under ``ARTIFACTS`` (``{name}-{width}.png``), every axe-core WCAG 2.1 A/AA violation
    (not only the serious and critical ones), and anything sticking out sideways. Returns
    what was found, keyed by ``name@width``; the page is left at desktop width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, Any] = {}
    for width, viewport in (("360", PHONE), ("1440", DESKTOP)):
        await page.set_viewport_size(viewport)
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        if found := await axe_violations(page):
            problems[f"{name}@{width}"] = found
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            problems[f"{name}@{width} overflow"] = overflow
    await page.set_viewport_size(DESKTOP)
    return problems
