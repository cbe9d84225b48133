"""Delivery fan-out: one post to followers spread over 50 nodes, until every node has it.

A node started with ``kantine serve`` has a local author, ``carol``, followed by accounts
on 50 lightweight receivers (each its own 127.0.1.x address with a shared inbox). Carol
posts through her C2S outbox; the clock runs from the POST to the moment the last receiver
has the ``Create``. Each receiver counts the requests it gets and their distinct
``Signature`` headers: one request per shared inbox means the node signed once per inbox,
not once per follower.

    python -m bench.fanout [--quick] [--nodes 50] [--followers-per-node 4] [--posts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp

from bench.nodes import NodeProcess, database, free_port, launcher, node_sections, write_config
from bench.peers import PUBLIC, Receiver, RemoteActor, make_actors
from bench.report import machine, median, table
from bench.seeding import seed

__all__ = ["main", "run"]

NODE_IP = "127.0.0.2"


def _receiver_ip(n: int) -> str:
    return f"127.0.1.{n + 1}"


async def _post(http: aiohttp.ClientSession, base: str, token: str, n: int) -> int:
    note = {
        "type": "Note",
        "content": f"Maandoverzicht {n}: de cijfers staan online. #finance",
        "to": [PUBLIC],
    }
    async with http.post(
        f"{base}/users/carol/outbox",
        json=note,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/activity+json"},
    ) as response:
        await response.read()
        return response.status


async def _all_arrived(receivers: Sequence[Receiver], count: int, deadline: float) -> bool:
    while time.perf_counter() < deadline:
        if all(len(r.arrivals) >= count for r in receivers):
            return True
        await asyncio.sleep(0.001)
    return False


async def run(
    *, folder: Path, kind: str, nodes: int, per_node: int, posts: int, key: RemoteActor
) -> list[list[object]]:
    """Seed, start the node, post *posts* times, and return one table row per post."""
    port = free_port(NODE_IP)
    base = f"http://{NODE_IP}:{port}"
    receivers = [Receiver(_receiver_ip(i), free_port(_receiver_ip(i))) for i in range(nodes)]
    followers = [
        RemoteActor(f"http://{r.host}", f"f{j}", key.private_pem, key.public_pem)
        for r in receivers
        for j in range(per_node)
    ]
    rows: list[list[object]] = []
    async with database(kind, folder, f"fanout-{kind}") as url:
        seeded = await seed(
            url,
            base,
            local=["carol"],
            remote=[f.document() for f in followers],
            follows=[(f.uri, "carol") for f in followers],
        )
        sections = node_sections(
            host=NODE_IP,
            port=port,
            database_url=url,
            data_dir=folder / f"fanout-{kind}",
            allow=[r.ip for r in receivers],
        )
        node = NodeProcess(write_config(folder / f"fanout-{kind}.toml", sections), NODE_IP, port)
        for receiver in receivers:
            await receiver.start()
        node.start()
        try:
            await node.wait_healthy()
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                for n in range(posts):
                    began, loop_began = time.perf_counter(), asyncio.get_running_loop().time()
                    status = await _post(http, base, seeded.tokens["carol"], n)
                    answered = time.perf_counter() - began
                    done = await _all_arrived(receivers, n + 1, began + 30)
                    last = max(r.arrivals[n] for r in receivers if len(r.arrivals) > n)
                    first = min(r.arrivals[n] for r in receivers if len(r.arrivals) > n)
                    requests = sum(len(r.arrivals) for r in receivers)
                    signatures = sum(len(r.signatures) for r in receivers)
                    rows.append(
                        [
                            f"{kind} post {n + 1}",
                            status,
                            answered * 1000,
                            (first - loop_began) * 1000,
                            (last - loop_began) * 1000 if done else "timed out",
                            f"{sum(len(r.arrivals) > n for r in receivers)}/{nodes}",
                            requests,
                            signatures,
                            len(followers) * (n + 1),
                        ]
                    )
                    await asyncio.sleep(0.2)  # let the worker settle the rows before the next
        finally:
            node.stop()
            for receiver in receivers:
                await receiver.stop()
    return rows


async def main(argv: Sequence[str] | None = None) -> None:
    """Run the fan-out benchmark and print its table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 posts")
    parser.add_argument("--nodes", type=int, default=50, help="receiver nodes (≤ 250)")
    parser.add_argument("--followers-per-node", type=int, default=4)
    parser.add_argument("--posts", type=int, help="posts, one after the other (default 5)")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args(argv)
    posts = args.posts or (2 if args.quick else 5)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"machine: {machine()}")
    print(
        f"node started with: {launcher()}; {args.nodes} receiver nodes × "
        f"{args.followers_per_node} followers, {posts} posts"
    )
    with ProcessPoolExecutor(1) as pool:
        key = make_actors("http://127.0.1.1", 1, pool)[0]
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="kantine-bench-") as tmp:
        for kind in kinds:
            rows += await run(
                folder=Path(tmp),
                kind=kind,
                nodes=args.nodes,
                per_node=args.followers_per_node,
                posts=posts,
                key=key,
            )
    print(
        table(
            "Fan-out of one post (times from the outbox POST; requests and signatures cumulative)",
            [
                "post",
                "HTTP",
                "outbox answered ms",
                "first delivered ms",
                "all delivered ms",
                "nodes reached",
                "requests received",
                "distinct signatures",
                "followers (via shared inboxes)",
            ],
            rows,
        )
    )
    delivered = [float(r[4]) for r in rows if isinstance(r[4], float)]
    if delivered:
        print(f"\nall delivered: median {median(delivered):.0f} ms, max {max(delivered):.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
