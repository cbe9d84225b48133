"""``kantine federation``: the allowlist decisions and the delivery queue, as the admin sees them."""

from __future__ import annotations

import argparse
import asyncio
import sys

from config import Settings
from node.cli.database import open_database
from node.cli.errors import CommandError
from node.cli.tables import age, render_table, timestamp
from node.federation.delivery_admin import delivery_report, list_failed, retry_failed, retry_now
from node.federation.policy import list_peers, parse_host, set_peer

__all__ = ["run_deliveries", "run_peer_decision", "run_peers_list"]

_STATES = {"allow": "allowed", "deny": "denied", "forget": None}


def _host(text: str) -> str:
    """A host (``hr.example.org`` or ``127.0.0.3:8001``); a pasted URL is reduced to its host."""
    try:
        return parse_host(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


async def _decide(settings: Settings, config: str, host: str, state: str | None) -> None:
    async with (
        open_database(settings, config) as sessions,
        sessions() as session,
        session.begin(),
    ):
        try:
            await set_peer(session, host, state)
        except ValueError as exc:
            raise CommandError(str(exc)) from None


def run_peer_decision(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine federation allow|deny|forget HOST``."""
    host = _host(args.host)
    state = _STATES[args.decision]
    asyncio.run(_decide(settings, args.config_path, host, state))
    if state is None:
        print(f"{host}: the CLI decision is removed (the config file still applies)")
    else:
        print(f"{host} is now {state} (running nodes apply this within 5 seconds)")
    fed = settings.federation
    if state == "allowed" and host in fed.deny:
        print(f"warning: federation.deny in the config still lists {host}", file=sys.stderr)
    if state == "allowed" and fed.mode == "open":
        print("note: federation.mode is 'open'; every host not denied is allowed", file=sys.stderr)
    return 0


async def _peers(settings: Settings, config: str) -> list[list[str]]:
    async with open_database(settings, config) as sessions, sessions() as session:
        peers = await list_peers(session, settings.federation)
    return [[p.host, p.state, p.source] for p in peers]


def run_peers_list(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine federation list``: every named host, from the config file and from the CLI."""
    rows = asyncio.run(_peers(settings, args.config_path))
    print(f"mode: {settings.federation.mode}")
    if rows:
        print(render_table(["HOST", "STATE", "SOURCE"], rows))
    else:
        print("no hosts listed: kantine federation allow HOST")
    return 0


async def _deliveries(settings: Settings, args: argparse.Namespace) -> list[str]:
    host = _host(args.host) if args.host else None
    out: list[str] = []
    async with open_database(settings, args.config_path) as sessions:
        if args.retry:
            async with sessions() as session, session.begin():
                count = await retry_failed(session, host=host)
            out.append(f"requeued {count} failed deliveries{f' to {host}' if host else ''}")
        if args.retry_now:
            target = _host(args.retry_now)
            async with sessions() as session, session.begin():
                count = await retry_now(session, host=target)
            out.append(f"{count} pending deliveries to {target} are due now")
        if args.retry or args.retry_now:
            out.append("(a running `kantine serve` or `kantine worker` sends them within a second)")
        async with sessions() as session:
            if args.failed:
                failed = await list_failed(session, host=host)
                rows = [
                    [
                        str(f.id),
                        f.host,
                        str(f.attempts),
                        str(f.last_status or "-"),
                        timestamp(f.created_at),
                        f.activity_uri,
                        f.last_error or "-",
                    ]
                    for f in failed
                ]
                headers = ["ID", "HOST", "TRIES", "STATUS", "QUEUED", "ACTIVITY", "LAST ERROR"]
                empty = "no failed deliveries"
            else:
                report = await delivery_report(session)
                rows = [
                    [
                        p.host,
                        str(p.pending),
                        str(p.failed),
                        f"{timestamp(p.oldest_pending)} ({age(p.oldest_pending)} ago)"
                        if p.oldest_pending
                        else "-",
                        timestamp(p.last_success),
                        p.last_error or "-",
                    ]
                    for p in report
                    if host is None or p.host == host
                ]
                headers = [
                    "HOST",
                    "PENDING",
                    "FAILED",
                    "OLDEST PENDING",
                    "LAST SUCCESS",
                    "LAST ERROR",
                ]
                empty = "no deliveries yet"
    out.append(render_table(headers, rows) if rows else empty)
    return out


def run_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine federation deliveries``: per-peer queue state; ``--retry`` requeues failures."""
    for line in asyncio.run(_deliveries(settings, args)):
        print(line)
    return 0
