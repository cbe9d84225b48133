"""Search v2 and account search through Mastodon.py: local matches, and ``resolve=true`` for
remote handles and post URLs under the allowlist (PROTOCOL.md C19, C23; SECURITY.md rows 9, 11, 13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.shapes import check


@dataclass
class Recorder:
    """A loopback host that is no federation peer: it answers 404 and writes down every request."""

    base: str
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def evil() -> AsyncIterator[Recorder]:
    host = "127.0.0.4"
    port = free_port(host)
    recorder = Recorder(f"http://{host}:{port}")

    async def record(request: web.Request) -> web.StreamResponse:
        recorder.seen.append(f"{request.method} {request.path_qs}")
        return web.json_response({"error": "nothing here"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    yield recorder
    await runner.cleanup()


async def test_resolve_remote_handle_and_post_url(pair: Pair) -> None:
    finance, hr = pair.finance, pair.hr
    alice = client(finance, pair.alice_token)
    post = await call(client(hr, pair.bob_token).status_post, "Vacature bij HR #werving")

    # Without resolve an unknown handle finds nothing; with it, WebFinger and the actor fetch.
    found = await call(alice.search_v2, f"bob@{hr.domain}", resolve=False)
    assert found.accounts == []
    status, body = await raw(
        finance, "GET", "/api/v2/search", pair.alice_token,
        params={"q": f"@bob@{hr.domain}", "resolve": "true"},
    )  # fmt: skip
    assert status == 200 and set(body) == {"accounts", "statuses", "hashtags"}
    (bob,) = body["accounts"]
    check("Account", bob)
    assert bob["acct"] == f"bob@{hr.domain}"

    # A post URL of a peer is fetched, stored once and shown as a Status.
    status, body = await raw(
        finance, "GET", "/api/v2/search", pair.alice_token,
        params={"q": post.uri, "resolve": "true", "type": "statuses"},
    )  # fmt: skip
    assert status == 200 and body["accounts"] == []
    (fetched,) = body["statuses"]
    check("Status", fetched)
    assert fetched["uri"] == post.uri and "Vacature" in fetched["content"]
    again = await call(alice.search_v2, post.uri)
    assert [s.id for s in again.statuses] == [fetched["id"]]

    # Known now: found locally by name, also by the accounts endpoint and anonymously.
    assert [a.id for a in await call(alice.account_search, "bo")] == [bob["id"]]
    status, anonymous = await raw(finance, "GET", "/api/v1/accounts/search", params={"q": "bob"})
    assert status == 200 and [a["id"] for a in anonymous] == [bob["id"]]
    following = await call(alice.account_search, "bob", following=True)
    assert following == []
    await settle(finance, hr)


async def test_not_allowlisted_host_gets_no_request(pair: Pair, evil: Recorder) -> None:
    finance = pair.finance
    host = evil.base.removeprefix("http://")
    for q in (f"mallory@{host}", f"{evil.base}/users/mallory", f"{evil.base}/notes/1"):
        status, body = await raw(
            finance, "GET", "/api/v2/search", pair.alice_token, params={"q": q, "resolve": "1"}
        )
        assert (status, body) == (200, {"accounts": [], "statuses": [], "hashtags": []}), q
        status, body = await raw(
            finance, "GET", "/api/v1/accounts/search", pair.alice_token,
            params={"q": q, "resolve": "true"},
        )  # fmt: skip
        assert (status, body) == (200, []), q
    assert evil.seen == []


async def test_local_accounts_statuses_and_hashtags(pair: Pair) -> None:
    finance = pair.finance
    carol, carol_token = await finance.user("carol")
    _erin, erin_token = await finance.user("erin")
    alice = client(finance, pair.alice_token)
    carol_api = client(finance, carol_token)
    await call(alice.account_update_credentials, display_name="Alice van Dijk")
    await call(alice.status_post, "De #Begroting voor 2027 is klaar")
    secret = await call(
        carol_api.status_post, "Begroting: alleen voor volgers", visibility="private"
    )
    await call(carol_api.status_post, "100% zeker_niet")

    result = await call(alice.search_v2, "dijk", resolve=False)
    assert [a.username for a in result.accounts] == ["alice"]
    status, body = await raw(
        finance, "GET", "/api/v2/search", pair.alice_token, params={"q": "begr"}
    )
    assert status == 200
    assert [t["name"] for t in body["hashtags"]] == ["begroting"]
    check("Tag", body["hashtags"][0])
    assert len(body["statuses"]) == 1  # text contains: her post, not carol's private one
    found = await call(alice.search_v2, "begroting", result_type="statuses")
    assert len(found.statuses) == 1 and "2027" in found.statuses[0].content
    # carol's followers-only post is found by carol, not by alice, nor anonymously.
    mine = await call(carol_api.search_v2, "alleen voor volgers")
    assert [s.id for s in mine.statuses] == [secret.id]
    status, anonymous = await raw(finance, "GET", "/api/v2/search", params={"q": "begroting"})
    assert status == 200 and anonymous["statuses"] == []
    # LIKE wildcards in the query are literal.
    assert (await call(client(finance, erin_token).search_v2, "0% z")).statuses != []
    assert (await call(alice.search_v2, "%%", result_type="statuses")).statuses == []
    status, _ = await raw(finance, "GET", "/api/v2/search", pair.alice_token, params={"q": ""})
    assert status == 422
    assert carol.id != pair.alice.id
