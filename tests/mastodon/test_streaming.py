"""Streaming: the WebSocket, the SSE endpoints and Mastodon.py's stream_* (PROTOCOL.md C30–C32).

What a person sees live: posts of people they follow, mentions, deletes, the local
timeline; never what they may not see (SECURITY.md row 11); and nothing more once their
token is revoked (row 20). Events written by another process arrive too (LISTEN/NOTIFY on
PostgreSQL, a polled cursor on SQLite). Every wait is bounded; nothing is timed.
"""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from mastodon import StreamListener

from node.app import create_app
from node.appkeys import CONTEXT, SETTINGS, STREAMS
from node.auth.tokens import authenticate, issue_token, revoke_token
from node.db.models import Account
from node.services.statuses import post_status
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import call, client, raw

WAIT = 10.0


@dataclass
class Local:
    node: Node
    alice: Account
    alice_token: str
    bob: Account
    bob_token: str
    carol_token: str


@pytest.fixture
async def local(make_node: NodeFactory) -> Local:
    """alice follows bob; carol is a stranger to her. All on one node."""
    node = await make_node("finance", "127.0.0.2")
    alice, alice_token = await node.user("alice")
    bob, bob_token = await node.user("bob")
    _carol, carol_token = await node.user("carol")
    status, _ = await raw(node, "POST", f"/api/v1/accounts/{bob.id}/follow", alice_token)
    assert status == 200
    return Local(node, alice, alice_token, bob, bob_token, carol_token)


def _ws_url(node: Node) -> str:
    return node.base.replace("http://", "ws://", 1) + "/api/v1/streaming"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(node: Node, token: str, text: str, visibility: str = "public") -> str:
    status, body = await raw(
        node, "POST", "/api/v1/statuses", token, data={"status": text, "visibility": visibility}
    )
    assert status == 200, body
    return str(body["id"])


async def _next(ws: aiohttp.ClientWebSocketResponse, event: str) -> dict[str, Any]:
    """The next message of kind *event* (others are skipped), within a bounded wait."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            data: dict[str, Any] = json.loads(message.data)
            if data.get("event") == event:
                return data


async def _subscribe(ws: aiohttp.ClientWebSocketResponse, stream: str, **extra: str) -> None:
    await ws.send_json({"type": "subscribe", "stream": stream, **extra})


async def _revoke(node: Node, secret: str) -> None:
    async with node.ctx.sessions() as session, session.begin():
        grant = await authenticate(session, secret)
        assert grant is not None
        await revoke_token(session, grant.token_id)


async def test_user_stream_shows_posts_mentions_and_deletes(
    local: Local, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(_ws_url(local.node), protocols=(local.alice_token,)) as ws:
        assert ws.protocol == local.alice_token  # masto.js needs the echo (C30)
        await _subscribe(ws, "user")
        await asyncio.sleep(0)  # the subscription travels before the post
        await _expect_ready(ws)
        post_id = await _post(local.node, local.bob_token, "hello from bob")
        update = await _next(ws, "update")
        assert update["stream"] == ["user"]
        assert isinstance(update["payload"], str)  # a JSON string, not an object (C31)
        assert json.loads(update["payload"])["id"] == post_id
        await _post(local.node, local.bob_token, "@alice look at this")
        notification = json.loads((await _next(ws, "notification"))["payload"])
        assert notification["type"] == "mention"
        assert notification["account"]["username"] == "bob"
        status, _ = await raw(
            local.node, "PUT", f"/api/v1/statuses/{post_id}", local.bob_token,
            data={"status": "hello again"},
        )  # fmt: skip
        assert status == 200
        edited = json.loads((await _next(ws, "status.update"))["payload"])
        assert edited["id"] == post_id and "hello again" in edited["content"]
        status, _ = await raw(local.node, "DELETE", f"/api/v1/statuses/{post_id}", local.bob_token)
        assert status == 200
        assert (await _next(ws, "delete"))["payload"] == post_id


async def _expect_ready(ws: aiohttp.ClientWebSocketResponse) -> None:
    """No error came back for the subscription (an error would be the first frame)."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            message = await ws.receive()
            pytest.fail(f"unexpected frame {message.data!r}")


async def test_streams_keep_what_the_viewer_may_not_see(
    local: Local, http: aiohttp.ClientSession
) -> None:
    """carol's followers-only post reaches neither alice's user nor her public stream; the
    public post after it does, so the private one was skipped, not late."""
    url = _ws_url(local.node) + "?stream=public"
    headers = {"Authorization": f"Bearer {local.alice_token}"}
    async with http.ws_connect(url, headers=headers) as ws:
        await _subscribe(ws, "user")
        await _expect_ready(ws)
        secret = await _post(local.node, local.carol_token, "for my followers", "private")
        public = await _post(local.node, local.carol_token, "for everyone")
        update = await _next(ws, "update")
        assert update["stream"] == ["public"]
        assert json.loads(update["payload"])["id"] == public != secret


async def test_a_delete_is_told_only_to_those_who_had_the_post(
    local: Local, http: aiohttp.ClientSession
) -> None:
    """carol deletes a followers-only post: alice (not a follower) hears nothing on her user
    stream, not even the bare id (SECURITY.md row 11); bob's delete, which she had, arrives."""
    headers = {"Authorization": f"Bearer {local.alice_token}"}
    async with http.ws_connect(_ws_url(local.node) + "?stream=user", headers=headers) as ws:
        await _expect_ready(ws)
        secret = await _post(local.node, local.carol_token, "only for my followers", "private")
        mine = await _post(local.node, local.bob_token, "bob says hi")
        assert json.loads((await _next(ws, "update"))["payload"])["id"] == mine
        for author, post in ((local.carol_token, secret), (local.bob_token, mine)):
            status, _ = await raw(local.node, "DELETE", f"/api/v1/statuses/{post}", author)
            assert status == 200
        assert (await _next(ws, "delete"))["payload"] == mine


