"""Group commit on the inbox: concurrent activities are each stored once, and a group
shares one commit (SECURITY.md §4: no 202 before the row is committed)."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from node.appkeys import ENGINE
from node.db.models import InboxItem
from tests.conftest import NodeFactory
from tests.node.rig import peers, post_activity


async def test_concurrent_activities_share_commits_and_stay_exactly_once(
    make_node: NodeFactory,
) -> None:
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    commits = 0

    def count_commit(_conn: object) -> None:
        nonlocal commits
        commits += 1

    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "carol")
        await node.ctx.resolver.key(peer.key_id("carol"))  # known key: no fetch in the timed part
        activities = [
            peer.activity("carol", "Like", f"{alice.uri}/statuses/{i}") for i in range(60)
        ]
        twice = activities[0]
        event.listen(node.app[ENGINE].sync_engine, "commit", count_commit)
        replies = await asyncio.gather(
            *(post_activity(node, peer, "carol", a) for a in [*activities, twice, twice])
        )
        event.remove(node.app[ENGINE].sync_engine, "commit", count_commit)

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
