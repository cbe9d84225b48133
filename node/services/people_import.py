"""Applying an HR export to this node's people: create, update, and optionally prune.

Each person is written in a transaction of their own, after their whole row has been
validated (``change_profile`` raises before it writes), so a bad row changes nothing and
a good row is never half-written. New people get no password: they sign in later with a
reset link or single sign-on. Only real changes are pushed to the directory.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select

from activitypub.keys import generate_private_key, private_key_to_pem, public_key_to_pem
from node.db.engine import AsyncSession
from node.db.models import Account
from node.services.accounts import INSTANCE_USERNAME, AccountError, create_local_account
from node.services.context import NodeContext
from node.services.media import MediaStore
from node.services.profile import (
    ProfileChange,
    ProfileError,
    change_profile,
    push_person,
    remove_person,
)
from node.services.roster import PersonRecord, Roster, RowError

__all__ = ["ImportReport", "import_people", "make_key_pems"]

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did (or, on a dry run, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Not removed by ``--prune`` although absent: admins and bots are never pruned.
    kept: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def make_key_pems() -> tuple[str, str]:
    """A new RSA key pair as (private, public) PEM (run in a worker process)."""
    key = generate_private_key()
    return private_key_to_pem(key), public_key_to_pem(key)


class _Keys:
    """RSA keys for the new people, made ahead in other processes.

    A key costs tens of milliseconds of CPU; making them beside the database work uses the
    machine's other cores. A dry run rolls every account back, so one key serves it all.
    """

    def __init__(self, count: int, *, dry_run: bool, parallel_from: int) -> None:
        self._shared = make_key_pems() if dry_run and count else None
        self._pool: ProcessPoolExecutor | None = None
        self._futures: deque[Future[tuple[str, str]]] = deque()
        if not dry_run and count >= parallel_from:
            # spawn, not fork: this process has an event loop and database threads.
            self._pool = ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")
            )
            self._futures.extend(self._pool.submit(make_key_pems) for _ in range(count))

    async def next(self) -> tuple[str, str] | None:
        """A key for the next new person (None: make it in place)."""
        if self._shared is not None:
            return self._shared
        if not self._futures:
            return None
        return await asyncio.wrap_future(self._futures.popleft())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _DryRun(Exception):
    """Rolls back a transaction on a dry run, after everything was checked."""


def _change(record: PersonRecord) -> ProfileChange:
    return ProfileChange(
        display_name=record.display_name,
        job_title=record.job_title,
        department=record.department,
        location=record.location,
        phone=record.phone,
        email=record.email,
        expertise=record.expertise,
        languages=record.languages,
        manager=record.manager,
    )


async def import_people(
    ctx: NodeContext,
    roster: Roster,
    *,
    prune: bool = False,
    dry_run: bool = False,
    media: MediaStore | None = None,
    progress: Callable[[int], None] | None = None,
    parallel_keys_from: int = 200,
) -> ImportReport:
    """Create or update everyone in *roster*; with *prune*, remove local people not in it.

    From *parallel_keys_from* new people on, their keys are made in worker processes.
    """
    report = ImportReport(errors=list(roster.errors))
    names = frozenset(p.username for p in roster.people)
    async with ctx.sessions() as session:
        existing = set(
            (
                await session.execute(
                    select(Account.username).where(
                        Account.domain == ctx.domain, Account.local.is_(True)
                    )
                )
            ).scalars()
        )
    keys = _Keys(len(names - existing), dry_run=dry_run, parallel_from=max(1, parallel_keys_from))
    try:
        for done, record in enumerate(roster.people, start=1):
            key = await keys.next() if record.username not in existing else None
            try:
                async with ctx.sessions() as session, session.begin():
                    outcome = await _apply(ctx, session, record, names, key)
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass
            except ProfileError as exc:
                report.errors.append(RowError(record.line, exc.field, exc.message))
                continue
            except AccountError as exc:
                report.errors.append(RowError(record.line, "username", str(exc)))
                continue
            getattr(report, outcome).append(record.username)
            if progress is not None:
                progress(done)
    finally:
        keys.close()
    if prune:
        await _prune(ctx, names, report, dry_run=dry_run, media=media)
    report.errors.sort(key=lambda e: e.line)
    return report


async def _apply(
    ctx: NodeContext,
    session: AsyncSession,
    record: PersonRecord,
    names: frozenset[str],
    key: tuple[str, str] | None,
) -> str:
    account = (
        await session.execute(
            select(Account).where(
                Account.username == record.username,
                Account.domain == ctx.domain,
                Account.local.is_(True),
            )
        )
    ).scalar_one_or_none()
    outcome = "updated"
    restored = False
    if account is None:
        account = await create_local_account(
            session,
            ctx.domain,
            ctx.urls,
            record.username,
            display_name=record.display_name or "",
            key_pems=key,
        )
        outcome = "created"
    elif account.suspended_at is not None:
        # Back in the export (rehired, or pruned by mistake): active again, pushed again.
        account.suspended_at = None
        restored = True
    changed = await change_profile(ctx, session, account, _change(record), local_names=names)
    if outcome == "created":
        return outcome
    if restored and not changed:
        await push_person(ctx, session, account)
        return "updated"
    return "updated" if changed else "unchanged"


async def _prune(
    ctx: NodeContext,
    names: frozenset[str],
    report: ImportReport,
    *,
    dry_run: bool,
    media: MediaStore | None = None,
) -> None:
    """Remove the local people the export no longer lists (never admins, bots, the node)."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(Account.id, Account.username, Account.role, Account.actor_type).where(
                    Account.domain == ctx.domain,
                    Account.local.is_(True),
                    Account.suspended_at.is_(None),
                    Account.username != INSTANCE_USERNAME,
                )
            )
        ).all()
    for account_id, username, role, actor_type in rows:
        if username in names:
            continue
        if role == "admin" or actor_type != "Person":
            report.kept.append(username)
            continue
        if not dry_run:
            async with ctx.sessions() as session, session.begin():
                account = await session.get(Account, account_id)
                assert account is not None
                await remove_person(ctx, session, account, media=media)
        report.removed.append(username)
        log.info("import: %s removed (not in the export)", username)
