"""Applying an HR export to this node's people: create, update, and optionally prune.

Each person is written in a transaction of their own, after their whole row has been
validated (``change_profile`` raises before it writes), so a bad row changes nothing and
a good row is never half-written. New people get no password: they sign in later with a
reset link or single sign-on. Only real changes are pushed to the directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from node.db.engine import AsyncSession
from node.db.models import Account
from node.services.accounts import INSTANCE_USERNAME, AccountError, create_local_account
from node.services.context import NodeContext
from node.services.profile import (
    ProfileChange,
    ProfileError,
    change_profile,
    push_person,
    remove_person,
)
from node.services.roster import PersonRecord, Roster, RowError

__all__ = ["ImportReport", "import_people"]

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
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create or update everyone in *roster*; with *prune*, remove local people not in it."""
    report = ImportReport(errors=list(roster.errors))
    names = frozenset(p.username for p in roster.people)
    for done, record in enumerate(roster.people, start=1):
        try:
            async with ctx.sessions() as session, session.begin():
                outcome = await _apply(ctx, session, record, names)
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
    if prune:
        await _prune(ctx, names, report, dry_run=dry_run)
    report.errors.sort(key=lambda e: e.line)
    return report


async def _apply(
    ctx: NodeContext, session: AsyncSession, record: PersonRecord, names: frozenset[str]
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
            session, ctx.domain, ctx.urls, record.username, display_name=record.display_name or ""
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
    ctx: NodeContext, names: frozenset[str], report: ImportReport, *, dry_run: bool
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
                await remove_person(ctx, session, account)
        report.removed.append(username)
        log.info("import: %s removed (not in the export)", username)
