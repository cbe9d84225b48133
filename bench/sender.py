"""A lean HTTP/1.1 load generator: requests built before the clock starts, keep-alive sockets.

The load generator shares the machine's cores with the node it measures, so every
microsecond it spends per request is taken from the node. A general HTTP client (aiohttp's
``ClientSession``) spends ~100–250 µs per request on building the request, its headers,
cookies, tracing hooks and the response object. Here each request is one ``bytes`` made
before the timed part (request line, the signed headers, ``Content-Length``, the body), and
a response is read as far as the status line, ``Content-Length`` (or chunks) and the body,
on one ``asyncio.Protocol`` per connection. The load stays the same: every request is its
own distinct, signed activity, sent over keep-alive connections as a peer would.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Sent", "build_request", "send_raw"]


@dataclass(frozen=True)
class Sent:
    """What the load generator saw: statuses, the time to send everything, latencies."""

    statuses: Counter[int]
    seconds: float
    latencies: list[float]

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def build_request(url: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """A complete ``POST`` to *url*: request line, *headers*, ``Content-Length``, *body*."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {target} HTTP/1.1"]
    if not any(name.lower() == "host" for name in headers):
        lines.append(f"Host: {parts.netloc}")
    for name, value in headers.items():
        if "\r" in name + value or "\n" in name + value:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.began = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._status = 0
        self._length: int | None = None  # body bytes still expected; None: chunked or to close
        self._chunked = False
        self._close = False
        self._head = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    @property
    def in_flight(self) -> bool:
        return self._waiter is not None

    def send(self, request: bytes) -> asyncio.Future[int]:
        """Write *request*; the future gets the response's status once it is read whole."""
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._head = False
        self.began = time.perf_counter()
        self.transport.write(request)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._read()
        except ValueError as exc:  # a malformed response: this connection is done
            self._fail(ConnectionError(f"bad response: {exc}"))

    def _read(self) -> None:
        if self._waiter is None:
            if self._buffer:
                raise ValueError("data without a request")
            return
        if not self._head:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            del self._buffer[: end + 4]
            self._status = int(lines[0].split(" ", 2)[1])
            self._length, self._chunked, self._close = None, False, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    self._length = int(value)
                elif name == "transfer-encoding":
                    self._chunked = "chunked" in value
                elif name == "connection":
                    self._close = value == "close"
            self._head = True
        if self._chunked:
            while True:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(self._buffer[:end]).split(b";", 1)[0], 16)
                if size == 0:
                    # No trailers from the servers measured here: the last chunk's CRLF ends it.
                    if len(self._buffer) < end + 4:
                        return
                    del self._buffer[: end + 4]
                    break
                if len(self._buffer) < end + 2 + size + 2:
                    return
                del self._buffer[: end + 2 + size + 2]
        elif self._length is not None:
            if len(self._buffer) < self._length:
                return
            del self._buffer[: self._length]
        else:
            return  # read until the server closes the connection
        self._done()

    def _done(self) -> None:
        waiter, self._waiter = self._waiter, None
        if self._close and self.transport is not None:
            self.closed = True
            self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self._status)

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and self._head and not self._chunked and self._length is None:
            self._done()  # a body that ends with the connection
        else:
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def abort(self, reason: str) -> None:
        self._fail(TimeoutError(reason))


async def send_raw(
    url: str, requests: Sequence[bytes], *, concurrency: int, request_seconds: float = 30.0
) -> Sent:
    """Send every pre-built request (:func:`build_request`) to *url*'s host from
    *concurrency* keep-alive connections; statuses, total seconds and latencies.

    Status 0 counts a request without an answer (connection error or time-out).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    queue = iter(requests)
    connections: list[_Connection] = []

    async def connect() -> _Connection:
        _, protocol = await loop.create_connection(_Connection, host, port)
        connections.append(protocol)
        return protocol

    async def sender() -> None:
        connection: _Connection | None = None
        for request in queue:
            began = time.perf_counter()
            try:
                if connection is None or connection.closed:
                    connection = await connect()
                statuses[await connection.send(request)] += 1
            except (OSError, ConnectionError, TimeoutError):
                statuses[0] += 1
                connection = None
            latencies.append(time.perf_counter() - began)
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    async def watchdog() -> None:
        # One timer for all connections instead of one per request.
        while True:
            await asyncio.sleep(min(1.0, request_seconds / 4))
            now = time.perf_counter()
            for connection in connections:
                if connection.in_flight and now - connection.began > request_seconds:
                    connection.abort(f"no answer within {request_seconds} s")

    guard = asyncio.create_task(watchdog())
    started = time.perf_counter()
    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        guard.cancel()
    return Sent(statuses, time.perf_counter() - started, latencies)
