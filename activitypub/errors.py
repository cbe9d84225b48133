"""The error hierarchy of the activitypub library."""

from __future__ import annotations

__all__ = [
    "ActivityPubError",
    "FetchError",
    "HostNotAllowedError",
    "SignatureError",
    "VocabularyError",
]


class ActivityPubError(Exception):
    """Root of every error this library raises; ``reason`` is safe to show a peer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(ActivityPubError):
    """An HTTP signature is missing, malformed, outside its window or does not verify.

    ``status`` is the HTTP status a server should answer with: 401 for a missing or bad
    signature, 400 for a malformed header (Mastodon answers a malformed RFC 8941
    ``Content-Digest`` with 400).
    """

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


class VocabularyError(ActivityPubError):
    """A document is not an Activity Streams object we can understand (answer 400)."""


class FetchError(ActivityPubError):
    """A remote document could not be fetched or was not acceptable.

    ``status`` is the remote HTTP status when there was one (404, 410, …), else ``None``.
    """

    def __init__(self, reason: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(reason)
        self.url = url
        self.status = status


class HostNotAllowedError(FetchError):
    """The target host is outside the federation policy or resolves to a forbidden address."""
