"""The ``kantine`` command as an admin runs it: real subprocesses on SQLite and PostgreSQL.

Independent commands run concurrently (each one is a fresh Python process), and set-up
that another test already covers through the command happens in-process, so the whole
file stays fast on a two-core machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

import config as config_package
from config import Settings, load_settings
from node.auth.tokens import authenticate
from node.cli.database import initialise
from node.db.engine import Sessions, create_engine, sessionmaker_for
from node.db.models import Account, Follow, Status
from node.federation.delivery_admin import PeerDeliveryState, delivery_report
from node.federation.documents import Urls
from node.federation.policy import list_peers
from node.ids import new_id
from node.services.accounts import create_local_account, local_account
from tests.conftest import free_port

__all__: list[str] = []

UrlFactory = Callable[[str], Awaitable[str]]
PASSWORD = "correct horse battery"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
EXAMPLES = Path(config_package.__file__).parent / "examples"
#: An allowlisted peer address with nothing listening until a test starts one there.
PEER_IP = "127.0.0.9"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANTINE_")}
    return {**env, **(extra or {})}


async def kantine(
    *args: str | Path, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """Run ``kantine ARGS`` as the admin would and wait for it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node.cli",
        *map(str, args),
        cwd=cwd,
        env=_env(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), timeout=60
    )
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@dataclass(frozen=True)
class Admin:
    """``kantine … --config CONFIG`` for one node's config file."""

    cwd: Path
    config: Path

    async def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return await kantine(*args, "--config", self.config, cwd=self.cwd, stdin=stdin)


def assert_one_line_error(result: Result, code: int, *words: str) -> None:
    """A user error: the exit code, one line on stderr naming the problem, no traceback."""
    assert result.code == code, result
    assert "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    for word in words:
        assert word in result.err, result.err


def write_config(
    folder: Path, database_url: str, *, host: str = "127.0.0.1", port: int = 8001, workers: int = 1
) -> Path:
    path = folder / "node.toml"
    path.write_text(
        f"""
[node]
domain = "{host}:{port}"
base_url = "http://{host}:{port}"
name = "Financiën"

[server]
host = "{host}"
port = {port}
workers = {workers}

[database]
url = "{database_url}"
pool_size = 3

[federation]
allow = ["directory.example.org", "{PEER_IP}"]
allow_http = true

[logging]
level = "INFO"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def sessions_factory() -> AsyncIterator[Callable[[str], Sessions]]:
    """The test's own view of a node's database, closed at the end."""
    engines = []

    def make(url: str) -> Sessions:
        engine = create_engine(url, pool_size=2)
        engines.append(engine)
        return sessionmaker_for(engine)

    yield make
    for engine in engines:
        await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 20) -> None:
    """Poll *check* until it holds (the node's workers run on their own schedule)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Served:
    process: asyncio.subprocess.Process
    log: Path
    base: str

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=30)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Path, str], Awaitable[Served]]]:
    """Starts ``kantine serve`` and waits for ``GET /health`` to answer 200; stops it after."""
    started: list[Served] = []

    async def start(config: Path, base: str) -> Served:
        log = config.parent / f"serve-{len(started)}.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "node.cli", "serve", "--config", str(config)),
                cwd=config.parent,
                env=_env(),
                stdout=sink,
                stderr=sink,
            )
        served = Served(process, log, base)
        started.append(served)

        async def healthy() -> bool:
            if process.returncode is not None:
                pytest.fail(f"kantine serve exited {process.returncode}: {log.read_text()}")
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"{base}/health", timeout=aiohttp.ClientTimeout(total=2)) as answer,
                ):
                    return answer.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(healthy, "GET /health to answer 200", seconds=30)
        return served

    yield start
    for served in started:
        if served.process.returncode is None:
            served.process.kill()
            await served.process.wait()


# --- the admin's one-shot commands -----------------------------------------------------------


