"""Dutch and English pages: the language from the browser, the switch, the catalogues (issue 6)."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import Node
from tests.web.conftest import Browser, BrowserFactory
from web.i18n import parse_accept_language

LOCALE = Path(__file__).resolve().parents[2] / "web" / "locale"
WEB = LOCALE.parent


def _extracted() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map=method_map, options_map=options
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_has_a_dutch_translation_and_the_mo_is_compiled() -> None:
    with (LOCALE / "nl/LC_MESSAGES/messages.po").open("rb") as handle:
        po = read_po(handle, locale="nl")
    with (LOCALE / "nl/LC_MESSAGES/messages.mo").open("rb") as handle:
        mo = read_mo(io.BytesIO(handle.read()))
    missing = sorted(m for m in _extracted() if not (po.get(m) and po.get(m).string))  # type: ignore[union-attr]
    assert not missing, f"untranslated (run make translations, then translate): {missing}"

    def text(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    stale = sorted(
        str(m.id)
        for m in po
        if m.id and m.string and text(getattr(mo.get(m.id), "string", None)) != text(m.string)
    )
    assert not stale, f"messages.mo is older than messages.po: {stale[:5]}"


def test_accept_language_is_parsed_best_first() -> None:
    assert parse_accept_language("en-GB;q=0.5, nl-NL, fr;q=0.9, de;q=0") == ["nl-nl", "fr", "en-gb"]
    assert parse_accept_language("") == []
    assert parse_accept_language("nl;q=abc") == []


async def test_the_browser_language_chooses_dutch(
    node: Node, browser_factory: BrowserFactory
) -> None:
    browser = await browser_factory(node)
    status, html = await browser.get(
        "/login", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}
    )
    assert status == 200
    assert '<html lang="nl">' in html
    assert "Inloggen" in html
    status, html = await browser.get("/login", headers={"Accept-Language": "fr, en;q=0.1"})
    assert '<html lang="en">' in html


async def test_the_switch_sets_the_language_until_changed(node: Node, alice: Browser) -> None:
    response = await alice.post("/language", {"language": "nl", "next": "/local"})
    assert response.status == 303
    assert response.headers["Location"] == "/local"
    html = await alice.page("/local")
    assert '<html lang="nl">' in html
    assert "Afdeling" in html
    response = await alice.post("/language", {"language": "en", "next": "/"})
    assert '<html lang="en">' in await alice.page("/")


async def test_the_switch_refuses_bad_input_and_forged_forms(node: Node, alice: Browser) -> None:
    response = await alice.post("/language", {"language": "xx"})
    assert response.status == 422
    assert "kantine_lang" not in response.cookies
    response = await alice.post("/language", {"language": "nl"}, csrf="forged")
    assert response.status == 403
    assert "kantine_lang" not in response.cookies
    assert '<html lang="en">' in await alice.page("/")
    response = await alice.post("/language", {"language": "nl", "next": "//evil.example"})
    assert response.headers["Location"] == "/"
