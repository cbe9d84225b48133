"""``kantine serve`` and ``kantine worker``: the node's processes, their signals and supervision."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import time
from types import FrameType

from aiohttp import web

from config import Settings
from node.accesslog import NodeAccessLogger
from node.app import create_app
from node.cli.database import initialise
from node.cli.errors import EXIT_CONFIG, CommandError, database_errors
from node.heap import settle_heap

__all__ = ["run_serve", "run_worker"]

log = logging.getLogger(__name__)

#: How long a stopping process lets in-flight requests finish.
_SHUTDOWN_SECONDS = 10.0
#: A child that dies sooner than this after its start failed to start: stop, do not loop.
_START_GRACE_SECONDS = 5.0


def _stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (the process then shuts down cleanly)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve(settings: Settings, *, reuse_port: bool) -> int:
    """One web process: the app (with its inbox and delivery workers) on host:port."""
    stop = _stop_event()
    host, port = settings.server.host, settings.server.port
    runner = web.AppRunner(
        create_app(settings),
        shutdown_timeout=_SHUTDOWN_SECONDS,
        access_log_class=NodeAccessLogger,  # an inbox's 202s only at DEBUG
    )
    with database_errors():
        await runner.setup()
    settle_heap()  # the startup heap out of the collector's way: no 100 ms pauses mid-request
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        log.info(
            "serving %s at %s (listening on %s:%d)",
            settings.node.name,
            settings.base_url,
            host,
            port,
        )
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
    return 0


async def _work(settings: Settings) -> int:
    """The inbox and delivery workers without an HTTP site (scale-out)."""
    stop = _stop_event()
    runner = web.AppRunner(create_app(settings, run_workers=True, process="worker"))
    with database_errors():
        await runner.setup()
    try:
        log.info("inbox and delivery workers running for %s", settings.node.domain)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
    return 0


def _child(settings: Settings) -> None:
    """One of ``server.workers`` forked web processes (the parent already imported everything)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    try:
        code = asyncio.run(_serve(settings, reuse_port=True))
    except CommandError as exc:
        print(f"kantine: {exc}", file=sys.stderr)
        code = exc.exit_code
    sys.exit(code)


class _Supervisor:
    """Runs ``server.workers`` web processes sharing the port and forwards signals to them.

    The processes are forked once the parent has imported the node, so each is ready in a
    fraction of a second; the kernel spreads connections over them (SO_REUSEPORT).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("fork")
        self._children: list[tuple[multiprocessing.process.BaseProcess, float]] = []
        self._stopping = False

    def _start(self) -> tuple[multiprocessing.process.BaseProcess, float]:
        process = self._context.Process(target=_child, args=(self._settings,), name="kantine-web")
        process.start()
        return process, time.monotonic()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for child, _ in self._children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signum)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        count = self._settings.server.workers
        self._children = [self._start() for _ in range(count)]
        log.info("started %d web processes: %s", count, [c.pid for c, _ in self._children])
        code = 0
        while not self._stopping:
            time.sleep(0.2)
            for i, (child, started) in enumerate(self._children):
                status = child.exitcode
                if status is None or self._stopping:
                    continue
                if time.monotonic() - started < _START_GRACE_SECONDS:
                    log.error(
                        "web process %d failed to start (exit %d); stopping", child.pid, status
                    )
                    code = status or 1
                    self._on_signal(signal.SIGTERM, None)
                    break
                log.warning("web process %d exited with %d; restarting it", child.pid, status)
                self._children[i] = self._start()
        for child, _ in self._children:
            child.join(timeout=_SHUTDOWN_SECONDS + 5)
            if child.exitcode is None:
                log.error("web process %d did not stop; killing it", child.pid)
                child.kill()
                child.join()
        return code


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine serve``: web, APIs, federation and workers; ``GET /health`` is 200 when ready."""
    if settings.server.workers == 1:
        return asyncio.run(_serve(settings, reuse_port=False))
    if "fork" not in multiprocessing.get_all_start_methods():
        raise CommandError("server.workers > 1 needs fork and SO_REUSEPORT (Linux)", EXIT_CONFIG)
    # Migrate once here, so the processes do not race to do it.
    asyncio.run(initialise(settings))
    return _Supervisor(settings).run()


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine worker``: only the inbox and delivery workers."""
    return asyncio.run(_work(settings))
