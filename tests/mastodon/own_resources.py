"""One of each private resource a person owns — a list, a conversation, a filter with a
keyword and a status, a scheduled post, an upload not yet posted — for the IDOR test (SECURITY.md rows 11, 22).

:func:`own_resources` makes them for one person and returns, per route template, the id to
probe; :func:`snapshot` reads them back so the test can assert that nothing changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from node.api.mastodon.placeholders import solid_png
from tests.conftest import Node
from tests.mastodon.conftest import raw

__all__ = ["own_resources", "snapshot"]


async def own_resources(node: Node, token: str, direct_post: int, followed: int) -> dict[str, int]:
    """Make the owner's resources; ``{route template: id}`` for every route that takes one.

    *direct_post* is a direct post of the owner (it made their conversation); *followed* an
    account the owner follows (it goes on the list).
    """
    status, made = await raw(node, "POST", "/api/v1/lists", token, data={"title": "Team"})
    assert status == 200, made
    list_id = int(made["id"])
    status, body = await raw(
        node,
        "POST",
        f"/api/v1/lists/{list_id}/accounts",
        token,
        data={"account_ids[]": str(followed)},
    )
    assert status == 200, body
    status, conversations = await raw(node, "GET", "/api/v1/conversations", token)
    assert status == 200 and conversations, conversations
    status, made = await raw(
        node,
        "POST",
        "/api/v2/filters",
        token,
        json={
            "title": "Quiet",
            "context": ["home"],
            "filter_action": "warn",
            "keywords_attributes": [{"keyword": "lunch", "whole_word": True}],
        },
    )
    assert status == 200, made
    filter_id, keyword_id = int(made["id"]), int(made["keywords"][0]["id"])
    status, made = await raw(
        node,
        "POST",
        f"/api/v2/filters/{filter_id}/statuses",
        token,
        data={"status_id": direct_post},
    )
    assert status == 200, made
    filtered_status = int(made["id"])
    when = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    status, made = await raw(
        node, "POST", "/api/v1/statuses", token, data={"status": "later", "scheduled_at": when}
    )
    assert status == 200, made
    scheduled = int(made["id"])
    form = aiohttp.FormData()
    form.add_field("file", solid_png(4, 4, (0, 90, 0)), filename="x.png", content_type="image/png")
    status, made = await raw(node, "POST", "/api/v2/media", token, data=form)
    assert status in {200, 202}, made
    upload = int(made["id"])
    return {
        "/api/v1/media/{id}": upload,
        "/api/v1/lists/{id}": list_id,
        "/api/v1/lists/{id}/accounts": list_id,
        "/api/v1/timelines/list/{id}": list_id,
        "/api/v1/conversations/{id}": int(conversations[0]["id"]),
        "/api/v1/conversations/{id}/read": int(conversations[0]["id"]),
        "/api/v2/filters/{id}": filter_id,
        "/api/v2/filters/{id}/keywords": filter_id,
        "/api/v2/filters/{id}/statuses": filter_id,
        "/api/v2/filters/keywords/{id}": keyword_id,
        "/api/v1/filters/{id}": keyword_id,
        "/api/v2/filters/statuses/{id}": filtered_status,
        "/api/v1/scheduled_statuses/{id}": scheduled,
    }


async def snapshot(node: Node, token: str, own: dict[str, int] | None = None) -> list[Any]:
    """What the owner sees of their resources (compared before and after the probes)."""
    out: list[Any] = []
    for path in (
        "/api/v1/lists",
        "/api/v2/filters",
        "/api/v1/scheduled_statuses",
        "/api/v1/conversations",
    ):
        status, body = await raw(node, "GET", path, token)
        assert status == 200, (path, body)
        out.append(body)
    if own is not None:
        out.append((await raw(node, "GET", f"/api/v1/media/{own['/api/v1/media/{id}']}", token))[1])
    status, lists = await raw(node, "GET", "/api/v1/lists", token)
    for item in lists:
        out.append((await raw(node, "GET", f"/api/v1/lists/{item['id']}/accounts", token))[1])
    return out
