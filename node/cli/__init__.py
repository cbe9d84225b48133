"""The ``kantine`` command: a thin argparse layer over the node's services.

Each sub-command lives in its own module and is imported only when it runs, so
``kantine --help`` and a wrong config are answered at once. Every failure the admin can
act on is printed as one line on stderr with a non-zero exit (2 for the configuration and
the command line, 1 for the rest); secrets are never printed, except a created token.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from config import Settings, SettingsError, load_settings
from node.cli.errors import EXIT_CONFIG, CommandError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Settings], int]

_DESCRIPTION = "Kantine, a federated social intranet: set up and run a node."
_POST_EPILOG = """\
kantine post only writes the post and its delivery rows (a durable queue); the node's
running `kantine serve` or `kantine worker` delivers them to other nodes (its delivery
worker polls every second). Mentions such as @bob@hr.example.org are resolved now.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with where to find help), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _handler(module: str, name: str) -> Callable[[], Handler]:
    """A handler imported on use: ``kantine init`` need not load the web app."""

    def load() -> Handler:
        handler: Handler = getattr(importlib.import_module(f"node.cli.{module}"), name)
        return handler

    return load


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="the node's TOML config file (default: $KANTINE_CONFIG)",
    )


def _command(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    help_: str,
    module: str,
    func: str,
    *,
    epilog: str | None = None,
) -> _Parser:
    parser = sub.add_parser(
        name,
        help=help_,
        description=help_,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(parser)
    parser.set_defaults(load_handler=_handler(module, func), command=name)
    return parser


def _parser() -> _Parser:
    parser = _Parser(prog="kantine", description=_DESCRIPTION)
    _config_option(parser)
    top = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    _command(
        top, "init", "create the data dir and database, migrate, make the instance actor (idempotent)",
        "database", "run_init",
    )  # fmt: skip
    _command(
        top, "serve", "run the web, APIs, federation and workers; GET /health is 200 when ready",
        "serving", "run_serve",
    )  # fmt: skip
    _command(
        top, "worker", "run only the inbox and delivery workers (to scale out)", "serving", "run_worker"
    )  # fmt: skip
    post = _command(
        top, "post", "post as a local user (for scripts and cron jobs)", "posting", "run_post",
        epilog=_POST_EPILOG,
    )  # fmt: skip
    post.add_argument("--as", dest="as_user", required=True, metavar="USER", help="the author")
    post.add_argument(
        "--visibility",
        default="public",
        help="public (default), unlisted, private (followers), direct or local (this node only)",
    )
    post.add_argument("--summary", metavar="TEXT", help="content warning shown before the post")
    post.add_argument("--language", metavar="CODE", help="ISO 639 code, e.g. nl")
    post.add_argument("text", metavar="TEXT", help="the post's text, or - to read it from stdin")
    demo = top.add_parser(
        "demo",
        help="start the seeded demo: Finance on 127.0.0.2:8001, HR on 127.0.0.3:8001, "
        "the directory on 127.0.0.4:8001",
        description="Create (once) and seed demo-data/, start the three nodes, print what to try; "
        "Ctrl-C stops them.",
    )
    demo.add_argument(
        "--dir", default="demo-data", help="where the demo lives (default: %(default)s)"
    )
    demo.add_argument("--reset", action="store_true", help="delete the demo's data first")
    demo.set_defaults(demo=True)

    users = top.add_parser("users", help="people and bots").add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    create = _command(users, "create", "create a person or a bot", "accounts", "run_users_create")
    create.add_argument("username", metavar="NAME", help="a–z, 0–9 and _, at most 30")
    secret = create.add_mutually_exclusive_group()
    secret.add_argument(
        "--password", help="at least 12 characters (visible to `ps`; prefer --password-stdin)"
    )
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    create.add_argument(
        "--role", default="member", help="admin, moderator, communications or member (default)"
    )
    create.add_argument("--bot", action="store_true", help="an automated account (type Service)")
    create.add_argument("--display-name", metavar="NAME", help="shown instead of the user name")
    _command(users, "list", "list this node's people and bots", "accounts", "run_users_list")
    reset = _command(
        users, "reset-link", "print a one-time password reset link (valid 24 hours)",
        "accounts", "run_users_reset_link",
    )  # fmt: skip
    reset.add_argument("username", metavar="NAME")

    remove = _command(
        users, "delete", "remove a person: posts tombstoned, Delete sent to peers and the directory",
        "directory", "run_users_delete",
    )  # fmt: skip
    remove.add_argument("username", metavar="NAME")

    directory = top.add_parser("directory", help="people's profiles and the directory node")
    directory_sub = directory.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    _command(
        directory_sub, "sync", "push every local person's profile to the directory again",
        "directory", "run_directory_sync",
    )  # fmt: skip
    imports = _command(
        directory_sub, "import",
        "create and update people from a CSV (header row) or LDIF (LDAP export) file",
        "directory", "run_directory_import",
    )  # fmt: skip
    imports.add_argument("file", metavar="FILE", help="people.csv or people.ldif")
    imports.add_argument(
        "--prune", action="store_true", help="remove local people the file does not list"
    )
    imports.add_argument("--dry-run", action="store_true", help="check everything, change nothing")

    tokens = top.add_parser("tokens", help="bearer tokens for scripts, bots and apps")
    tokens_sub = tokens.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    token = _command(
        tokens_sub, "create", "create a token; only the token is printed on stdout",
        "accounts", "run_tokens_create",
    )  # fmt: skip
    token.add_argument("username", metavar="NAME")
    token.add_argument(
        "--scopes", default="read", help="comma-separated: read, write, follow… (default: read)"
    )
    token.add_argument("--name", help="what the token is for (e.g. the script's name)")

    federation = top.add_parser("federation", help="which nodes this node talks to")
    fed_sub = federation.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for decision, text in (
        ("allow", "allow a host (peer node), in addition to federation.allow"),
        ("deny", "refuse a host, also in open mode"),
        ("forget", "remove the CLI decision about a host"),
    ):
        cmd = _command(fed_sub, decision, text, "federation", "run_peer_decision")
        cmd.add_argument("host", metavar="HOST", help="hr.example.org or 127.0.0.3:8001")
        cmd.set_defaults(decision=decision)
    _command(
        fed_sub, "list", "list allowed and denied hosts from the config file and the CLI",
        "federation", "run_peers_list",
    )  # fmt: skip
    deliveries = _command(
        fed_sub, "deliveries", "per peer: pending, failed, oldest pending, last error",
        "federation", "run_deliveries",
    )  # fmt: skip
    deliveries.add_argument("--host", help="only this peer")
    deliveries.add_argument("--failed", action="store_true", help="list the failed deliveries")
    deliveries.add_argument(
        "--retry", action="store_true", help="requeue failed deliveries (of --host, or all)"
    )
    deliveries.add_argument(
        "--retry-now", metavar="HOST", help="make HOST's pending deliveries due now"
    )
    return parser


def _config_path(args: argparse.Namespace) -> str:
    path = getattr(args, "config", None) or os.environ.get("KANTINE_CONFIG")
    if not path:
        raise CommandError("no config file: pass --config FILE or set KANTINE_CONFIG", EXIT_CONFIG)
    return str(path)


def _configure_logging(settings: Settings, command: str) -> None:
    # Long-running processes log at the configured level; one-shot commands only warnings,
    # so their output stays what the admin asked for.
    level = settings.logging.level if command in {"serve", "worker"} else "WARNING"
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "demo", False):
        from node.cli.demo import run_demo

        return run_demo(args)
    if not hasattr(args, "load_handler"):
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    args.config_path = _config_path(args)
    settings = load_settings(args.config_path)
    _configure_logging(settings, args.command)
    handler: Handler = args.load_handler()
    return handler(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kantine`` command; returns the exit code."""
    try:
        return _run(argv)
    except SettingsError as exc:
        print(f"kantine: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CommandError as exc:
        print(f"kantine: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
