"""Body digests for signed requests: ``Digest`` (RFC 3230) and ``Content-Digest`` (RFC 9530)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from activitypub.errors import SignatureError
from activitypub.structured_fields import Item, StructuredFieldError, parse_dictionary

__all__ = ["check_body_digests", "content_digest_header", "digest_header"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def digest_header(body: bytes) -> str:
    """``Digest`` header value for ``body``: ``SHA-256=<base64>`` (RFC 3230 §4.3.2, RFC 5843)."""
    return "SHA-256=" + _b64(hashlib.sha256(body).digest())


def content_digest_header(body: bytes) -> str:
    """``Content-Digest`` header value for ``body``: ``sha-256=:<base64>:`` (RFC 9530 §2), S19."""
    return "sha-256=:" + _b64(hashlib.sha256(body).digest()) + ":"


def check_body_digests(fields: Mapping[str, str], body: bytes, *, required: str | None) -> None:
    """Check every digest header present against ``body`` (S10, S19).

    ``fields`` maps lower-case header names to values. ``required`` names the header a POST
    must carry (``"digest"`` or ``"content-digest"``); either digest header satisfies it.
    Raises ``SignatureError``: 401 for a missing or wrong digest, 400 for a ``Content-Digest``
    that is not an RFC 8941 dictionary (as Mastodon answers).
    """
    if required is not None and "digest" not in fields and "content-digest" not in fields:
        raise SignatureError(f"{required.title()} header missing")
    computed = _b64(hashlib.sha256(body).digest())
    if "digest" in fields:
        # S10: algorithm tokens are case-insensitive (Mastodon sends SHA-256, Fedify sha-256).
        offered = {}
        for entry in fields["digest"].split(","):
            algorithm, _, value = entry.partition("=")
            offered[algorithm.strip().lower()] = value.strip()
        if "sha-256" not in offered:
            raise SignatureError(
                "only SHA-256 is supported in the Digest header. "
                f"Offered algorithms: {', '.join(offered)}"
            )
        _compare(computed, offered["sha-256"])
    if "content-digest" in fields:
        try:
            members = parse_dictionary(fields["content-digest"])
        except StructuredFieldError as exc:
            raise SignatureError(
                "Content-Digest could not be parsed. It does not contain a valid RFC 8941 "
                f"dictionary ({exc})",
                status=400,
            ) from exc
        member = members.get("sha-256")
        if member is None:
            raise SignatureError(
                "only SHA-256 is supported in the Content-Digest header. "
                f"Offered algorithms: {', '.join(members)}"
            )
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise SignatureError("Content-Digest sha-256 is not a byte sequence", status=400)
        _compare(computed, _b64(member.value))


def _compare(computed: str, given: str) -> None:
    if computed != given:
        raise SignatureError(
            f"Invalid Digest value. Computed SHA-256 digest: {computed}; given: {given}"
        )
