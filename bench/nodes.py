"""Nodes as an admin runs them: a TOML config, ``kantine serve``, ``/health``, RSS and CPU.

The node always runs in its own process tree, started with the ``kantine`` command of this
environment, so a figure includes what an admin's node does (logging, workers, migrations
check). Until ``node.cli`` exists, a stand-in (``create_app`` under ``web.run_app``, one
process per worker sharing the port) is used and the tables say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

__all__ = [
    "NodeProcess",
    "ProcessStats",
    "database",
    "free_port",
    "launcher",
    "node_sections",
    "process_stats",
    "write_config",
]

_FALLBACK = """
import logging, sys
from aiohttp import web
from config import load_settings
from node.app import create_app
settings = load_settings(sys.argv[1])
logging.basicConfig(level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
web.run_app(create_app(settings), host=settings.server.host, port=settings.server.port,
            reuse_port=settings.server.workers > 1, print=None)
"""
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(host: str) -> int:
    """A TCP port that is free on *host* right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def launcher() -> str:
    """``kantine serve`` when the command exists, else the stand-in (named in every table)."""
    return "kantine serve" if importlib.util.find_spec("node.cli") is not None else "stand-in"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, sections: Mapping[str, Mapping[str, object]]) -> Path:
    """Write a ``kantine.toml`` from nested mappings; returns *path*."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def database(kind: str, folder: Path, name: str) -> AsyncIterator[str]:
    """A fresh, empty database URL: a SQLite file in *folder*, or a new PostgreSQL database.

    PostgreSQL needs ``KANTINE_TEST_POSTGRES_URL`` (the server the test suite uses); the
    database is dropped afterwards.
    """
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
        return
    server = os.environ.get("KANTINE_TEST_POSTGRES_URL")
    if not server:
        raise SystemExit("PostgreSQL runs need KANTINE_TEST_POSTGRES_URL=postgresql+asyncpg://…")
    url = make_url(server)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    db = f"kantine_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()
    try:
        yield url.set(database=db).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass(frozen=True)
class ProcessStats:
    """CPU seconds (user + system) and resident memory of a process tree."""

    cpu_seconds: float
    rss_mb: float
    processes: int
    rss_each_mb: tuple[float, ...]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def process_stats(pid: int) -> ProcessStats:
    """CPU time and RSS (``VmRSS`` of ``/proc/<pid>/status``) of *pid* and its descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    cpu, rss = 0.0, []
    for each in pids:
        try:
            with open(f"/proc/{each}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / _CLK_TCK
            with open(f"/proc/{each}/status", encoding="ascii", errors="replace") as status:
                for row in status:
                    if row.startswith("VmRSS:"):
                        rss.append(int(row.split()[1]) / 1024)
        except OSError:
            continue
    return ProcessStats(cpu, sum(rss), len(rss), tuple(rss))


@dataclass
class NodeProcess:
    """A node started from a config file, in its own process (group)."""

    config: Path
    host: str
    port: int
    workers: int = 1
    #: Also run ``kantine worker`` beside ``kantine serve`` (``server.inbox_worker = "worker"``).
    separate_worker: bool = False
    command: list[str] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self._procs[0].pid

    def start(self, *, profile: Path | None = None) -> None:
        """Spawn the node; returns at once (see :meth:`wait_healthy`).

        *profile* runs the node under ``cProfile`` (the stand-in only; main thread only).
        """
        self._log = open(self.config.with_suffix(".log"), "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if launcher() == "kantine serve" and profile is None:
            script = Path(sys.executable).with_name("kantine")
            self.command = (
                [str(script)]
                if script.exists()
                else [
                    sys.executable,
                    "-c",
                    "import sys; from node.cli import main; sys.exit(main())",
                ]
            ) + ["serve", "--config", str(self.config)]
            spawns = 1
        else:
            prefix = [sys.executable]
            if profile is not None:
                prefix += ["-m", "cProfile", "-o", str(profile)]
                code = self.config.with_suffix(".fallback.py")
                code.write_text(_FALLBACK, encoding="utf-8")
                self.command = [*prefix, str(code), str(self.config)]
            else:
                self.command = [*prefix, "-c", _FALLBACK, str(self.config)]
            spawns = self.workers
        for _ in range(spawns):
            self._procs.append(
                subprocess.Popen(
                    self.command,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
        if self.separate_worker and launcher() == "kantine serve":
            worker = [*self.command[:-3], "worker", "--config", str(self.config)]
            self._procs.append(
                subprocess.Popen(
                    worker,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )

    async def wait_healthy(self, *, seconds: float = 30.0, interval: float = 0.005) -> float:
        """Poll ``/health`` until it answers 200; returns seconds waited. Raises on timeout."""
        started = time.perf_counter()
        deadline = started + seconds
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.perf_counter() < deadline:
                for proc in self._procs:
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"node exited with {proc.returncode}; see {self.config.with_suffix('.log')}"
                        )
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(f"{self.base}/health") as response:
                        if response.status == 200:
                            return time.perf_counter() - started
                await asyncio.sleep(interval)
        raise TimeoutError(f"{self.base}/health not 200 within {seconds} s")

    def log_problems(self) -> Counter[str]:
        """Warnings and errors the node logged, by logger and first words of the message."""
        found: Counter[str] = Counter()
        path = self.config.with_suffix(".log")
        if not path.exists():
            return found
        for row in path.read_text(encoding="utf-8", errors="replace").splitlines():
            for level in (" WARNING ", " ERROR "):
                if level in row:
                    found[" ".join(row.split(level, 1)[1].split()[:6])] += 1
        return found

    def stats(self) -> ProcessStats:
        """CPU and RSS of every process of this node (workers included)."""
        parts = [process_stats(p.pid) for p in self._procs]
        return ProcessStats(
            sum(p.cpu_seconds for p in parts),
            sum(p.rss_mb for p in parts),
            sum(p.processes for p in parts),
            tuple(r for p in parts for r in p.rss_each_mb),
        )

    def cpu_each(self) -> list[float]:
        """CPU seconds of each started process tree (``kantine serve``, then ``kantine worker``)."""
        return [process_stats(p.pid).cpu_seconds for p in self._procs]

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGINT (graceful, lets cProfile write), then SIGTERM, then SIGKILL, per process."""
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        for proc in self._procs:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self._procs.clear()
        if self._log is not None:
            self._log.close()
            self._log = None


def node_sections(
    *,
    host: str,
    port: int,
    database_url: str,
    data_dir: Path,
    workers: int = 1,
    allow: list[str] | None = None,
    inbox_worker: str = "serve",
    **federation: Any,
) -> dict[str, dict[str, object]]:
    """The config of a loopback node on plain http (``allow_http``) allowing *allow*."""
    return {
        "node": {
            "domain": f"{host}:{port}",
            "base_url": f"http://{host}:{port}",
            "name": "bench",
            "data_dir": str(data_dir),
        },
        "server": {"host": host, "port": port, "workers": workers, "inbox_worker": inbox_worker},
        "database": {"url": database_url, "pool_size": 10},
        "federation": {"allow_http": True, "allow": allow or [], **federation},
    }
