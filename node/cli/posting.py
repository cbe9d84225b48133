"""``kantine post``: a post from a script or cron job, queued for the node's workers to deliver."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from activitypub.errors import ActivityPubError
from config import Settings
from node.app import create_app
from node.appkeys import CONTEXT
from node.cli.database import open_database
from node.cli.errors import CommandError, database_errors
from node.services.accounts import local_account
from node.services.statuses import PostError, post_status

__all__ = ["run_post"]


async def _post(settings: Settings, args: argparse.Namespace, text: str) -> str:
    async with open_database(settings, args.config_path):
        pass  # only the check: the app below would silently create and migrate a database
    # The node's own composition root gives the post what a web request would have (mention
    # lookup, sanitiser, publisher); its workers stay off: the running node delivers.
    app = create_app(settings, run_workers=False)
    runner = web.AppRunner(app)
    with database_errors():
        await runner.setup()
        try:
            ctx = app[CONTEXT]
            async with ctx.sessions() as session, session.begin():
                author = await local_account(session, ctx.domain, args.as_user)
                if author is None:
                    raise CommandError(f"no user {args.as_user!r} on {ctx.domain}")
                if author.suspended_at is not None:
                    raise CommandError(f"{author.username} is suspended")
                try:
                    status = await post_status(
                        ctx,
                        session,
                        author,
                        text,
                        visibility=args.visibility,
                        summary=args.summary or "",
                        language=args.language,
                    )
                except PostError as exc:
                    raise CommandError(str(exc)) from None
                except ActivityPubError as exc:
                    raise CommandError(f"a peer could not be reached: {exc.reason}") from None
            return status.uri
        finally:
            await runner.cleanup()


def run_post(args: argparse.Namespace, settings: Settings) -> int:
    """``kantine post --as NAME TEXT`` (``-`` reads the text from stdin); prints the post's id."""
    text = sys.stdin.read() if args.text == "-" else args.text
    print(asyncio.run(_post(settings, args, text.strip("\n"))))
    if args.visibility != "local":
        print(
            "queued; a running `kantine serve` or `kantine worker` delivers it to other nodes",
            file=sys.stderr,
        )
    return 0
