"""The durable delivery queue against real peers on loopback, on SQLite and PostgreSQL (A26-A28)."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activitypub.client import FederationClient, make_session
from activitypub.errors import SignatureError
from activitypub.keys import generate_private_key, private_key_to_pem, public_key_to_pem
from activitypub.signatures import parse_signed_request
from node.db import create_engine, sessionmaker_for
from node.db.models import Account, Delivery, OutboxActivity
from node.federation import retry
from node.federation.delivery import DeliveryWorker, claim, enqueue
from node.federation.delivery_admin import delivery_report, list_failed, retry_failed, retry_now
from node.ids import id_for_time, new_id
from tests.conftest import DatabaseUrlFactory

__all__: list[str] = []

Sessions = async_sessionmaker[AsyncSession]
HORIZON = timedelta(days=7)
ACTOR = "http://kantine.test/users/alice"


# --- pure functions (A28) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "delivered"),
        (202, "delivered"),
        (204, "delivered"),
        (400, "give_up"),
        (403, "give_up"),
        (404, "give_up"),
        (410, "give_up"),
        (422, "give_up"),
        (501, "give_up"),
        (401, "retry"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (None, "retry"),
    ],
)
def test_outcome_follows_a28(status: int | None, expected: str) -> None:
    assert retry.outcome(status) == expected


def test_back_off_grows_and_is_capped() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    delays = [retry.next_attempt_at(n, now=now, rng=rng) - now for n in range(1, 30)]
    assert timedelta(seconds=16) <= delays[0] <= timedelta(seconds=17)
    assert all(d <= retry.MAX_DELAY for d in delays)
    assert delays[5] > delays[1]
    # A peer down over a long weekend is still tried several times a day.
    assert all(d >= retry.MAX_DELAY * 0.9 for d in delays[15:])


def test_expired_at_the_horizon() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert not retry.expired(created, now=created + HORIZON / 2, horizon=HORIZON)
    assert retry.expired(created, now=created + HORIZON, horizon=HORIZON)


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Clock:
    """The worker's injected clock: tests move it instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Allowed:
    """A host policy the test can change (a peer taken off the allowlist)."""

    hosts: set[str] = field(default_factory=set)

    def allows(self, host: str) -> bool:
        return host.lower() in self.hosts


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes
    key_id: str
    verified: bool


