"""``kantine directory sync|import`` and ``kantine users delete``: people and the directory.

Like ``kantine post``, these commands only write rows: profiles, and ``Update``/``Delete``
activities with their delivery rows (the durable queue). The node's running ``kantine
serve`` or ``kantine worker`` delivers them to the directory and the followers' nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from sqlalchemy import select

from config import Settings
from node.cli.errors import CommandError
from node.cli.services import node_services
from node.db.models import Account
from node.services.accounts import INSTANCE_USERNAME, local_account
from node.services.media import MediaStore
from node.services.people_import import ImportReport, import_people
from node.services.profile import push_person, remove_person
from node.services.roster import Roster, read_roster

__all__ = ["run_directory_import", "run_directory_sync", "run_users_delete"]

_QUEUED = "queued; a running `kantine serve` or `kantine worker` delivers it"


def _media(settings: Settings) -> MediaStore:
    """The node's media folder, so a removed person's uploads go with them."""
    return MediaStore(
        settings.media_path,
        settings.base_url,
        max_bytes=settings.media.max_bytes,
        max_pixels=settings.media.max_pixels,
        description_limit=settings.media.description_limit,
    )


async def _sync(settings: Settings, config: str) -> int:
    async with node_services(settings, config) as ctx:
        async with ctx.sessions() as session:
            ids = (
                (
                    await session.execute(
                        select(Account.id).where(
                            Account.domain == ctx.domain,
                            Account.local.is_(True),
                            Account.suspended_at.is_(None),
                            Account.actor_type == "Person",
                        )
                    )
                )
                .scalars()
                .all()
            )
        for account_id in ids:
            async with ctx.sessions() as session, session.begin():
                account = await session.get(Account, account_id)
                assert account is not None
                await push_person(ctx, session, account)
        return len(ids)


def run_directory_sync(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine directory sync``: push every local person's profile again (bots are no people)."""
    if not settings.federation.directory:
        raise CommandError("federation.directory is not set: there is no directory to sync to")
    count = asyncio.run(_sync(settings, args.config_path))
    print(f"{count} profiles queued for {settings.federation.directory}")
    print(_QUEUED, file=sys.stderr)
    return 0


def _summary(report: ImportReport, *, dry_run: bool, seconds: float) -> str:
    verb = "would be " if dry_run else ""
    parts = [
        f"{len(report.created)} {verb}created",
        f"{len(report.updated)} {verb}updated",
        f"{len(report.unchanged)} unchanged",
        f"{len(report.removed)} {verb}removed",
        f"{len(report.errors)} rows with errors",
    ]
    if report.kept:
        parts.append(f"{len(report.kept)} kept (admins and bots are never pruned)")
    return ", ".join(parts) + f" ({seconds:.1f} s)"


async def _import(
    settings: Settings, args: argparse.Namespace, roster: Roster
) -> tuple[ImportReport, float]:
    started = time.perf_counter()
    async with node_services(settings, args.config_path) as ctx:
        report = await import_people(
            ctx, roster, prune=args.prune, dry_run=args.dry_run, media=_media(settings)
        )
    return report, time.perf_counter() - started


def run_directory_import(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine directory import FILE``: create/update people from CSV or LDIF; 1 if rows failed."""
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    roster = read_roster(path.name, data)
    fatal = [e for e in roster.errors if e.column in {"header", "file"}]
    if fatal:
        raise CommandError(f"{path.name}: {fatal[0]}")
    report, seconds = asyncio.run(_import(settings, args, roster))
    for error in report.errors:
        print(f"{path.name}: {error}", file=sys.stderr)
    print(_summary(report, dry_run=args.dry_run, seconds=seconds))
    if not args.dry_run and (report.created or report.updated or report.removed):
        print(_QUEUED, file=sys.stderr)
    return 1 if report.errors else 0


async def _delete(settings: Settings, config: str, username: str) -> int:
    async with node_services(settings, config) as ctx, ctx.sessions() as session, session.begin():
        account = await local_account(session, ctx.domain, username)
        if account is None or account.username == INSTANCE_USERNAME:
            raise CommandError(f"no user {username!r} on {ctx.domain}")
        if account.suspended_at is not None:
            raise CommandError(f"{account.username} was already removed")
        return await remove_person(ctx, session, account, media=_media(settings))


def run_users_delete(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine users delete NAME``: remove a person here and everywhere (``Delete`` of the actor)."""
    posts = asyncio.run(_delete(settings, args.config_path, args.username))
    print(f"removed {args.username.lower()} ({posts} posts tombstoned)")
    print(_QUEUED, file=sys.stderr)
    return 0
