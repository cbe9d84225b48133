"""The read-only SPARQL endpoint's engine: worker processes with a time-out and a result cap.

A query runs in a worker process (:mod:`node.directory.sparql_worker`) against a
snapshot of the graph (an Oxigraph backup: hard links, taken only when the graph
changed since the last query).  When a query outlives the time-out, its worker is
killed and a fresh one takes its place: a query that never ends costs one process
for a few seconds, never the node.  Refusals (update, ``SERVICE``, ``LOAD``, ``FROM``)
are decided here before anything runs, and again in the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from node.directory.graph import DirectoryGraph
from node.directory.sparql_guard import QueryRefused, check_query

__all__ = ["QueryFailed", "QueryRefused", "QueryTimeout", "SparqlAnswer", "SparqlPool"]

log = logging.getLogger(__name__)


class QueryFailed(Exception):
    """The query could not be run (a syntax error, an unknown function); answered 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueryTimeout(Exception):
    """The query ran longer than the time-out and was stopped; answered 503."""


@dataclass(frozen=True)
class SparqlAnswer:
    """A query's answer, ready to send."""

    content_type: str
    body: bytes
    truncated: bool
    #: CPU seconds the worker spent on the query (the wall time also holds the waiting).
    cpu_seconds: float = 0.0


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.snapshot = ""

    async def ask(self, request: dict[str, object]) -> tuple[dict[str, object], bytes]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        data = json.dumps(request).encode()
        stdin.write(struct.pack(">I", len(data)) + data)
        await stdin.drain()
        header = json.loads(await _frame(stdout))
        body = await _frame(stdout)
        return header, body

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


async def _frame(stream: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">I", await stream.readexactly(4))
    return await stream.readexactly(size)


class SparqlPool:
    """Runs SPARQL queries in up to *workers* processes; one per application."""

    #: The module each worker process runs (``python -m``).
    worker_module = "node.directory.sparql_worker"

    def __init__(
        self,
        graph: DirectoryGraph,
        snapshots: Path,
        *,
        workers: int = 1,
        timeout: float = 5.0,
        max_results: int = 10_000,
    ) -> None:
        self._graph = graph
        self._snapshots = snapshots
        self._timeout = timeout
        self._max_results = max_results
        self._slots = asyncio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._snapshot_lock = asyncio.Lock()
        self._snapshot: Path | None = None
        self._snapshot_generation = -1
        self._counter = 0

    @property
    def timeout(self) -> float:
        """Seconds a query may run before it is stopped."""
        return self._timeout

    async def start(self) -> None:
        """Start one worker now, so the first query does not wait for it."""
        shutil.rmtree(self._snapshots, ignore_errors=True)
        self._snapshots.mkdir(parents=True, exist_ok=True)
        self._idle.append(await self._spawn())

    async def close(self) -> None:
        """Stop every worker and remove the snapshots."""
        for worker in [*self._idle, *self._busy]:
            if worker.process.stdin is not None:
                worker.process.stdin.close()
            await worker.kill()
        self._idle.clear()
        shutil.rmtree(self._snapshots, ignore_errors=True)

    async def _spawn(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.worker_module,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return _Worker(process)

    async def _current_snapshot(self) -> Path:
        """A snapshot that holds every change made so far (made now if the graph changed)."""
        async with self._snapshot_lock:
            if self._snapshot is None or self._snapshot_generation != self._graph.generation:
                generation = self._graph.generation
                self._counter += 1
                target = self._snapshots / str(self._counter)
                # The backup is quick (hard links) but touches the disk: not on the event loop.
                await asyncio.get_running_loop().run_in_executor(None, self._graph.snapshot, target)
                self._snapshot, self._snapshot_generation = target, generation
                self._prune()
            return self._snapshot

    def _prune(self) -> None:
        in_use = {w.snapshot for w in [*self._idle, *self._busy]} | {str(self._snapshot)}
        for path in self._snapshots.iterdir():
            if str(path) not in in_use:
                shutil.rmtree(path, ignore_errors=True)

    async def run(self, query: str, fmt: str) -> SparqlAnswer:
        """Answer *query* in *fmt* (``json``, ``csv``, ``turtle``, ``ntriples``)."""
        text = check_query(query)
        async with self._slots:
            snapshot = await self._current_snapshot()
            worker = self._idle.pop() if self._idle else await self._spawn()
            self._busy.add(worker)
            request = {
                "snapshot": str(snapshot),
                "query": text,
                "format": fmt,
                "limit": self._max_results,
            }
            try:
                header, body = await asyncio.wait_for(worker.ask(request), self._timeout)
            except TimeoutError:
                self._busy.discard(worker)
                await worker.kill()
                log.warning("sparql query stopped after %.1f s", self._timeout)
                raise QueryTimeout from None
            except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError) as exc:
                self._busy.discard(worker)
                await worker.kill()
                raise QueryFailed(f"the query worker stopped: {type(exc).__name__}") from None
            worker.snapshot = str(snapshot)
            self._busy.discard(worker)
            self._idle.append(worker)
        if not header.get("ok"):
            raise QueryFailed(str(header.get("error", "the query failed")))
        cpu = header.get("cpu", 0.0)
        return SparqlAnswer(
            str(header["content_type"]),
            body,
            bool(header.get("truncated")),
            float(cpu) if isinstance(cpu, int | float) else 0.0,
        )
