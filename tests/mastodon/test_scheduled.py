"""Scheduled posts: ``scheduled_at`` on posting, the ``/api/v1/scheduled_statuses`` routes,
and the worker that publishes them — stepped with an injected clock, across a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from node.api.mastodon.placeholders import solid_png
from node.api.mastodon.scheduled import SCHEDULER
from node.app import create_app
from node.appkeys import SETTINGS
from tests.conftest import Node, NodeFactory
from tests.mastodon import shapes
from tests.mastodon.conftest import call, client, raw


async def _restart(node: Node) -> None:
    """Stop the node and start a new application on the same database and address."""
    settings = node.app[SETTINGS]
    await node.runner.cleanup()
    app = create_app(settings, run_workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, node.host, node.port).start()
    node.app, node.runner = app, runner


async def test_schedule_move_cancel_publish_and_restart(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    alice_account, token = await node.user("alice")
    _bob, bob_token = await node.user("bob")
    _carol, carol_token = await node.user("carol")
    alice, bob = client(node, token), client(node, bob_token)
    await call(bob.account_follow, alice_account.id)
    question = await call(bob.status_post, "Wie komt er vrijdag?")
    now = datetime.now(UTC)

    later = await call(
        alice.status_post,
        "Vrijdag borrel!",
        scheduled_at=now + timedelta(minutes=10),
        spoiler_text="uitnodiging",
        in_reply_to_id=question.id,
        visibility="unlisted",
    )
    status, body = await raw(node, "GET", f"/api/v1/scheduled_statuses/{later.id}", token)
    assert status == 200
    shapes.check("ScheduledStatus", body)
    assert body["params"]["text"] == "Vrijdag borrel!"
    assert body["params"]["visibility"] == "unlisted"
    assert body["params"]["in_reply_to_id"] == str(question.id)
    assert [s.id for s in await call(alice.scheduled_statuses)] == [later.id]
    cancelled = await call(alice.status_post, "Toch niet", scheduled_at=now + timedelta(hours=1))
    # A client retrying with the same Idempotency-Key gets the same scheduled post.
    retry = {"status": "Toch niet", "scheduled_at": (now + timedelta(hours=1)).isoformat()}
    answers = []
    for _ in range(2):
        status, body = await raw(
            node, "POST", "/api/v1/statuses", token, data=retry, headers={"Idempotency-Key": "k1"}
        )
        assert status == 200 and body["params"]["idempotency"] == "k1"
        answers.append(body["id"])
    first = answers[0]
    assert answers == [first, first]
    assert len(await call(alice.scheduled_statuses)) == 3
    await call(alice.scheduled_status_delete, first)

    # Bad input: 422, nothing scheduled.
    before = await raw(node, "GET", "/api/v1/scheduled_statuses", token)
    soon = (now + timedelta(minutes=2)).isoformat()
    fine = (now + timedelta(hours=2)).isoformat()
    for data in (
        {"status": "te vroeg", "scheduled_at": soon},
        {"status": "verleden", "scheduled_at": (now - timedelta(days=1)).isoformat()},
        {"status": "wanneer?", "scheduled_at": "next friday"},
        {"status": "", "scheduled_at": fine},
        {"status": "x", "scheduled_at": fine, "visibility": "everyone"},
        {"status": "x" * 5001, "scheduled_at": fine},
    ):
        status, answer = await raw(node, "POST", "/api/v1/statuses", token, data=data)
        assert status == 422, (data, answer)
        assert answer.get("error")
    status, _ = await raw(
        node,
        "POST",
        "/api/v1/statuses",
        token,
        data={"status": "x", "scheduled_at": fine, "in_reply_to_id": "1"},
    )
    assert status == 404
    status, _ = await raw(
        node, "PUT", f"/api/v1/scheduled_statuses/{later.id}", token, data={"scheduled_at": soon}
    )
    assert status == 422
    assert await raw(node, "GET", "/api/v1/scheduled_statuses", token) == before

    # Another person: 404 on every route, nothing changes.
    for method in ("GET", "PUT", "DELETE"):
        status, _ = await raw(
            node,
            method,
            f"/api/v1/scheduled_statuses/{later.id}",
            carol_token,
            data={"scheduled_at": fine},
        )
        assert status == 404
    assert await raw(node, "GET", "/api/v1/scheduled_statuses", carol_token) == (200, [])
    assert await raw(node, "GET", "/api/v1/scheduled_statuses", token) == before

    moved = await call(alice.scheduled_status_update, later.id, now + timedelta(minutes=20))
    assert moved.scheduled_at > now + timedelta(minutes=19)
    await call(alice.scheduled_status_delete, cancelled.id)
    assert [s.id for s in await call(alice.scheduled_statuses)] == [later.id]

    # Not yet due: nothing happens. Due (the clock is injected): published, row gone.
    scheduler = node.app[SCHEDULER]
    assert await scheduler.run_once() == 0
    assert await scheduler.run_once(now=now + timedelta(minutes=15)) == 0
    scheduler.clock = lambda: now + timedelta(minutes=21)
    assert await scheduler.run_once() == 1
    assert await call(alice.scheduled_statuses) == []
    posted = (await call(alice.account_statuses, alice_account.id))[0]
    assert posted.content == "<p>Vrijdag borrel!</p>" and posted.spoiler_text == "uitnodiging"
    assert str(posted.in_reply_to_id) == str(question.id) and posted.visibility == "unlisted"
    assert posted.id in [s.id for s in await call(bob.timeline_home)]
    assert "Toch niet" not in [
        s.content for s in await call(alice.account_statuses, alice_account.id)
    ]

    # Rows survive a restart: a new application publishes what the old one left.
    await call(alice.status_post, "Na de herstart", scheduled_at=now + timedelta(minutes=30))
    await _restart(node)
    assert await node.app[SCHEDULER].run_once(now=now + timedelta(minutes=31)) == 1
    newest = (await call(client(node, token).account_statuses, alice_account.id))[0]
    assert newest.content == "<p>Na de herstart</p>"
    assert await node.app[SCHEDULER].run_once(now=now + timedelta(days=1)) == 0


async def test_daily_limit(make_node: NodeFactory) -> None:
    """Mastodon's cap: 25 posts for any one day; the 26th is refused and not stored."""
    node = await make_node("finance", "127.0.0.2")
    _alice, token = await node.user("alice")
    day = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0)
    for minute in range(25):
        when = (day + timedelta(minutes=minute)).isoformat()
        status, body = await raw(
            node, "POST", "/api/v1/statuses", token, data={"status": "x", "scheduled_at": when}
        )
        assert status == 200, body
    status, body = await raw(
        node,
        "POST",
        "/api/v1/statuses",
        token,
        data={"status": "26", "scheduled_at": (day + timedelta(hours=5)).isoformat()},
    )
    assert status == 422 and "one day" in body["error"]
    status, body = await raw(node, "GET", "/api/v1/scheduled_statuses?limit=40", token)
    assert len(body) == 25
    status, body = await raw(
        node,
        "POST",
        "/api/v1/statuses",
        token,
        data={"status": "next day", "scheduled_at": (day + timedelta(days=1)).isoformat()},
    )
    assert status == 200


