"""``kantine post``: a post from a script or cron job, queued for the node's workers to deliver."""

from __future__ import annotations

import argparse
import asyncio
import sys

from activitypub.errors import ActivityPubError
from config import Settings
from node.cli.errors import CommandError
from node.cli.services import node_services
from node.services.accounts import local_account
from node.services.statuses import PostError, post_status

__all__ = ["run_post"]


async def _post(settings: Settings, args: argparse.Namespace, text: str) -> str:
    async with (
        node_services(settings, args.config_path) as ctx,
        ctx.sessions() as session,
        session.begin(),
    ):
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