async def test_init_users_tokens_federation_post(
    database_url_factory: UrlFactory,
    sessions_factory: Callable[[str], Sessions],
    tmp_path: Path,
) -> None:
    url = await database_url_factory("finance")
    config = write_config(tmp_path, url)
    settings = load_settings(config, env={})
    k = Admin(tmp_path, config)

    first = await k("init")
    assert first.code == 0, first
    assert "initialised Financiën" in first.out and "/actor" in first.out
    again, alice = await asyncio.gather(
        k("init"),
        k(
            "users",
            "create",
            "alice",
            *("--role", "admin", "--display-name", "Alice Jansen", "--password-stdin"),
            stdin=PASSWORD + "\n",
        ),
    )
    assert again.code == 0 and "up to date" in again.out, again
    assert alice.code == 0, alice
    assert "created alice@127.0.0.1:8001 (admin)" in alice.out

    (tmp_path / "fresh").mkdir()
    fresh = write_config(tmp_path / "fresh", await database_url_factory("fresh"))
    (
        duplicate,
        short,
        bad_role,
        bot,
        token,
        no_user,
        allow,
        deny,
        posted,
        from_stdin,
        uninitialised,
    ) = await asyncio.gather(
        k("users", "create", "alice", "--password", PASSWORD),
        k("users", "create", "carol", "--password", "kort"),
        k("users", "create", "dave", "--role", "boss"),
        k(
            *("users", "create", "kwartaalbot", "--bot", "--display-name", "Kwartaalbot"),
        ),
        k("tokens", "create", "alice", "--scopes", "read,write"),
        k("tokens", "create", "nobody"),
        k("federation", "allow", "hr.example.org"),
        k("federation", "deny", "https://spam.example/"),
        k("post", "--as", "alice", "Kwartaalcijfers staan online"),
        k(
            *("post", "--as", "alice", "--visibility", "unlisted", "-"),
            stdin="Gemeld vanuit cron\n",
        ),
        kantine("users", "list", "--config", fresh, cwd=tmp_path),
    )
    assert_one_line_error(duplicate, 1, "alice already exists")
    assert_one_line_error(short, 1, "at least 12 characters")
    assert "kort" not in short.err + short.out
    assert_one_line_error(bad_role, 1, "role must be one of admin, moderator")
    assert bot.code == 0 and "(member, bot)" in bot.out, bot
    assert_one_line_error(no_user, 1, "no user 'nobody'")
    assert_one_line_error(uninitialised, 1, "not initialised", "kantine init")
    assert allow.code == 0 and "hr.example.org is now allowed" in allow.out, allow
    assert deny.code == 0 and "spam.example is now denied" in deny.out, deny

    # Only the token on stdout, so `TOKEN=$(kantine tokens create …)` works; and it is valid.
    assert token.code == 0 and token.err == "", token
    secret = token.out.strip()
    assert token.out == secret + "\n" and len(secret) >= 40
    sessions = sessions_factory(url)
    async with sessions() as session:
        grant = await authenticate(session, secret)
        assert grant is not None and grant.account.username == "alice"
        assert grant.allows("write:statuses") and not grant.allows("follow")

    # Both posts exist as alice's, with the ids the command printed.
    assert posted.code == 0 and from_stdin.code == 0, (posted, from_stdin)
    assert "kantine serve" in posted.err  # it says who delivers
    async with sessions() as session:
        rows = (await session.execute(select(Status.uri, Status.text, Status.visibility))).all()
    assert {(r.uri, r.text, r.visibility) for r in rows} == {
        (posted.out.strip(), "Kwartaalcijfers staan online", "public"),
        (from_stdin.out.strip(), "Gemeld vanuit cron", "unlisted"),
    }

    users, peers, forget = await asyncio.gather(
        k("users", "list"),
        # --config may come from the environment instead.
        kantine("federation", "list", cwd=tmp_path, env={"KANTINE_CONFIG": str(config)}),
        k("federation", "forget", "hr.example.org"),
    )
    assert users.code == 0, users
    lines = users.out.splitlines()
    assert lines[0].split()[:3] == ["USER", "ROLE", "TYPE"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["alice", "admin", "person"],
        ["kwartaalbot", "member", "bot"],
    ]
    assert "Alice Jansen" in users.out and PASSWORD not in users.out
    assert peers.code == 0, peers
    listed = [line.split() for line in peers.out.splitlines()[2:]]
    assert ["directory.example.org", "allowed", "config"] in listed
    assert [PEER_IP, "allowed", "config"] in listed
    assert ["spam.example", "denied", "cli"] in listed
    assert forget.code == 0, forget
    async with sessions() as session:
        remaining = {(p.host, p.source) for p in await list_peers(session, settings.federation)}
    assert ("hr.example.org", "cli") not in remaining and ("spam.example", "cli") in remaining