async def test_scheduled_post_with_photo(make_node: NodeFactory) -> None:
    """A scheduled post carries its photos: checked when scheduled (the caller's own, not yet
    posted, else 422 and nothing stored), attached when published."""
    node = await make_node("finance", "127.0.0.2")
    alice_account, token = await node.user("alice")
    _bob, bob_token = await node.user("bob")
    alice = client(node, token)
    photo = await call(
        alice.media_post, solid_png(8, 6, (200, 0, 0)), mime_type="image/png", description="Rood"
    )
    theirs = await call(
        client(node, bob_token).media_post, solid_png(4, 4, (0, 0, 200)), mime_type="image/png"
    )
    now = datetime.now(UTC)
    when = (now + timedelta(minutes=30)).isoformat()
    for media_id in (theirs.id, "999", "x"):
        status, body = await raw(
            node,
            "POST",
            "/api/v1/statuses",
            token,
            data={"status": "foto", "scheduled_at": when, "media_ids[]": str(media_id)},
        )
        assert status == 422, body
    assert await call(alice.scheduled_statuses) == []
    later = await call(
        alice.status_post, "", media_ids=[photo.id], scheduled_at=now + timedelta(minutes=30)
    )
    status, body = await raw(node, "GET", f"/api/v1/scheduled_statuses/{later.id}", token)
    shapes.check("ScheduledStatus", body)
    assert body["params"]["media_ids"] == [str(photo.id)]
    assert [m["description"] for m in body["media_attachments"]] == ["Rood"]
    assert await node.app[SCHEDULER].run_once(now=now + timedelta(minutes=31)) == 1
    posted = (await call(alice.account_statuses, alice_account.id))[0]
    assert [m.description for m in posted.media_attachments] == ["Rood"]
    assert str(posted.media_attachments[0].id) == str(photo.id)
