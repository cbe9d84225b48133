"""The person's own profile fields on the web settings page (issue 5; Mastodon's "extra fields").

The page edits the same ``PropertyValue`` name/value pairs as ``fields_attributes`` of
``update_credentials``, through the one profile service. Every refusal: 422, the message
beside its row, and nothing saved or sent (SECURITY.md: negative tests assert that nothing
happened); a forged CSRF token: 403 and nothing changes.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import func, select

from node.db.models import Account, OutboxActivity
from tests.conftest import Node
from tests.mastodon.conftest import raw
from tests.web.conftest import Browser, csrf_of
from tests.web.test_settings_pages import field_error

_PROFILE = {"display_name": "Alice Jansen", "note": "Controller."}


def _rows(*pairs: tuple[str, str]) -> dict[str, str]:
    form: dict[str, str] = {}
    for index, (name, value) in enumerate(pairs):
        form[f"field-{index}-name"] = name
        form[f"field-{index}-value"] = value
    return form


async def _state(node: Node) -> tuple[str, str, int]:
    """What a refused form must leave alone: the fields, the name, the activities sent."""
    async with node.ctx.sessions() as session:
        alice = await session.scalar(select(Account).where(Account.username == "alice"))
        assert alice is not None
        sent = await session.scalar(select(func.count()).select_from(OutboxActivity))
    return alice.fields_json, alice.display_name, int(sent or 0)


async def _actor(node: Node) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{node.base}/users/alice", headers={"Accept": "application/activity+json"}
        ) as response,
    ):
        document: dict[str, Any] = json.loads(await response.read())
    return document


async def test_own_fields_are_saved_shown_and_sent(node: Node, alice: Browser) -> None:
    page = await alice.page("/settings/profile")
    # Four empty rows, each input labelled.
    for index in range(4):
        assert f'<label for="field-{index}-name">' in page
        assert f'<label for="field-{index}-value">' in page
    assert 'id="field-4-name"' not in page
    token = csrf_of(page)
    form = _PROFILE | _rows(("Voornaamwoorden", "zij/haar"), ("", ""), ("Spreekuur", "di <10-12>"))
    ok = await alice.post("/settings/profile", form, csrf=token)
    assert ok.status == 303, await ok.text()
    # Apps see them as Mastodon fields, the value escaped as Mastodon stores it.
    alice_row = await _account(node)
    status, me = await raw(node, "GET", f"/api/v1/accounts/{alice_row.id}")
    assert status == 200
    assert [(f["name"], f["value"]) for f in me["fields"]] == [
        ("Department", "web"),
        ("Voornaamwoorden", "zij/haar"),
        ("Spreekuur", "di &lt;10-12&gt;"),
    ]
    # Peers (and the directory) get them as PropertyValue attachments of the Person.
    attachments = [(a["name"], a["value"]) for a in (await _actor(node))["attachment"]]
    assert ("Voornaamwoorden", "zij/haar") in attachments
    assert ("Spreekuur", "di &lt;10-12&gt;") in attachments
    # The form shows them back as typed, the empty row closed up.
    html = await alice.page("/settings/profile")
    assert 'id="field-0-name" name="field-0-name" type="text" value="Voornaamwoorden"' in html
    assert 'id="field-1-value" name="field-1-value" type="text" value="di &lt;10-12&gt;"' in html
    assert 'id="field-2-name" name="field-2-name" type="text" value=""' in html
    # Emptying a row removes that field; the others stay.
    ok = await alice.post(
        "/settings/profile",
        _PROFILE | _rows(("", ""), ("Spreekuur", "di 10-12")),
        csrf=csrf_of(html),
    )
    assert ok.status == 303
    status, me = await raw(node, "GET", f"/api/v1/accounts/{alice_row.id}")
    assert [(f["name"], f["value"]) for f in me["fields"]] == [
        ("Department", "web"),
        ("Spreekuur", "di 10-12"),
    ]


async def _account(node: Node) -> Account:
    async with node.ctx.sessions() as session:
        row = await session.scalar(select(Account).where(Account.username == "alice"))
    assert row is not None
    return row


#: (rows sent, where the message stands, how it starts)
REFUSALS: list[tuple[tuple[tuple[str, str], ...], str, str]] = [
    ((("Hobby", "x" * 256),), "field-0", "The value is at most 255 characters."),
    ((("", ""), ("n" * 256, "x")), "field-1", "The name is at most 255 characters."),
    ((("", "zonder naam"),), "field-0", "Give this field a name too."),
    ((("Hobby", "bel\x07len"),), "field-0", "Remove the control characters."),
    ((("Afdeling", "HR"),), "field-0", "“Afdeling” has its own box under Who is who"),
    (tuple((f"Veld {n}", "x") for n in range(5)), "fields", "At most 4 extra fields."),
]


async def test_each_refusal_and_a_forged_form_change_nothing(node: Node, alice: Browser) -> None:
    token = csrf_of(await alice.page("/settings/profile"))
    ok = await alice.post("/settings/profile", _PROFILE | _rows(("Hobby", "fietsen")), csrf=token)
    assert ok.status == 303
    before = await _state(node)
    for rows, where, message in REFUSALS:
        bad = await alice.post(
            "/settings/profile",
            _PROFILE | {"display_name": "Alice Changed"} | _rows(*rows),
            csrf=token,
        )
        assert bad.status == 422, where
        html = await bad.text()
        assert field_error(html, where).startswith(message), (where, message)
        assert 'value="Alice Changed"' in html  # what was typed comes back
        assert await _state(node) == before, message
    # A forged or missing CSRF token: 403, and no field changes.
    forged = await alice.post(
        "/settings/profile", _PROFILE | _rows(("Website", "https://evil.example")), csrf="forged"
    )
    assert forged.status == 403
    missing = await alice.http.post(
        alice.url("/settings/profile"),
        data=_PROFILE | _rows(("Website", "https://evil.example")),
        allow_redirects=False,
    )
    assert missing.status == 403
    assert await _state(node) == before
    assert "evil.example" not in json.dumps(await _actor(node))
