"""The start page never shows a stale or someone else's post (issue 6; PROTOCOL.md C21, C35).

The start page reads the home timeline through the SQLite fast path (``FastReads.page_of``:
Status JSON cached until the next commit) and renders the reader-independent part of each
post once per version (``web.fragments.PostBodies``). These tests drive both caches the way
people do, through the pages, and check that an edit, a new display name, a delete, a
mute and a filter show at once, that one reader's favourite, CSRF token or filter never
reaches another reader's page, and that a post a reader may not see never appears, even
with a feed row pointing at it and its body already rendered for someone else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from node.api.mastodon.home import FAST_READS
from node.db.models import Account, HomeFeedEntry, Status, WebSession
from node.services.web_sessions import IDLE_TIMEOUT, TOUCH_AFTER
from tests.conftest import Node
from tests.mastodon.conftest import raw
from tests.web.conftest import PASSWORD, Browser, BrowserFactory, csrf_of
from web.runtime import WEB


async def _signed_in(node: Node, browsers: BrowserFactory, username: str) -> Browser:
    browser = await browsers(node)
    response = await browser.login(username)
    assert response.status == 303, await response.text()
    return browser


async def _follow(browser: Browser, username: str) -> None:
    profile = await browser.page(f"/@{username}")
    found = re.search(r'action="/accounts/(\d+)/follow"', profile)
    assert found, profile[:500]
    response = await browser.post(f"/accounts/{found.group(1)}/follow", {"next": "/"})
    assert response.status == 303


async def _post(browser: Browser, text: str, visibility: str = "public") -> int:
    response = await browser.post("/statuses", {"status": text, "visibility": visibility})
    assert response.status == 303, await response.text()
    async with browser.node.ctx.sessions() as session:
        found = await session.scalar(select(Status.id).where(Status.text == text))
    assert found is not None
    return int(found)


def _article(html: str, status_id: int) -> str:
    """The HTML of one post on a page ('' if it is not there)."""
    found = re.search(rf'<article class="status" id="status-{status_id}".*?</article>', html, re.S)
    return found.group(0) if found else ""


async def test_edits_names_and_deletes_show_at_once_and_state_stays_per_reader(
    node: Node, browser_factory: BrowserFactory, db_kind: str
) -> None:
    await node.user("carol", password=PASSWORD)
    _dave, dave_token = await node.user("dave", password=PASSWORD)
    alice = await _signed_in(node, browser_factory, "alice")
    carol = await _signed_in(node, browser_factory, "carol")
    dave = await _signed_in(node, browser_factory, "dave")
    for reader in (alice, carol):
        await _follow(reader, "dave")
    status_id = await _post(dave, "Eerste versie van het jaarplan")
    bodies = node.app[WEB].post_bodies("en")
    reads = node.app.get(FAST_READS)

    first = _article(await alice.page("/"), status_id)
    assert "Eerste versie van het jaarplan" in first
    misses = bodies.misses
    hits = bodies.hits
    assert "Eerste versie van het jaarplan" in _article(await carol.page("/"), status_id)
    assert (bodies.hits, bodies.misses) == (hits + 1, misses)  # rendered once for both
    if db_kind == "sqlite":
        assert reads is not None and reads.hits > 0  # the page came from the fast path
    else:
        assert reads is None

    # An edit: the new text and "edited", never the old text.
    response = await dave.post(
        f"/statuses/{status_id}/edit",
        {"status": "Tweede versie van het jaarplan"},
        form_page=f"/statuses/{status_id}/edit",
    )
    assert response.status == 303
    for reader in (alice, carol):
        article = _article(await reader.page("/"), status_id)
        assert "Tweede versie van het jaarplan" in article
        assert "Eerste versie" not in article
        assert "edited" in article

    # A new display name shows on the post at once (it is not an edit of the post).
    status, _body = await raw(
        node,
        "PATCH",
        "/api/v1/accounts/update_credentials",
        dave_token,
        data={"display_name": "Dave de Planner"},
    )
    assert status == 200
    assert "Dave de Planner" in _article(await alice.page("/"), status_id)

    # Alice's favourite and her CSRF token are hers: carol's page shows neither.
    response = await alice.post(f"/statuses/{status_id}/favourite", {"next": "/"})
    assert response.status == 303
    mine = _article(await alice.page("/"), status_id)
    theirs_html = await carol.page("/")
    theirs = _article(theirs_html, status_id)
    assert 'data-action="favourite"' in mine and 'aria-pressed="true"' in mine
    assert f"/statuses/{status_id}/unfavourite" in mine
    assert f"/statuses/{status_id}/unfavourite" not in theirs
    assert 'class="count">1<' in theirs  # the count is everybody's
    alice_token = csrf_of(await alice.page("/"))
    assert alice_token not in theirs_html
    assert csrf_of(theirs_html) in theirs
    assert f"/statuses/{status_id}/edit" not in mine  # not hers to edit
    assert f"/statuses/{status_id}/edit" in _article(await dave.page("/"), status_id)

    # A delete: gone from every page.
    response = await dave.post(f"/statuses/{status_id}/delete", {"next": "/"})
    assert response.status == 303
    for reader in (alice, carol, dave):
        html = await reader.page("/")
        assert not _article(html, status_id)
        assert "jaarplan" not in html


async def test_a_post_the_reader_may_not_see_never_appears(
    node: Node, browser_factory: BrowserFactory
) -> None:
    carol_account, _token = await node.user("carol", password=PASSWORD)
    alice = await _signed_in(node, browser_factory, "alice")
    bob = await _signed_in(node, browser_factory, "bob")
    carol = await _signed_in(node, browser_factory, "carol")
    await _follow(alice, "bob")
    hidden = await _post(bob, "Alleen voor volgers: de begroting", visibility="private")
    direct = await _post(bob, "@alice alleen voor jou", visibility="direct")
    # Alice sees both, so both are cached (JSON and rendered body) ...
    html = await alice.page("/")
    assert _article(html, hidden) and _article(html, direct)
    # ... and a feed row of carol's pointing at them (as a wrong fan-out would leave) shows
    # her neither: visibility is checked on every read, not only when fanning out.
    async with node.ctx.sessions() as session, session.begin():
        await session.execute(
            insert(HomeFeedEntry),
            [
                {"account_id": carol_account.id, "status_id": hidden},
                {"account_id": carol_account.id, "status_id": direct},
            ],
        )
    html = await carol.page("/")
    assert not _article(html, hidden) and not _article(html, direct)
    assert "begroting" not in html and "alleen voor jou" not in html

    # Muting bob hides his posts from alice's page at once, though they are cached.
    profile = await alice.page("/@bob")
    bob_id = re.search(r'action="/accounts/(\d+)/unfollow"', profile)
    assert bob_id
    _alice_id, alice_api = await _api_token(node, "alice")
    status, _body = await raw(node, "POST", f"/api/v1/accounts/{bob_id.group(1)}/mute", alice_api)
    assert status == 200
    html = await alice.page("/")
    assert not _article(html, hidden) and not _article(html, direct)


async def _api_token(node: Node, username: str) -> tuple[int, str]:
    from node.auth.tokens import issue_token
    from node.services.accounts import local_account

    async with node.ctx.sessions() as session, session.begin():
        account = await local_account(session, node.ctx.domain, username)
        assert account is not None
        return account.id, await issue_token(session, account, "read write follow")


async def test_a_readers_filter_marks_only_their_page(
    node: Node, browser_factory: BrowserFactory
) -> None:
    alice = await _signed_in(node, browser_factory, "alice")
    bob = await _signed_in(node, browser_factory, "bob")
    await node.user("carol", password=PASSWORD)
    carol = await _signed_in(node, browser_factory, "carol")
    for reader in (alice, carol):
        await _follow(reader, "bob")
    status_id = await _post(bob, "Lunch om twaalf uur in de kantine")
    assert "Filtered" not in _article(await alice.page("/"), status_id)
    _alice_id, token = await _api_token(node, "alice")
    status, body = await raw(
        node,
        "POST",
        "/api/v2/filters",
        token,
        json={
            "title": "Eten",
            "context": ["home"],
            "filter_action": "warn",
            "keywords_attributes": [{"keyword": "lunch", "whole_word": True}],
        },
    )
    assert status == 200, body
    warned = _article(await alice.page("/"), status_id)
    assert "Filtered: Eten" in warned and "<details" in warned
    plain = _article(await carol.page("/"), status_id)
    assert "Lunch om twaalf uur" in plain and "Filtered" not in plain and "<details" not in plain


async def test_a_page_view_reads_the_session_and_writes_it_only_when_due(
    node: Node, alice: Browser
) -> None:
    """The session row is read on every page (on SQLite with plain sqlite3) and written at
    most once per ``TOUCH_AFTER``; an idle, revoked or suspended session opens nothing."""

    async def sessions() -> list[WebSession]:
        async with node.ctx.sessions() as session:
            return list(await session.scalars(select(WebSession)))

    async def set_row(**values: object) -> None:
        async with node.ctx.sessions() as session, session.begin():
            await session.execute(update(WebSession).values(**values))

    (row,) = await sessions()
    now = datetime.now(UTC)
    recent = now - timedelta(seconds=30)
    await set_row(last_seen_at=recent)
    assert (await alice.get("/"))[0] == 200
    assert (await sessions())[0].last_seen_at == recent  # a plain view writes nothing

    due = now - TOUCH_AFTER - timedelta(minutes=1)
    await set_row(last_seen_at=due)
    assert (await alice.get("/"))[0] == 200
    assert (await sessions())[0].last_seen_at > due + timedelta(minutes=1)  # touched

    for values in (
        {"last_seen_at": now - IDLE_TIMEOUT - timedelta(minutes=1)},
        {"revoked_at": now},
        {"expires_at": now - timedelta(seconds=1)},
    ):
        await set_row(**values)
        before = (await sessions())[0].last_seen_at
        status, _html = await alice.get("/")
        assert status == 303, values  # back to the login page
        assert (await sessions())[0].last_seen_at == before  # and nothing written
        await set_row(
            last_seen_at=recent, revoked_at=None, expires_at=row.expires_at
        )  # alive again
        assert (await alice.get("/"))[0] == 200

    async with node.ctx.sessions() as session, session.begin():
        await session.execute(
            update(Account).where(Account.id == row.account_id).values(suspended_at=now)
        )
    assert (await alice.get("/"))[0] == 303
