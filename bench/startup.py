"""Start-up and idle memory: ``kantine serve`` to the first ``/health`` 200, and RSS when idle.

The first start is on an empty SQLite database (migrations, instance actor key); the
repeats restart on it, as an admin's restart does. Idle RSS (``VmRSS``) is read after the
node has been idle for a moment, for every process (the supervisor and each web worker).

    python -m bench.startup [--quick] [--repeat 5] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.nodes import NodeProcess, database, free_port, launcher, node_sections, write_config
from bench.report import machine, median, table

__all__ = ["main", "measure"]

NODE_IP = "127.0.0.2"


def _import_seconds(code: str, repeat: int) -> float:
    """Median wall time of ``python -c code`` (the interpreter and imports alone)."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - began)
    return median(times)


async def measure(folder: Path, *, workers: int, repeat: int, idle: float) -> list[list[object]]:
    """Start the node ``1 + repeat`` times; return the table rows for this worker count."""
    port = free_port(NODE_IP)
    name = f"startup-w{workers}"
    async with database("sqlite", folder, name) as url:
        sections = node_sections(
            host=NODE_IP,
            port=port,
            database_url=url,
            data_dir=folder / name,
            workers=workers,
        )
        config = write_config(folder / f"{name}.toml", sections)
        first = 0.0
        times: list[float] = []
        rss: list[float] = []
        per_process: tuple[float, ...] = ()
        for n in range(repeat + 1):
            node = NodeProcess(config, NODE_IP, port, workers)
            began = time.perf_counter()
            node.start()
            try:
                await node.wait_healthy()
                took = time.perf_counter() - began
                if n == 0:
                    first = took
                else:
                    times.append(took)
                if n == repeat:
                    await asyncio.sleep(idle)
                    stats = node.stats()
                    rss.append(stats.rss_mb)
                    per_process = stats.rss_each_mb
            finally:
                node.stop()
    label = f"workers={workers} ({launcher()})"
    return [
        [
            label,
            first * 1000,
            median(times) * 1000,
            max(times) * 1000,
            len(times),
            rss[0] if rss else "-",
            " + ".join(f"{r:.0f}" for r in per_process),
        ]
    ]


async def main(argv: Sequence[str] | None = None) -> None:
    """Run the start-up benchmark and print its table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="3 restarts, workers 1 only")
    parser.add_argument("--repeat", type=int, help="restarts after the first start (default 5)")
    parser.add_argument("--workers", help="comma-separated server.workers values (default 1,2)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before reading RSS")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 5)
    workers = [int(w) for w in (args.workers or ("1" if args.quick else "1,2")).split(",")]
    print(f"machine: {machine()}")
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="kantine-bench-") as tmp:
        for count in workers:
            rows += await measure(Path(tmp), workers=count, repeat=repeat, idle=args.idle)
    print(
        table(
            "Start to the first /health 200, and idle memory",
            [
                "kantine serve",
                "first start ms (empty DB)",
                "restart median ms",
                "restart max ms",
                "restarts",
                "idle RSS MB (all processes)",
                "RSS per process MB",
            ],
            rows,
        )
    )
    floor = _import_seconds("pass", 3) * 1000
    imports = _import_seconds("import node.app", 3) * 1000
    print(
        f"\nfor scale: python -c pass {floor:.0f} ms; python -c 'import node.app' {imports:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
