"""The composition root: ``create_app(settings)`` wires the database, federation and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Literal

import aiohttp
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from activitypub.client import FederationClient, Signer, make_session
from activitypub.keys import load_private_key
from activitypub.sanitize import HtmlSanitizer
from activitypub.vocabulary import Activity
from config import Settings
from node.api import c2s, discovery, federation
from node.api.mastodon import accounts as mastodon_accounts
from node.api.mastodon import apps as mastodon_apps
from node.api.mastodon import authorize as mastodon_authorize
from node.api.mastodon import conversations as mastodon_conversations
from node.api.mastodon import curation as mastodon_curation
from node.api.mastodon import filters as mastodon_filters
from node.api.mastodon import filters_v1 as mastodon_filters_v1
from node.api.mastodon import follow_requests as mastodon_follow_requests
from node.api.mastodon import instance as mastodon_instance
from node.api.mastodon import lists as mastodon_lists
from node.api.mastodon import markers as mastodon_markers
from node.api.mastodon import media as mastodon_media
from node.api.mastodon import muting as mastodon_muting
from node.api.mastodon import notifications as mastodon_notifications
from node.api.mastodon import oauth as mastodon_oauth
from node.api.mastodon import placeholders as mastodon_placeholders
from node.api.mastodon import profile as mastodon_profile
from node.api.mastodon import reactions as mastodon_reactions
from node.api.mastodon import scheduled as mastodon_scheduled
from node.api.mastodon import search as mastodon_search
from node.api.mastodon import statuses as mastodon_statuses
from node.api.mastodon import streaming as mastodon_streaming
from node.api.mastodon import timelines as mastodon_timelines
from node.api.mastodon.common import api_error_middleware, cors_middleware
from node.api.mastodon.home import FAST_READS, open_fast_reads
from node.api.mastodon.ratelimit import RATE_LIMITS, ApiLimits, rate_limit_middleware
from node.appkeys import (
    AUTH,
    CONTEXT,
    DELIVERY,
    ENGINE,
    INBOX,
    MEDIA,
    MEDIA_SWEEPER,
    PROCESSOR,
    SETTINGS,
    STREAMS,
)
from node.auth.runtime import AuthRuntime
from node.db.engine import checkpoint_forever, create_engine, migrate, sessionmaker_for
from node.federation.actors import ActorResolver
from node.federation.delivery import DeliveryWorker
from node.federation.documents import Urls
from node.federation.inbox import Inbox
from node.federation.policy import FederationPolicy
from node.federation.processing import InboxProcessor
from node.services.accounts import ensure_instance_actor
from node.services.context import NodeContext
from node.services.directory_search import DirectorySearch
from node.services.events import attach
from node.services.media import MediaStore
from node.services.media_cleanup import MediaSweeper
from node.services.publishing import Publisher
from node.services.scheduling import Scheduler
from node.services.streams import StreamBus

__all__ = ["MASTODON_ROUTES", "create_app"]

#: The Mastodon client API's route tables (PROTOCOL.md §6.4), fixed paths before ``{id}`` ones.
MASTODON_ROUTES: tuple[web.RouteTableDef, ...] = (
    mastodon_search.routes,
    mastodon_profile.routes,
    mastodon_accounts.routes,
    mastodon_statuses.routes,
    mastodon_reactions.routes,
    mastodon_timelines.routes,
    mastodon_notifications.routes,
    mastodon_curation.routes,
    mastodon_follow_requests.routes,
    mastodon_markers.routes,
    mastodon_lists.routes,
    mastodon_conversations.routes,
    mastodon_filters.routes,
    mastodon_filters_v1.routes,
    mastodon_scheduled.routes,
    mastodon_muting.routes,
    mastodon_placeholders.routes,
    mastodon_streaming.routes,
    mastodon_media.routes,
)

log = logging.getLogger(__name__)

_POLICY_REFRESH_SECONDS = 5.0
#: How often ``kantine worker`` looks for received activities when it found none.
INBOX_POLL_SECONDS = 0.1


async def _refresh_policy(policy: FederationPolicy, ctx: NodeContext) -> None:
    while True:
        await asyncio.sleep(_POLICY_REFRESH_SECONDS)
        try:
            await policy.refresh(ctx.sessions)
        except Exception:  # the database may be briefly busy; keep the last known policy
            log.exception("federation policy refresh failed")


def _stored_elsewhere(_item_id: int, _activity: Activity) -> None:
    """Another process applies received activities (``server.inbox_worker = "worker"``)."""


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Headers every response carries (ASVS 14.4); an unexpected error answers in JSON."""
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception:  # a bug: log it with its trace, tell the client no more than that
        log.exception("unexpected error on %s %s", request.method, request.path)
        response = web.json_response({"error": "internal error"}, status=500)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def create_app(
    settings: Settings,
    *,
    run_workers: bool = True,
    inner_resolver: aiohttp.abc.AbstractResolver | None = None,
    process: Literal["serve", "worker"] = "serve",
) -> web.Application:
    """Build the node's application; resources open and close with it (``cleanup_ctx``).

    ``run_workers=False`` leaves the inbox and delivery workers to the caller (tests step
    them; ``kantine worker`` runs them alone). *process* says which command this is:
    with ``server.inbox_worker = "worker"`` only ``kantine worker`` applies received
    activities, polling for them often since no request wakes it.
    """
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[
            _security_headers,
            cors_middleware,
            rate_limit_middleware,
            api_error_middleware,
        ],
    )
    app[SETTINGS] = settings
    app[RATE_LIMITS] = ApiLimits(settings.rate_limits)
    app[MEDIA] = MediaStore(
        settings.media_path,
        settings.base_url,
        max_bytes=settings.media.max_bytes,
        max_pixels=settings.media.max_pixels,
        description_limit=settings.media.description_limit,
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database.pool_size,
            echo=settings.database.echo,
        )
        await migrate(engine)
        sessions = sessionmaker_for(engine)
        # Committed posts, edits, deletes and notifications reach open streams (C30–C32).
        streams = app[STREAMS] = StreamBus(sessions, settings.database_url)
        attach(sessions, streams.publish)
        urls = Urls(settings.base_url)
        domain = settings.node.domain.lower()
        policy = FederationPolicy.from_settings(settings.federation, own_host=domain)
        await policy.refresh(sessions)
        try:
            async with sessions() as session, session.begin():
                instance = await ensure_instance_actor(session, domain, urls)
        except IntegrityError:
            # `kantine serve` and `kantine worker` started together on a new database: the
            # other process created the instance actor a moment ago; use that one.
            async with sessions() as session, session.begin():
                instance = await ensure_instance_actor(session, domain, urls)
        assert instance.private_key_pem is not None
        signer = Signer(instance.public_key_id, load_private_key(instance.private_key_pem))
        app[AUTH] = AuthRuntime.create(instance.private_key_pem)
        http = make_session(
            policy=policy,
            open_mode=settings.federation.mode == "open",
            inner_resolver=inner_resolver,
        )
        client = FederationClient(
            http,
            policy=policy,
            allow_http=settings.federation.allow_http,
            timeout=settings.federation.request_timeout_seconds,
            max_response_bytes=settings.federation.max_response_bytes,
            # Inside an organisation, allowlisted peers may sit on private addresses (SECURITY.md row 13).
            trusted_hosts=policy.allows if settings.federation.mode == "allowlist" else None,
        )
        lease = timedelta(seconds=settings.federation.worker_lease_seconds)
        delivery = DeliveryWorker(
            sessions,
            client,
            concurrency=settings.federation.delivery_concurrency,
            horizon=timedelta(hours=settings.federation.delivery_horizon_hours),
            lease=lease,
        )
        sanitizer = HtmlSanitizer()
        resolver = ActorResolver(
            sessions, client, instance_signer=lambda: signer, sanitizer=sanitizer
        )
        ctx = NodeContext(
            domain=domain,
            urls=urls,
            sessions=sessions,
            publisher=Publisher(delivery.wake),
            sanitizer=sanitizer,
            resolver=resolver,
            policy=policy,
            allow_http=settings.federation.allow_http,
            thread_fetch_depth=settings.federation.thread_fetch_depth,
            home_feed_size=settings.node.home_feed_size,
            node_name=settings.node.name,
            directory_url=settings.federation.directory.rstrip("/"),
            directory=DirectorySearch(
                client, lambda: signer, settings.federation.directory, sanitizer=sanitizer
            )
            if settings.federation.directory
            else None,
        )
        directory = None
        handlers = screen = None
        if settings.node.role == "directory":
            # The who-is-who (issue 5): profiles pushed to the inbox land in the graph. Imported
            # here: rdflib and Oxigraph cost a department node ~30 MB it has no use for.
            from node.directory.inbox import directory_handlers, profile_screen
            from node.directory.lifecycle import start_directory

            directory = await start_directory(
                app, settings, client=client, signer=lambda: signer, sanitizer=sanitizer
            )
            handlers, screen = directory_handlers(directory), profile_screen(directory)
        inbox_here = process == "worker" or settings.server.inbox_worker == "serve"
        processor = InboxProcessor(
            ctx,
            lease=lease,
            handlers=handlers,
            # A separate worker learns of new rows only by looking (INBOX_POLL_SECONDS), and
            # serves no requests: larger batches (fewer statements per activity) delay nothing.
            poll_seconds=INBOX_POLL_SECONDS if process == "worker" else 1.0,
            batch=128 if process == "worker" else 64,
        )
        app[ENGINE] = engine
        app[CONTEXT] = ctx
        app[PROCESSOR] = processor
        app[INBOX] = Inbox(
            sessions,
            resolver,
            policy,
            window=timedelta(seconds=settings.federation.signature_window_seconds),
            # The parsed activity goes to this process's worker, if it runs here.
            on_stored=processor.received if inbox_here else _stored_elsewhere,
            screen=screen,
        )
        tasks = [
            asyncio.create_task(_refresh_policy(policy, ctx), name="policy-refresh"),
            asyncio.create_task(streams.run(), name="stream-bus"),
        ]
        # Scheduled posts are rows; the worker publishes them when due (tests step it).
        scheduler = app[mastodon_scheduled.SCHEDULER] = Scheduler(ctx, app[MEDIA])
        sweeper = app[MEDIA_SWEEPER] = MediaSweeper(
            sessions, app[MEDIA], max_age=timedelta(hours=settings.media.unattached_hours)
        )
        if run_workers:
            if inbox_here:
                tasks.append(asyncio.create_task(processor.run(), name="inbox-worker"))
            tasks.append(asyncio.create_task(delivery.run(), name="delivery-worker"))
            tasks.append(asyncio.create_task(scheduler.run(), name="scheduled-posts"))
            tasks.append(asyncio.create_task(sweeper.run(), name="unposted-media"))
        app[DELIVERY] = delivery
        # The home timeline reads SQLite with plain sqlite3 (node.api.mastodon.home).
        if (reads := open_fast_reads(settings.database_url)) is not None:
            app[FAST_READS] = reads
            tasks.append(asyncio.create_task(checkpoint_forever(engine), name="wal-checkpoint"))
        log.info(
            "node %s ready (%s, federation %s)",
            domain,
            settings.node.role,
            settings.federation.mode,
        )
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app[INBOX].close()
        if directory is not None:
            from node.directory.lifecycle import stop_directory

            await stop_directory(app)
        await http.close()
        if reads is not None:
            reads.close()
        await engine.dispose()

    app.cleanup_ctx.append(resources)

    async def end_streams(app: web.Application) -> None:
        # Open streams would hold a shutdown until their next heartbeat write fails.
        app[STREAMS].close_all()

    app.on_shutdown.append(end_streams)
    if settings.node.role == "directory":
        from node.api import directory as directory_api

        # Org-wide handles first; the node's own WebFinger answers everything else.
        app.add_routes(directory_api.webfinger_routes)
        app.add_routes(directory_api.routes)
        # The composition root is the one place node meets web (STYLE.md).
        from web import directory as directory_pages

        directory_pages.setup(app)
    app.add_routes(discovery.routes)
    app.add_routes(federation.routes)
    app.add_routes(c2s.routes)
    # The OAuth 2 server and instance metadata (PROTOCOL.md C9–C18).
    app.add_routes(mastodon_oauth.routes)
    app.add_routes(mastodon_authorize.routes)
    app.add_routes(mastodon_apps.routes)
    app.add_routes(mastodon_instance.routes)
    for table in MASTODON_ROUTES:
        app.add_routes(table)
    # The node's own web pages (issue 6): the composition root is the one place node meets web.
    import web as web_pages

    web_pages.setup(app)
    return app
