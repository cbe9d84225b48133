"""Typed keys of everything hung off the application object (aiohttp ``AppKey``)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from node.auth.runtime import AuthRuntime
from node.federation.delivery import DeliveryWorker
from node.federation.inbox import Inbox
from node.federation.processing import InboxProcessor
from node.services.context import NodeContext
from node.services.media import MediaStore
from node.services.media_cleanup import MediaSweeper
from node.services.streams import StreamBus

__all__ = [
    "AUTH",
    "CONTEXT",
    "DELIVERY",
    "ENGINE",
    "INBOX",
    "MEDIA",
    "MEDIA_SWEEPER",
    "PROCESSOR",
    "SETTINGS",
    "STREAMS",
]

SETTINGS = web.AppKey("settings", Settings)
AUTH = web.AppKey("auth", AuthRuntime)
ENGINE = web.AppKey("engine", AsyncEngine)
CONTEXT = web.AppKey("context", NodeContext)
INBOX = web.AppKey("inbox", Inbox)
PROCESSOR = web.AppKey("processor", InboxProcessor)
DELIVERY = web.AppKey("delivery", DeliveryWorker)
STREAMS = web.AppKey("streams", StreamBus)
MEDIA = web.AppKey("media", MediaStore)
#: Deletes unposted uploads after ``media.unattached_hours`` (tests step it with a clock).
MEDIA_SWEEPER = web.AppKey("media_sweeper", MediaSweeper)
