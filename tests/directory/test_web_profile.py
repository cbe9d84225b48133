"""A profile filled in on a department node's web settings page reaches the directory (issue 5).

Alice signs in on Finance in a browser session, fills in the who-is-who boxes and her own
extra fields, and a photo, and saves: Finance queues ``Update(Person)`` to the directory's inbox; the
directory's search and person page show the new profile, and the activity the directory
received carries her own fields as ``PropertyValue`` attachments. Department node on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import aiohttp
from sqlalchemy import select

from node.api.mastodon.placeholders import solid_png
from node.db.models import Account, Delivery, OutboxActivity
from tests.directory.conftest import World
from tests.web.conftest import PASSWORD, Browser, csrf_of


async def test_the_web_profile_form_reaches_the_directory(world: World) -> None:
    alice, _ = await world.finance.user("alice", password=PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = Browser(world.finance, http)
        assert (await browser.login("alice")).status == 303
        token = csrf_of(await browser.page("/settings/profile"))
        form = aiohttp.FormData()
        for name, value in {
            "csrf_token": token,
            "display_name": "Alice Jansen",
            "note": "Ik help met subsidies.",
            "job_title": "Beleidsadviseur",
            "department": "",
            "location": "Utrecht",
            "phone": "+31 30 123 4567",
            "email": "",
            "expertise": "subsidieaanvragen, AVG",
            "languages": "nl, en",
            "manager": "",
            "field-0-name": "Spreekuur",
            "field-0-value": "dinsdag 10-12",
            "field-1-name": "",
            "field-1-value": "",
        }.items():
            form.add_field(name, value)
        form.add_field(
            "avatar", solid_png(96, 96, (40, 110, 160)), filename="ik.png", content_type="image/png"
        )
        saved = await http.post(browser.url("/settings/profile"), data=form, allow_redirects=False)
        assert saved.status == 303, await saved.text()
    await world.finance.settle()
    await world.directory.settle()

    entry = world.service.get(alice.uri)
    assert entry is not None
    profile = entry.profile
    assert (profile.name, profile.job_title, profile.department, profile.location) == (
        "Alice Jansen",
        "Beleidsadviseur",
        "Finance",  # empty box: the node's name
        "Utrecht",
    )
    assert set(profile.knows_about) == {"subsidieaanvragen", "AVG"}
    # With her photo, as stored and served by Finance.
    async with world.finance.ctx.sessions() as session:
        row = await session.get(Account, alice.id)
        assert row is not None and row.avatar_url is not None
    assert profile.icon == row.avatar_url
    assert profile.icon.startswith(world.finance.base + "/media/")

    # What the directory's inbox received: the Update with her own field as PropertyValue.
    inbox = f"{world.directory.base}/inbox"
    async with world.finance.ctx.sessions() as session:
        bodies = (
            await session.scalars(
                select(OutboxActivity.body)
                .join(Delivery, Delivery.activity_id == OutboxActivity.id)
                .where(Delivery.inbox_url == inbox, Delivery.state == "delivered")
            )
        ).all()
    updates = [json.loads(body) for body in bodies]
    assert [u["type"] for u in updates] == ["Update"]
    attachments = {(a["name"], a["value"]) for a in updates[0]["object"]["attachment"]}
    assert ("Spreekuur", "dinsdag 10-12") in attachments
    assert ("Job title", "Beleidsadviseur") in attachments

    # Anyone finds her by expertise and sees it on her page in the directory.
    base = world.directory.base
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/directory?q=subsidieaanvragen&lang=en") as response:
            assert response.status == 200
            found = await response.text()
        async with http.get(
            f"{base}/directory/people?id={quote(alice.uri, safe='')}&lang=en"
        ) as response:
            assert response.status == 200
            html = await response.text()
    assert "Alice Jansen" in found and "Beleidsadviseur" in found
    assert "Alice Jansen" in html and "Beleidsadviseur" in html and "Utrecht" in html
    assert f'src="{profile.icon}"' in html