class Peer:
    """A remote server on a loopback address that records and verifies what it is sent."""

    def __init__(self, ip: str, public_key: rsa.RSAPublicKey) -> None:
        self.ip = ip
        self.port = 0
        self.status = 202
        self.hang = False
        self.received: list[Received] = []
        self._key = public_key
        self._release = asyncio.Event()
        self._arrivals = asyncio.Condition()
        self._server: TestServer | None = None

    @property
    def host(self) -> str:
        return f"{self.ip}:{self.port}"

    def url(self, path: str = "/inbox") -> str:
        return f"http://{self.host}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._server = TestServer(app, host=self.ip, port=self.port or None)
        await self._server.start_server()
        self.port = self._server.port or 0

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()
            self._server = None
        self._release = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        """Return once *count* requests have arrived."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: len(self.received) >= count)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang:
            await self._release.wait()
        signed = parse_signed_request(
            method=request.method, url=str(request.url), headers=request.headers, body=body
        )
        try:
            signed.verify(self._key)
            verified = True
        except SignatureError:
            verified = False
        async with self._arrivals:
            self.received.append(Received(request.path, body, signed.key_id, verified))
            self._arrivals.notify_all()
        return web.Response(status=self.status if verified else 401)


#: The ``start_peer`` fixture: a peer started on the given loopback address.
StartPeer = Callable[[str], Awaitable[Peer]]


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture
async def engine(database_url_factory: DatabaseUrlFactory) -> AsyncIterator[AsyncEngine]:
    """A database at the newest migration, on SQLite and on PostgreSQL (``db_kind``)."""
    db = create_engine(await database_url_factory("kantine", migrated=True))
    yield db
    await db.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return sessionmaker_for(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def policy() -> Allowed:
    return Allowed()


@pytest.fixture
async def http(policy: Allowed) -> AsyncIterator[aiohttp.ClientSession]:
    session = make_session(policy=policy, open_mode=False)
    yield session
    await session.close()


def _client(
    http: aiohttp.ClientSession, policy: Allowed, timeout: float = 10.0
) -> FederationClient:
    # Peers live on 127.0.0.x: trusted because allowlisted, as intranet peers on RFC 1918 are.
    return FederationClient(
        http, policy=policy, allow_http=True, timeout=timeout, trusted_hosts=policy.allows
    )


@pytest.fixture
def worker(
    sessions: Sessions, http: aiohttp.ClientSession, policy: Allowed, clock: Clock
) -> DeliveryWorker:
    return DeliveryWorker(
        sessions,
        _client(http, policy),
        concurrency=4,
        horizon=HORIZON,
        clock=clock,
        rng=random.Random(1),
    )


@pytest.fixture
async def account(sessions: Sessions, private_key: rsa.RSAPrivateKey) -> Account:
    row = Account(
        id=new_id(),
        uri=ACTOR,
        username="alice",
        domain="kantine.test",
        local=True,
        inbox_url=f"{ACTOR}/inbox",
        public_key_id=f"{ACTOR}#main-key",
        public_key_pem=public_key_to_pem(private_key),
        private_key_pem=private_key_to_pem(private_key),
    )
    async with sessions() as session, session.begin():
        session.add(row)
    return row


@pytest.fixture
async def start_peer(private_key: rsa.RSAPrivateKey, policy: Allowed) -> AsyncIterator[StartPeer]:
    """Starts an allowlisted peer on a loopback address; all are stopped after the test."""
    started: list[Peer] = []

    async def start(ip: str) -> Peer:
        peer = Peer(ip, private_key.public_key())
        await peer.start()
        policy.hosts.add(peer.host)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        await peer.stop()


async def post(
    sessions: Sessions, account: Account, inboxes: Iterable[str], clock: Clock, n: int = 0
) -> OutboxActivity:
    """Store an activity and queue it in one transaction, as the publishing service does."""
    uri = f"{ACTOR}/activities/{n}-{secrets.token_hex(4)}"
    activity = OutboxActivity(
        id=id_for_time(clock.now, low=n),
        uri=uri,
        account_id=account.id,
        type="Create",
        body=f'{{"id": "{uri}", "type": "Create", "content": "h\\u00e9 {n} ✓"}}',
        created_at=clock.now,
    )
    async with sessions() as session, session.begin():
        session.add(activity)
        await enqueue(session, activity, inboxes, now=clock.now)
    return activity


async def deliveries(sessions: Sessions) -> list[Delivery]:
    async with sessions() as session:
        return list((await session.scalars(select(Delivery).order_by(Delivery.id))).all())


# --- enqueue --------------------------------------------------------------------------------


async def test_enqueue_is_idempotent_and_commits_with_the_activity(
    sessions: Sessions, account: Account, clock: Clock
) -> None:
    inboxes = [
        "https://Peer.Example:8443/inbox",
        "https://peer.example:8443/inbox",
        "https://b.example/i",
    ]
    activity = await post(sessions, account, inboxes, clock)
    async with sessions() as session, session.begin():
        assert await enqueue(session, activity, ["https://b.example/i"], now=clock.now) == 0
        assert await enqueue(session, activity, ["https://c.example/i"], now=clock.now) == 1
    assert sorted(d.host for d in await deliveries(sessions)) == [
        "b.example",
        "c.example",
        "peer.example:8443",
        "peer.example:8443",
    ]
    # A rolled-back post leaves neither the activity nor its deliveries.
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            other = OutboxActivity(
                id=new_id(), uri=f"{ACTOR}/x", account_id=account.id, type="Create", body="{}"
            )
            session.add(other)
            assert await enqueue(session, other, ["https://d.example/i"]) == 1
            raise RuntimeError("the post failed")
    assert len(await deliveries(sessions)) == 4


# --- delivery and A28 response handling -----------------------------------------------------


async def test_delivered_once_to_each_inbox_signed_and_byte_identical(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    one = await start_peer("127.0.0.2")
    two = await start_peer("127.0.0.3")
    activity = await post(sessions, account, [one.url(), two.url("/users/bob/inbox")], clock)
    assert await worker.run_once() == 2
    assert await worker.run_once() == 0
    for peer, path in ((one, "/inbox"), (two, "/users/bob/inbox")):
        assert peer.received == [
            Received(path, activity.body.encode(), f"{ACTOR}#main-key", verified=True)
        ]
    rows = await deliveries(sessions)
    assert {(d.state, d.attempts, d.last_status) for d in rows} == {("delivered", 1, 202)}
    assert all(d.delivered_at == clock.now and d.locked_until is None for d in rows)
    async with sessions() as session:
        report = {p.host: p for p in await delivery_report(session)}
    assert report[one.host].pending == 0 and report[one.host].last_success == clock.now


async def test_one_signed_post_per_row_for_a_shared_inbox(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    # A26: many followers on one host share its inbox; the publisher may list it many times.
    shared = await start_peer("127.0.0.2")
    for n in range(3):
        await post(sessions, account, [shared.url()] * 5, clock, n)
        clock.advance(timedelta(seconds=1))
    assert len(await deliveries(sessions)) == 3
    while await worker.run_once():
        pass
    assert len(shared.received) == 3  # one signature and one request per delivery row
    assert all(r.verified for r in shared.received)


@pytest.mark.parametrize("status", [500, 503, 401, 408, 429])
async def test_retryable_answers_are_retried_later(
    status: int,
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    peer = await start_peer("127.0.0.2")
    peer.status = status
    await post(sessions, account, [peer.url()], clock)
    assert await worker.run_once() == 1
    [row] = await deliveries(sessions)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, status)
    assert row.next_attempt_at > clock.now and row.locked_until is None
    assert await worker.run_once() == 0  # not due yet: no second request
    assert len(peer.received) == 1
    peer.status = 202
    clock.now = row.next_attempt_at
    assert await worker.run_once() == 1
    [row] = await deliveries(sessions)
    assert (row.state, row.attempts, len(peer.received)) == ("delivered", 2, 2)


async def test_timeout_and_connection_refused_are_retried(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    http: aiohttp.ClientSession,
    policy: Allowed,
    start_peer: StartPeer,
) -> None:
    slow = await start_peer("127.0.0.2")
    slow.hang = True
    gone = await start_peer("127.0.0.3")
    await gone.stop()  # nothing listens on its port any more
    await post(sessions, account, [slow.url(), gone.url()], clock)
    worker = DeliveryWorker(
        sessions, _client(http, policy, timeout=0.2), concurrency=2, horizon=HORIZON, clock=clock
    )
    assert await worker.run_once() == 2
    rows = {d.host: d for d in await deliveries(sessions)}
    for host, reason in ((slow.host, "timed out"), (gone.host, "request failed")):
        row = rows[host]
        assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
        assert row.next_attempt_at > clock.now
        assert row.last_error is not None and reason in row.last_error


@pytest.mark.parametrize("status", [400, 404, 410, 501])
async def test_unsalvageable_answers_fail_at_once_and_are_shown(
    status: int,
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    peer = await start_peer("127.0.0.2")
    peer.status = status
    activity = await post(sessions, account, [peer.url()], clock)
    assert await worker.run_once() == 1
    clock.advance(timedelta(days=1))
    assert await worker.run_once() == 0
    assert len(peer.received) == 1
    async with sessions() as session:
        [failed] = await list_failed(session, host=peer.host)
        [state] = await delivery_report(session)
    assert (failed.activity_uri, failed.last_status, failed.attempts) == (activity.uri, status, 1)
    assert failed.last_error is not None and f"HTTP {status}" in failed.last_error
    assert (state.host, state.pending, state.failed) == (peer.host, 0, 1)
    assert state.last_error == failed.last_error


async def test_host_not_allowed_fails_without_a_request(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    policy: Allowed,
    start_peer: StartPeer,
) -> None:
    peer = await start_peer("127.0.0.2")
    for n in range(3):
        await post(sessions, account, [peer.url()], clock, n)
        clock.advance(timedelta(seconds=1))
    policy.hosts.discard(peer.host)  # the admin removed the peer from the allowlist
    assert await worker.run_once() == 1
    assert peer.received == []
    rows = await deliveries(sessions)
    assert [d.state for d in rows] == ["failed"] * 3
    assert all(d.last_error and "not allowed" in d.last_error for d in rows)
    async with sessions() as session:
        assert len(await list_failed(session)) == 3


# --- outages, the horizon and the admin -----------------------------------------------------


async def _drain(worker: DeliveryWorker) -> None:
    while await worker.run_once():
        pass


async def test_peer_down_7_days_backlog_delivered(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    """SECURITY.md §4: the peer is away for days and then gets everything, in order."""
    peer = await start_peer("127.0.0.2")
    await peer.stop()
    inboxes = [peer.url("/inbox"), peer.url("/users/bob/inbox")]
    sent: list[OutboxActivity] = []
    for hour in range(6 * 24):  # six days, within the seven-day horizon
        if hour % 8 == 0:
            sent.append(await post(sessions, account, inboxes, clock, len(sent)))
        await _drain(worker)
        clock.advance(timedelta(hours=1))
    async with sessions() as session:
        [lag] = await delivery_report(session)
    assert (lag.pending, lag.failed, lag.last_success) == (2 * len(sent), 0, None)
    assert lag.oldest_pending is not None and clock.now - lag.oldest_pending >= timedelta(days=5)
    assert lag.last_error is not None and "request failed" in lag.last_error

    await peer.start()  # back on Monday morning, same address
    for _ in range(8):  # within MAX_DELAY the stuck head of each inbox is tried again
        await _drain(worker)
        clock.advance(timedelta(hours=1))
    bodies = [a.body.encode() for a in sent]
    for path in ("/inbox", "/users/bob/inbox"):
        assert [r.body for r in peer.received if r.path == path] == bodies
    assert all(r.verified for r in peer.received)
    assert {d.state for d in await deliveries(sessions)} == {"delivered"}


async def test_horizon_passed_is_failed_visibly_and_can_be_retried(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    http: aiohttp.ClientSession,
    policy: Allowed,
    start_peer: StartPeer,
) -> None:
    peer = await start_peer("127.0.0.2")
    peer.status = 503
    worker = DeliveryWorker(
        sessions, _client(http, policy), concurrency=2, horizon=timedelta(days=1), clock=clock
    )
    first = await post(sessions, account, [peer.url()], clock, 0)
    clock.advance(timedelta(minutes=1))
    second = await post(sessions, account, [peer.url()], clock, 1)
    await _drain(worker)
    clock.advance(timedelta(days=2))
    await _drain(worker)
    # One request for the head when the horizon passed; the row behind it fails with it.
    assert len(peer.received) == 2
    async with sessions() as session:
        failed = await list_failed(session, host=peer.host)
        [lag] = await delivery_report(session)
    assert [f.activity_uri for f in failed] == [first.uri, second.uri]
    assert all(f.last_error and "delivery horizon" in f.last_error for f in failed)
    assert (lag.pending, lag.failed) == (0, 2)

    peer.status = 202
    async with sessions() as session, session.begin():
        assert await retry_failed(session, host=peer.host.upper(), now=clock.now) == 2
    await _drain(worker)
    assert [r.body for r in peer.received[2:]] == [first.body.encode(), second.body.encode()]
    assert {(d.state, d.attempts) for d in await deliveries(sessions)} == {("delivered", 1)}


async def test_retry_now_makes_a_hosts_pending_rows_due(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    peer = await start_peer("127.0.0.2")
    peer.status = 500
    await post(sessions, account, [peer.url()], clock)
    for _ in range(6):  # six failures: the next try is about half an hour away
        await _drain(worker)
        [row] = await deliveries(sessions)
        clock.now = row.next_attempt_at
    await _drain(worker)
    peer.status = 202
    assert len(peer.received) == 7
    assert await worker.run_once() == 0
    async with sessions() as session, session.begin():
        assert await retry_now(session, host=peer.host, now=clock.now) == 1
    await _drain(worker)
    assert {d.state for d in await deliveries(sessions)} == {"delivered"}


# --- claiming: leases, FIFO per inbox, concurrency ------------------------------------------


async def test_rows_of_a_crashed_worker_are_claimed_again_after_the_lease(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    worker: DeliveryWorker,
    start_peer: StartPeer,
) -> None:
    """kill -9 safety: a claimed row that is never settled comes back when its lease ends."""
    peer = await start_peer("127.0.0.2")
    await post(sessions, account, [peer.url()], clock)
    [held] = await claim(sessions, limit=10, lease=timedelta(minutes=5), now=clock.now)
    assert "BEGIN" not in repr(held)  # the private key stays out of reprs and logs
    assert await worker.run_once() == 0  # leased by the "crashed" worker
    clock.advance(timedelta(minutes=5, seconds=1))
    assert await worker.run_once() == 1
    assert len(peer.received) == 1
    [row] = await deliveries(sessions)
    assert row.state == "delivered"


async def test_only_the_oldest_pending_row_of_an_inbox_is_claimed(
    sessions: Sessions, account: Account, clock: Clock
) -> None:
    older = await post(sessions, account, ["https://a.example/inbox"], clock, 0)
    clock.advance(timedelta(seconds=1))
    newer = await post(
        sessions, account, ["https://a.example/inbox", "https://b.example/inbox"], clock, 1
    )
    lease = timedelta(minutes=5)
    claimed = {
        c.host: c.activity_uri for c in await claim(sessions, limit=10, lease=lease, now=clock.now)
    }
    assert claimed == {"a.example": older.uri, "b.example": newer.uri}
    assert await claim(sessions, limit=10, lease=lease, now=clock.now) == []


async def test_concurrent_claims_never_share_a_row(
    sessions: Sessions, account: Account, clock: Clock
) -> None:
    for n in range(40):
        await post(sessions, account, [f"https://peer{n}.example/inbox"], clock, n)
    lease = timedelta(minutes=5)
    batches = await asyncio.gather(
        *(claim(sessions, limit=8, lease=lease, now=clock.now) for _ in range(6))
    )
    ids = [c.id for batch in batches for c in batch]
    assert len(ids) == len(set(ids))
    rest = await claim(sessions, limit=100, lease=lease, now=clock.now)
    assert sorted(ids + [c.id for c in rest]) == sorted(d.id for d in await deliveries(sessions))


async def test_run_delivers_when_woken_and_stops_on_cancel(
    sessions: Sessions,
    account: Account,
    clock: Clock,
    http: aiohttp.ClientSession,
    policy: Allowed,
    start_peer: StartPeer,
) -> None:
    peer = await start_peer("127.0.0.2")
    worker = DeliveryWorker(
        sessions, _client(http, policy), concurrency=2, horizon=HORIZON, clock=clock
    )
    task = asyncio.create_task(worker.run())
    activities = [await post(sessions, account, [peer.url()], clock, n) for n in range(3)]
    worker.wake()

    await asyncio.wait_for(peer.wait_for(len(activities)), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.body for r in peer.received] == [a.body.encode() for a in activities]