async def test_a_wrong_setting_is_named_with_exit_code_2(tmp_path: Path) -> None:
    def config(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    good = config("good", '[node]\ndomain = "finance.example.org"\n')
    cases: list[tuple[list[str | Path], dict[str, str], str]] = [
        (["users", "list", "--config", config("port", '[server]\nport = "achtduizend"\n')], {}, "server.port"),
        (["init", "--config", config("mode", '[federation]\nmode = "closed"\n')], {}, "federation.mode"),
        (["serve", "--config", config("unknown", '[node]\ncolour = "blue"\n')], {}, "node.colour"),
        (["serve", "--config", config("toml", "[node\n")], {}, "not valid TOML"),
        (["users", "list", "--config", good], {"KANTINE_SERVER_WORKERS": "veel"}, "server.workers"),
        (["users", "list", "--config", tmp_path / "missing.toml"], {}, "file not found"),
        (["users", "list"], {}, "KANTINE_CONFIG"),
        (["users", "frobnicate", "--config", good], {}, "invalid choice"),
    ]  # fmt: skip
    results = await asyncio.gather(
        *(kantine(*args, cwd=tmp_path, env=env) for args, env, _ in cases)
    )
    for (_, _, key), result in zip(cases, results, strict=True):
        assert_one_line_error(result, 2, key)


@pytest.mark.parametrize(
    "name", ["department", "directory", "demo-finance", "demo-hr", "demo-directory"]
)
def test_example_configs_are_valid(name: str) -> None:
    settings = load_settings(EXAMPLES / f"{name}.toml", env={})
    assert settings.node.role == ("directory" if name.endswith("directory") else "department")


@pytest.mark.parametrize("name", ["department", "directory"])
def test_example_configs_show_every_setting(name: str) -> None:
    text = (EXAMPLES / f"{name}.toml").read_text(encoding="utf-8")
    for section in dataclasses.fields(Settings):
        if section.name == "root":
            continue
        assert f"[{section.name}]" in text
        for setting in dataclasses.fields(getattr(Settings(), section.name)):
            shown = re.search(rf"^(# )?{setting.name} = ", text, re.MULTILINE)
            assert shown, f"{name}.toml does not show {section.name}.{setting.name}"


# --- serve, post and the delivery queue -------------------------------------------------------


async def _add_remote_follower(sessions: Sessions, domain: str, peer: str) -> None:
    """carol@PEER follows alice: her node is allowlisted but (for now) not listening."""
    async with sessions() as session, session.begin():
        alice = await local_account(session, domain, "alice")
        assert alice is not None
        carol = Account(
            id=new_id(),
            uri=f"http://{peer}/users/carol",
            username="carol",
            domain=peer,
            local=False,
            inbox_url=f"http://{peer}/inbox",
            public_key_id=f"http://{peer}/users/carol#main-key",
            public_key_pem="(not needed: carol never sends here)",
        )
        session.add(carol)
        await session.flush()
        session.add(
            Follow(
                id=new_id(),
                account_id=carol.id,
                target_account_id=alice.id,
                uri=f"http://{peer}/follows/1",
                state="accepted",
            )
        )


class FakePeer:
    """carol's node: an inbox answering whatever status the test sets."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.status = 202
        self.received: list[int] = []
        self._runner: web.AppRunner | None = None

    async def _inbox(self, request: web.Request) -> web.Response:
        await request.read()
        self.received.append(self.status)
        return web.Response(status=self.status, text="gone" if self.status == 410 else "")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/inbox", self._inbox)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, PEER_IP, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.mark.slow
async def test_serve_post_and_deliveries(
    database_url_factory: UrlFactory,
    sessions_factory: Callable[[str], Sessions],
    serve: Callable[[Path, str], Awaitable[Served]],
    tmp_path: Path,
) -> None:
    host = "127.0.0.4"
    port, peer_port = free_port(host), free_port(PEER_IP)
    peer = f"{PEER_IP}:{peer_port}"
    url = await database_url_factory("finance")
    config = write_config(tmp_path, url, host=host, port=port)
    settings = load_settings(config, env={})
    await initialise(settings)  # `kantine init` has its own test
    sessions = sessions_factory(url)
    k = Admin(tmp_path, config)
    async with sessions() as session, session.begin():
        await create_local_account(
            session, settings.node.domain, Urls(settings.base_url), "alice", password=PASSWORD
        )
    await _add_remote_follower(sessions, settings.node.domain, peer)

    token, node = await asyncio.gather(
        k("tokens", "create", "alice", "--scopes", "read,write"),
        serve(config, settings.base_url),
    )  # fmt: skip
    assert token.code == 0, token

    # The token from the command works against the served node: a C2S post is created.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{node.base}/users/alice/outbox",
            json={"type": "Note", "content": "Kwartaalcijfers staan online", "to": [PUBLIC]},
            headers={
                "Authorization": f"Bearer {token.out.strip()}",
                "Content-Type": "application/activity+json",
            },
        ) as answer,
    ):
        assert answer.status == 201, await answer.text()
    # … and so is one from a script; both are queued for carol's unreachable node.
    posted = await k("post", "--as", "alice", "Tweede bericht")
    assert posted.code == 0, posted

    async def state() -> PeerDeliveryState | None:
        async with sessions() as session:
            return next((p for p in await delivery_report(session) if p.host == peer), None)

    async def tried_and_waiting() -> bool:
        now = await state()
        return now is not None and now.pending == 2 and now.last_error is not None

    await eventually(tried_and_waiting, "the first delivery attempt to fail")
    report = await k("federation", "deliveries")
    assert report.code == 0, report
    header, *rows = report.out.splitlines()
    assert header.split()[:3] == ["HOST", "PENDING", "FAILED"] and "LAST ERROR" in header
    [row] = [r for r in rows if r.startswith(peer)]
    assert row.split()[1:3] == ["2", "0"], row
    failed_state = await state()
    assert failed_state is not None and failed_state.last_error is not None
    assert failed_state.last_error in row  # the reason the admin can act on

    # carol's node comes back, but answers 410 Gone: retried now, both are given up.
    fake = FakePeer(peer_port)
    fake.status = 410
    await fake.start()
    try:
        due = await k("federation", "deliveries", "--retry-now", peer)  # fmt: skip
        # One is waiting (in order per inbox, the second waits behind it) — or none, when
        # on a busy machine the first back-off ran out before the command did.
        assert due.code == 0 and re.search(
            rf"\b[01] pending deliveries to {re.escape(peer)} are due now", due.out
        ), due

        async def both_failed() -> bool:
            now = await state()
            return now is not None and now.failed == 2 and now.pending == 0

        await eventually(both_failed, "both deliveries to be given up")
        failed = await k("federation", "deliveries", "--failed")  # fmt: skip
        assert failed.code == 0, failed
        assert failed.out.count(peer) == 2 and failed.out.count("HTTP 410") == 2, failed.out

        # The admin retries them once carol's node accepts again: delivered, in order.
        fake.status = 202
        retried = await k("federation", "deliveries", "--retry", "--host", peer)  # fmt: skip
        assert retried.code == 0 and f"requeued 2 failed deliveries to {peer}" in retried.out

        async def delivered() -> bool:
            now = await state()
            return (
                now is not None
                and now.pending == now.failed == 0
                and fake.received == [410, 410, 202, 202]
            )

        await eventually(delivered, "the requeued deliveries to arrive")
        final = await k("federation", "deliveries", "--host", peer)  # fmt: skip
        [row] = final.out.splitlines()[1:]
        assert row.split()[:3] == [peer, "0", "0"] and row.split()[3] == "-", row
    finally:
        await fake.stop()
    assert await node.stop() == 0  # SIGTERM stops it cleanly
    assert "Traceback" not in node.log.read_text()


@pytest.mark.slow
async def test_two_web_processes_share_the_port(
    database_url_factory: UrlFactory,
    serve: Callable[[Path, str], Awaitable[Served]],
    tmp_path: Path,
) -> None:
    host = "127.0.0.4"
    port = free_port(host)
    url = await database_url_factory("finance")
    config = write_config(tmp_path, url, host=host, port=port, workers=2)
    node = await serve(config, f"http://{host}:{port}")
    children = Path(f"/proc/{node.process.pid}/task/{node.process.pid}/children")
    if children.exists():  # noqa: ASYNC240 (Linux only; a tiny /proc read)
        assert len(children.read_text().split()) == 2  # noqa: ASYNC240
    async with aiohttp.ClientSession() as http:
        for _ in range(10):
            async with http.get(f"{node.base}/health") as answer:
                assert answer.status == 200
    assert await node.stop() == 0
    assert node.log.read_text().count("serving Financiën") == 2
