"""``kantine users`` and ``kantine tokens``: people, bots and their bearer tokens."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from config import Settings
from node.auth.password_changes import RESET_LIFETIME, issue_reset, reset_url
from node.auth.passwords import MIN_PASSWORD_LENGTH, PasswordPolicyError
from node.auth.tokens import ScopeError, issue_token
from node.cli.database import open_database
from node.cli.errors import CommandError
from node.cli.tables import render_table, timestamp
from node.federation.documents import Urls
from node.services.accounts import (
    AccountError,
    create_local_account,
    list_local_accounts,
    local_account,
)

__all__ = ["run_tokens_create", "run_users_create", "run_users_list", "run_users_reset_link"]


def _password(args: argparse.Namespace) -> str | None:
    """The new password: ``--password``, one line of stdin, a prompt on a terminal, or none."""
    if args.password is not None:
        return str(args.password)
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.bot or not sys.stdin.isatty():
        return None
    first = getpass.getpass(f"Password for {args.username} (at least {MIN_PASSWORD_LENGTH}): ")
    if first and getpass.getpass("Again: ") != first:
        raise CommandError("the passwords differ")
    return first or None


async def _create_user(
    settings: Settings, config: str, args: argparse.Namespace, password: str | None
) -> str:
    domain = settings.node.domain.lower()
    async with open_database(settings, config) as sessions:
        async with sessions() as session, session.begin():
            try:
                account = await create_local_account(
                    session,
                    domain,
                    Urls(settings.base_url),
                    args.username,
                    password=password,
                    role=args.role,
                    bot=args.bot,
                    display_name=args.display_name or "",
                )
            except (AccountError, PasswordPolicyError) as exc:
                raise CommandError(str(exc)) from None
        return f"created {account.username}@{domain} ({account.role}{', bot' if args.bot else ''}): {account.uri}"


def run_users_create(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine users create NAME``."""
    password = _password(args)
    print(asyncio.run(_create_user(settings, args.config_path, args, password)))
    if password is None:
        print(
            f"note: {args.username} has no password; sign in with a token "
            f"(kantine tokens create {args.username})",
            file=sys.stderr,
        )
    return 0


async def _list_users(settings: Settings, config: str) -> list[list[str]]:
    async with open_database(settings, config) as sessions, sessions() as session:
        accounts = await list_local_accounts(session, settings.node.domain.lower())
    return [
        [
            a.username,
            a.role,
            "bot" if a.actor_type == "Service" else "person",
            a.display_name,
            timestamp(a.created_at),
            "suspended" if a.suspended_at is not None else "active",
        ]
        for a in accounts
    ]


def run_users_list(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine users list``."""
    rows = asyncio.run(_list_users(settings, args.config_path))
    if not rows:
        print(f"no users yet: kantine users create NAME --config {args.config_path}")
        return 0
    print(render_table(["USER", "ROLE", "TYPE", "DISPLAY NAME", "CREATED", "STATE"], rows))
    return 0


async def _create_token(settings: Settings, config: str, args: argparse.Namespace) -> str:
    domain = settings.node.domain.lower()
    async with (
        open_database(settings, config) as sessions,
        sessions() as session,
        session.begin(),
    ):
        account = await local_account(session, domain, args.username)
        if account is None:
            raise CommandError(f"no user {args.username!r} on {domain}")
        if account.suspended_at is not None:
            raise CommandError(f"{account.username} is suspended")
        try:
            return await issue_token(session, account, args.scopes, name=args.name or "cli")
        except ScopeError as exc:
            raise CommandError(str(exc)) from None


def run_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine tokens create NAME``: the token alone on stdout, so scripts can capture it."""
    token = asyncio.run(_create_token(settings, args.config_path, args))
    print(token)
    return 0


async def _reset_link(settings: Settings, config: str, username: str) -> str:
    domain = settings.node.domain.lower()
    async with (
        open_database(settings, config) as sessions,
        sessions() as session,
        session.begin(),
    ):
        account = await local_account(session, domain, username)
        if account is None or account.actor_type == "Application":
            raise CommandError(f"no user {username!r} on {domain}")
        if account.suspended_at is not None:
            raise CommandError(f"{account.username} is suspended: unsuspend them first")
        return reset_url(settings.base_url, await issue_reset(session, account))


def run_users_reset_link(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine users reset-link NAME``: the link alone on stdout; older links stop working."""
    link = asyncio.run(_reset_link(settings, args.config_path, args.username))
    print(link)
    hours = int(RESET_LIFETIME.total_seconds() // 3600)
    print(
        f"note: the link works once, for {hours} hours; give it to {args.username} privately",
        file=sys.stderr,
    )
    return 0