async def test_local_only_post_reaches_public_local(
    local: Local, http: aiohttp.ClientSession
) -> None:
    url = _ws_url(local.node) + f"?access_token={local.alice_token}"
    async with http.ws_connect(url) as ws:
        await _subscribe(ws, "public:remote")
        await _subscribe(ws, "public:local")
        await _subscribe(ws, "hashtag", tag="Kantine")
        await _expect_ready(ws)
        post_id = await _post(local.node, local.carol_token, "only here #kantine", "local")
        first = await _next(ws, "update")
        second = await _next(ws, "update")
        streams = sorted([first["stream"], second["stream"]])
        assert streams == [["hashtag", "kantine"], ["public:local"]]
        entity = json.loads(first["payload"])
        assert entity["id"] == post_id and entity["local_only"] is True


async def test_unknown_stream_is_an_error_message(
    local: Local, http: aiohttp.ClientSession
) -> None:
    url = _ws_url(local.node) + f"?access_token={local.alice_token}"
    async with http.ws_connect(url) as ws:
        await _subscribe(ws, "nonsense")
        async with asyncio.timeout(WAIT):
            reply = await ws.receive_json()
        assert reply == {"error": "Unknown stream type", "status": 400}
    status, body = await raw(local.node, "GET", "/api/v1/streaming/nonsense", local.alice_token)
    assert (status, body) == (400, {"error": "Unknown channel requested"})
    assert await raw(local.node, "GET", "/api/v1/streaming/health") == (200, "OK")


async def test_bad_tokens_and_missing_scope_are_refused(
    local: Local, http: aiohttp.ClientSession
) -> None:
    for protocols in (("not-a-token",), ()):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(_ws_url(local.node) + "?stream=public", protocols=protocols)
        assert refused.value.status == 401
    async with local.node.ctx.sessions() as session, session.begin():
        writer = await issue_token(session, local.alice, "write")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(_ws_url(local.node), headers={"Authorization": f"Bearer {writer}"})
    assert refused.value.status == 403
    for path in ("/api/v1/streaming/user", "/api/v1/streaming/public"):
        assert (await raw(local.node, "GET", path, "not-a-token"))[0] == 401
        assert (await raw(local.node, "GET", path))[0] == 401
        assert (await raw(local.node, "GET", path, writer))[0] == 403


async def test_revoking_the_token_closes_open_streams(
    local: Local, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {local.alice_token}"}
    ws = await http.ws_connect(_ws_url(local.node) + "?stream=user", headers=headers)
    sse = await http.get(local.node.base + "/api/v1/streaming/user", headers=headers)
    assert sse.status == 200
    assert sse.headers["Content-Type"].startswith("text/event-stream")
    await _expect_ready(ws)
    await _revoke(local.node, local.alice_token)
    async with asyncio.timeout(WAIT):
        message = await ws.receive()
        assert message.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        rest = await sse.content.read()  # returns once the server ends the stream
    assert b"event:" not in rest
    sse.release()
    await ws.close()


class _Collect(StreamListener):
    """Mastodon.py listener putting (event, entity) on a thread-safe queue."""

    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        self.events.put(("delete", status_id))


async def _collected(listener: _Collect, event: str) -> Any:
    async with asyncio.timeout(WAIT):
        while True:
            kind, entity = await asyncio.to_thread(listener.events.get, True, WAIT)
            if kind == event:
                return entity


async def test_mastodon_py_streams_user_and_public(local: Local) -> None:
    api = client(local.node, local.alice_token)
    user, public = _Collect(), _Collect()
    handles = [
        await call(api.stream_user, user, run_async=True),
        await call(api.stream_public, public, run_async=True, local=True),
    ]
    try:
        await _wait_listeners(local.node, 2)
        post_id = await _post(local.node, local.bob_token, "hi @alice")
        assert str((await _collected(user, "update"))["id"]) == post_id
        assert (await _collected(user, "notification"))["type"] == "mention"
        assert str((await _collected(public, "update"))["id"]) == post_id
    finally:
        # Mastodon.py's close() waits for its reader thread: ending the streams from the
        # server side (revoking the token) lets the reader see the end.
        await _revoke(local.node, local.alice_token)
        for handle in handles:
            await call(handle.close)


async def _wait_listeners(node: Node, count: int) -> None:
    """Until *count* streams are open on *node* (Mastodon.py connects in its own thread)."""
    async with asyncio.timeout(WAIT):
        while True:
            if node.app[STREAMS].open_streams >= count:
                return
            await asyncio.sleep(0.05)


async def test_posts_of_another_process_arrive(local: Local, http: aiohttp.ClientSession) -> None:
    """A second application on the same database (another worker) posts; alice's stream on
    the first one shows it (PostgreSQL LISTEN/NOTIFY, or the SQLite cursor)."""
    other = create_app(local.node.app[SETTINGS], run_workers=False)
    runner = web.AppRunner(other)
    await runner.setup()
    try:
        headers = {"Authorization": f"Bearer {local.alice_token}"}
        async with http.ws_connect(_ws_url(local.node) + "?stream=user", headers=headers) as ws:
            await _expect_ready(ws)
            ctx = other[CONTEXT]
            async with ctx.sessions() as session, session.begin():
                bob = await session.get(Account, local.bob.id)
                assert bob is not None
                status = await post_status(ctx, session, bob, "@alice from the other worker")
            update = await _next(ws, "update")
            assert json.loads(update["payload"])["id"] == str(status.id)
            notification = json.loads((await _next(ws, "notification"))["payload"])
            assert notification["status"]["id"] == str(status.id)
    finally:
        await runner.cleanup()
