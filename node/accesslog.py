"""The web process's access log: every request at INFO, except an inbox's stream of 202s.

A busy inbox answers a thousand and more peers' POSTs a second. One access-log line each
(aiohttp's formatting, a log record, a write to stderr) cost ~25–30 µs, about as much as
storing the activity. The inbox already logs at INFO how many it stored (one line a
second at most: "inbox stored N activities … in M commits") and each refused activity
with its reason, so its successful POSTs are logged at DEBUG only. Everything else, including every inbox answer of 300 or
more, is logged as aiohttp logs it.
"""

from __future__ import annotations

import logging

from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

__all__ = ["NodeAccessLogger", "is_inbox_path"]


def is_inbox_path(path: str) -> bool:
    """The shared inbox, a person's inbox or the instance actor's inbox."""
    return path.endswith("/inbox")


class NodeAccessLogger(AccessLogger):
    """aiohttp's access log, with an inbox's successful POSTs at DEBUG."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if (
            response.status < 300
            and request.method == "POST"
            and is_inbox_path(request.path)
            and not self.logger.isEnabledFor(logging.DEBUG)
        ):
            return
        super().log(request, response, time)
