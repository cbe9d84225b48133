"""Opening and closing a directory node's graph, SPARQL workers and post cache."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from aiohttp import web

from activitypub.client import FederationClient, Signer
from activitypub.sanitize import HtmlSanitizer
from config import Settings
from node.directory.appkeys import DIRECTORY, RECENT_POSTS, SPARQL
from node.directory.posts import RecentPosts
from node.directory.service import Directory
from node.directory.sparql import SparqlPool

__all__ = ["start_directory", "stop_directory"]


async def start_directory(
    app: web.Application,
    settings: Settings,
    *,
    client: FederationClient,
    signer: Callable[[], Signer],
    sanitizer: HtmlSanitizer,
) -> Directory:
    """Open the graph (rebuilding the index from it), start a SPARQL worker, hang them on *app*."""
    path = settings.directory_store_path
    # Reading everyone back from disk takes a few seconds at 100,000 people: off the loop.
    directory = await asyncio.get_running_loop().run_in_executor(
        None,
        partial(
            Directory,
            path,
            base_url=settings.base_url,
            domain=settings.node.domain,
            max_field_chars=settings.directory.max_field_chars,
        ),
    )
    pool = SparqlPool(
        directory.graph,
        path.with_name(path.name + "-snapshots"),
        workers=settings.directory.sparql_workers,
        timeout=settings.directory.sparql_timeout_seconds,
        max_results=settings.directory.sparql_max_results,
    )
    await pool.start()
    app[DIRECTORY] = directory
    app[SPARQL] = pool
    app[RECENT_POSTS] = RecentPosts(
        client, signer, sanitizer, ttl=settings.directory.posts_cache_seconds
    )
    return directory


async def stop_directory(app: web.Application) -> None:
    """Stop the SPARQL workers and close the graph."""
    await app[SPARQL].close()
    app[DIRECTORY].close()
