"""What services need from the node, bundled once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from activitypub.sanitize import HtmlSanitizer
from node.db.engine import Sessions
from node.federation.actors import ActorResolver
from node.federation.documents import Urls
from node.federation.policy import FederationPolicy
from node.services.directory_search import DirectorySearch
from node.services.publishing import Publisher

__all__ = ["NodeContext"]


@dataclass(frozen=True)
class NodeContext:
    """The node's shared services; one per application, hung off the app object."""

    domain: str
    urls: Urls
    sessions: Sessions
    publisher: Publisher
    sanitizer: HtmlSanitizer
    resolver: ActorResolver
    policy: FederationPolicy
    allow_http: bool
    thread_fetch_depth: int = 8
    #: Entries kept per home feed (``node.home_feed_size``; 0 keeps all; node.services.feeds).
    home_feed_size: int = 800
    #: ``node.name``: a person's department when their profile names none (issue 5).
    node_name: str = "Kantine"
    #: ``federation.directory``: the directory node's base URL, or "" when there is none.
    directory_url: str = ""
    #: The directory's search API, when there is a directory.
    directory: DirectorySearch | None = None
