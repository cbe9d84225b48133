"""Group commit on the inbox: concurrent activities are each stored once, and a group
shares one commit (SECURITY.md §4: no 202 before the row is committed)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from node.appkeys import INBOX
from node.db.models import InboxItem
from node.federation.intake import InboxWriter
from tests.conftest import NodeFactory
from tests.node.rig import peers, post_activity


async def test_concurrent_activities_share_commits_and_stay_exactly_once(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="node.federation.intake")
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "carol")
        await node.ctx.resolver.key(peer.key_id("carol"))  # known key: no fetch in the timed part
        activities = [
            peer.activity("carol", "Like", f"{alice.uri}/statuses/{i}") for i in range(60)
        ]
        twice = activities[0]
        writer = node.app[INBOX].writer
        before, began = writer.commits, time.monotonic()
        replies = await asyncio.gather(
            *(post_activity(node, peer, "carol", a) for a in [*activities, twice, twice])
        )
        commits, took = writer.commits - before, time.monotonic() - began
        await asyncio.sleep(1.2)  # the writer sums its commits into one log line a second

    assert [r.status for r in replies] == [202] * 62
    reasons = [r.body.get("status") for r in replies]
    assert reasons.count("accepted") == 60
    assert reasons.count("already received") == 2
    async with node.ctx.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(InboxItem))
        distinct = await session.scalar(select(func.count(func.distinct(InboxItem.activity_id))))
    assert rows == distinct == 60
    # 62 requests arrived together; they were written in fewer commits than requests.
    assert 1 <= commits < 62
    # ... and logged as a summary a second, not a line per commit.
    lines = [r.args for r in caplog.records if r.getMessage().startswith("inbox stored")]
    assert 1 <= len(lines) <= took + 1, lines
    assert tuple(map(sum, zip(*lines, strict=True))) == (60, 2, commits)


async def test_a_row_id_taken_by_another_process_is_retried(make_node: NodeFactory) -> None:
    """Two processes can make the same id in one millisecond; the writer takes a fresh one
    instead of failing every request of the group (found with server.workers = 2)."""
    node = await make_node("finance", "127.0.0.2")
    writer = InboxWriter(node.ctx.sessions)
    now = datetime.now(UTC)
    row = {
        "id": 1234567,
        "actor_uri": "http://127.0.0.4/users/carol",
        "host": "127.0.0.4",
        "body": "{}",
        "recipient_id": None,
        "state": "done",
        "attempts": 0,
        "next_attempt_at": now,
        "locked_until": None,
        "received_at": now,
        "applied_at": None,
        "error": None,
    }
    assert await writer.write({**row, "activity_id": "http://127.0.0.4/a/1"})
    assert await writer.write({**row, "activity_id": "http://127.0.0.4/a/2"})  # same id
    assert not await writer.write({**row, "activity_id": "http://127.0.0.4/a/2"})
    async with node.ctx.sessions() as session:
        ids = list(
            (await session.execute(select(InboxItem.id).order_by(InboxItem.activity_id))).scalars()
        )
    assert len(ids) == 2 and ids[0] == 1234567 and ids[1] != 1234567
