"""Typed keys of what a directory node hangs off the application object."""

from __future__ import annotations

from aiohttp import web

from node.directory.posts import RecentPosts
from node.directory.service import Directory
from node.directory.sparql import SparqlPool

__all__ = ["DIRECTORY", "RECENT_POSTS", "SPARQL"]

DIRECTORY = web.AppKey("directory", Directory)
SPARQL = web.AppKey("sparql", SparqlPool)
RECENT_POSTS = web.AppKey("recent_posts", RecentPosts)
