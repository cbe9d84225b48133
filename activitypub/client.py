"""A guarded federation HTTP client: signed GET and POST with every SSRF and spoofing check.

Implements PROTOCOL.md S3/S6 (signed fetch and delivery, draft-cavage), S13 (documents
are fetched by their id), A28 (10 s timeouts, at most 2 redirects) and SECURITY.md rows
2, 3, 9, 13 and 17:

* the host policy is checked before any I/O and again on every redirect hop;
* redirects are followed by hand, only within the same host (Fedify #903);
* a fetched document must carry an AS2 media type (Mastodon CVE-2024-25623) and its
  ``id`` must share the origin of the final URL (Mastodon PR #8372, FEP-fe34);
* bodies are capped while streaming and by ``Content-Length`` up front (Mastodon
  ``body_with_limit``, #31285).

Addresses are guarded by ``activitypub.hosts.GuardedResolver`` in the session built by
``make_session``; IP-literal hosts never reach a resolver, so the client checks them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

import aiohttp
import yarl
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict, CIMultiDictProxy

from activitypub.errors import FetchError, HostNotAllowedError
from activitypub.hosts import GuardedResolver, HostPolicy, address_allowed, host_of, literal_address
from activitypub.signatures import sign_request

__all__ = [
    "AS2_ACCEPT",
    "AS_CONTEXT",
    "JRD_ACCEPT",
    "FederationClient",
    "Response",
    "Signer",
    "is_as2_content_type",
    "make_session",
]

log = logging.getLogger(__name__)

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
AS2_ACCEPT = f'application/activity+json, application/ld+json; profile="{AS_CONTEXT}"'
JRD_ACCEPT = "application/jrd+json, application/json"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_JRD_TYPES = frozenset({"application/jrd+json", "application/json"})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Signer:
    """Whose key signs a request: ``key_id`` is ``<actor>#main-key`` (PROTOCOL S6)."""

    key_id: str
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        # Keep the private key out of logs and tracebacks.
        return f"Signer(key_id={self.key_id!r})"


@dataclass(frozen=True)
class Response:
    """What a peer answered to a POST: status, headers and a (capped) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` value into its lower-case type and parameters (RFC 9110 §8.3.1)."""
    message = Message()
    message["content-type"] = value
    params: dict[str, str] = {}
    for key, raw in message.get_params(failobj=[])[1:]:
        params[key.lower()] = collapse_rfc2231_value(raw)
    return message.get_content_type(), params


def is_as2_content_type(value: str) -> bool:
    """Return whether ``value`` is an ActivityStreams 2.0 media type (AS2 Core §2).

    ``application/activity+json`` with any parameters, or ``application/ld+json`` whose
    ``profile`` lists the AS2 context; plain JSON is refused because any upload on the
    actor's host could be served as JSON (Mastodon ``JsonLdHelper``, CVE-2024-25623).
    """
    mime, params = _media_type(value)
    if mime == "application/activity+json":
        return True
    return mime == "application/ld+json" and AS_CONTEXT in params.get("profile", "").split()


def _is_jrd_content_type(value: str) -> bool:
    """Return whether ``value`` is a JRD (RFC 7033 §10.2) or plain JSON media type."""
    return _media_type(value)[0] in _JRD_TYPES


def _origin(url: yarl.URL) -> tuple[str, str]:
    return url.scheme.lower(), host_of(str(url))


class FederationClient:
    """Fetches and delivers ActivityPub documents through an injected ``ClientSession``.

    ``trusted_hosts`` matters only for IP-literal hosts (``https://10.1.2.3/``): aiohttp
    dials those without asking the resolver, so the client refuses non-global literals
    unless this callable (the resolver's trusted set) accepts the host.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        policy: HostPolicy,
        allow_http: bool = False,
        timeout: float = 10.0,
        max_response_bytes: int = 2 * 1024 * 1024,
        max_redirects: int = 2,
        user_agent: str = "Kantine/0.1",
        trusted_hosts: Callable[[str], bool] | None = None,
    ) -> None:
        if max_redirects < 0 or max_response_bytes < 1 or timeout <= 0:
            raise ValueError("max_redirects, max_response_bytes and timeout must be positive")
        self._session = session
        self._policy = policy
        self._allow_http = allow_http
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._trusted = trusted_hosts if trusted_hosts is not None else (lambda _host: False)

    async def fetch_json(
        self, url: str, *, signer: Signer | None = None, accept: str = AS2_ACCEPT
    ) -> dict[str, Any]:
        """GET an AS2 document; its ``id`` must share the final URL's origin (SECURITY row 3)."""
        final, document = await self._fetch(
            url, accept=accept, signer=signer, content_type_ok=is_as2_content_type
        )
        document_id = document.get("id")
        if not isinstance(document_id, str):
            raise _logged(FetchError("document has no id", url=url))
        try:
            same_origin = _origin(yarl.URL(document_id)) == _origin(final)
        except ValueError:
            same_origin = False
        if not same_origin:
            raise _logged(FetchError("document id is not on the origin it came from", url=url))
        return document

    async def fetch_api_json(self, url: str, *, signer: Signer | None = None) -> dict[str, Any]:
        """GET a peer's JSON API answer (a JSON object, no AS2 ``id``), signed when asked."""
        _final, document = await self._fetch(
            url, accept="application/json", signer=signer, content_type_ok=_is_jrd_content_type
        )
        return document

    async def fetch_jrd(self, url: str) -> dict[str, Any]:
        """GET a WebFinger JRD (RFC 7033 §4) or NodeInfo document; JSON types allowed, no id."""
        _final, document = await self._fetch(
            url, accept=JRD_ACCEPT, signer=None, content_type_ok=_is_jrd_content_type
        )
        return document

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        signer: Signer,
        content_type: str = "application/activity+json",
    ) -> Response:
        """POST ``body`` signed with a ``Digest`` (PROTOCOL S3); redirects are not followed.

        Any HTTP status is returned for the caller to classify (PROTOCOL A28); only network
        errors and timeouts raise ``FetchError(status=None)``.  The response body is
        truncated at ``max_response_bytes``: a delivery's answer is advisory.
        """
        try:
            target = self._check_url(url)
            headers = {
                "Accept": AS2_ACCEPT,
                "Content-Type": content_type,
                "User-Agent": self._user_agent,
                **sign_request(
                    method="POST",
                    url=str(target),
                    key_id=signer.key_id,
                    private_key=signer.private_key,
                    body=body,
                ),
            }
            async with asyncio.timeout(self._timeout):
                async with self._session.post(
                    target, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    data = await self._read(resp, url=url, truncate=True)
                    return Response(resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), data)
        except (FetchError, TimeoutError, aiohttp.ClientError) as exc:
            error = _failure(exc, url=url)
            if error is exc:
                raise
            raise error from exc

    def _check_url(self, url: str | yarl.URL) -> yarl.URL:
        """Return ``url`` without its fragment if we may contact it, else raise; no I/O."""
        try:
            parsed = yarl.URL(url)
        except (ValueError, TypeError) as exc:
            raise FetchError("not a URL", url=str(url)) from exc
        if parsed.scheme != "https" and not (self._allow_http and parsed.scheme == "http"):
            raise FetchError(f"scheme {parsed.scheme!r} not allowed", url=str(url))
        try:
            host = host_of(str(parsed))
        except ValueError as exc:
            raise FetchError("not an absolute URL", url=str(url)) from exc
        if parsed.user or parsed.password:
            raise FetchError("credentials in URL refused", url=str(url))
        if not self._policy.allows(host):
            raise HostNotAllowedError("host not allowed by policy", url=str(url))
        literal = literal_address(parsed.raw_host or "")
        if literal is not None:
            address, canonical = literal
            if not canonical:
                raise HostNotAllowedError("non-canonical IP literal refused", url=str(url))
            if not address_allowed(address) and not self._trusted(host):
                raise HostNotAllowedError("non-public IP address refused", url=str(url))
        # The fragment is never sent; dropping it keeps the signed (request-target) exact.
        return parsed.with_fragment(None)

    async def _fetch(
        self,
        url: str,
        *,
        accept: str,
        signer: Signer | None,
        content_type_ok: Callable[[str], bool],
    ) -> tuple[yarl.URL, dict[str, Any]]:
        """Follow at most ``max_redirects`` same-host redirects; return final URL and JSON."""
        try:
            current = self._check_url(url)
            async with asyncio.timeout(self._timeout):
                for hop in range(self._max_redirects + 1):
                    headers = {"Accept": accept, "User-Agent": self._user_agent}
                    if signer is not None:
                        # PROTOCOL S3: a GET signs (request-target) host date; each hop anew.
                        headers.update(
                            sign_request(
                                method="GET",
                                url=str(current),
                                key_id=signer.key_id,
                                private_key=signer.private_key,
                            )
                        )
                    async with self._session.get(
                        current, headers=headers, allow_redirects=False
                    ) as resp:
                        if resp.status in _REDIRECTS:
                            current = self._next_hop(current, resp, hop=hop, url=url)
                            continue
                        if not 200 <= resp.status < 300:
                            raise FetchError(f"HTTP {resp.status}", url=url, status=resp.status)
                        content_type = resp.headers.get("Content-Type", "")
                        if not content_type_ok(content_type):
                            # Echo only a bounded prefix: the reason may be shown to a peer.
                            shown = content_type[:80]
                            raise FetchError(f"unexpected content type {shown!r}", url=url)
                        body = await self._read(resp, url=url, truncate=False)
                        return current, self._parse_object(body, url=url)
                raise AssertionError("unreachable: the last hop returns or raises")
        except (FetchError, TimeoutError, aiohttp.ClientError) as exc:
            error = _failure(exc, url=url)
            if error is exc:
                raise
            raise error from exc

    def _next_hop(
        self, current: yarl.URL, resp: aiohttp.ClientResponse, *, hop: int, url: str
    ) -> yarl.URL:
        """Return the redirect target after re-checking it (SECURITY rows 3 and 13)."""
        if hop >= self._max_redirects:
            raise FetchError("too many redirects", url=url, status=resp.status)
        location = resp.headers.get("Location")
        if not location:
            raise FetchError("redirect without Location", url=url, status=resp.status)
        try:
            target = current.join(yarl.URL(location))
        except ValueError as exc:
            raise FetchError("redirect to an invalid URL", url=url) from exc
        checked = self._check_url(target)
        if host_of(str(checked)) != host_of(str(current)):
            # A cross-host hop would let a peer aim our signed fetch at a third party.
            raise HostNotAllowedError("cross-host redirect refused", url=url)
        return checked

    async def _read(self, resp: aiohttp.ClientResponse, *, url: str, truncate: bool) -> bytes:
        """Read at most ``max_response_bytes``; beyond that raise, or cut when ``truncate``."""
        length = resp.content_length
        if not truncate and length is not None and length > self._max_bytes:
            raise FetchError("response too large", url=url, status=resp.status)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self._max_bytes:
                if truncate:
                    return bytes(body[: self._max_bytes])
                raise FetchError("response too large", url=url, status=resp.status)
        return bytes(body)

    @staticmethod
    def _parse_object(body: bytes, *, url: str) -> dict[str, Any]:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            # RecursionError: deeply nested arrays must not crash a worker (SECURITY row 17).
            raise FetchError("response is not valid JSON", url=url) from exc
        if not isinstance(document, dict):
            raise FetchError("response is not a JSON object", url=url)
        return document


def _logged(error: FetchError) -> FetchError:
    """Log one line per refused or failed request (host and reason only) and return it."""
    try:
        host = host_of(error.url)
    except ValueError:
        host = "?"
    log.info("request to %s failed: %s", host, error.reason)
    return error


def _failure(exc: Exception, *, url: str) -> FetchError:
    """Translate ``exc`` into the ``FetchError`` a caller sees (``url`` = what it asked for)."""
    if isinstance(exc, HostNotAllowedError):
        # The resolver knows only the host name; report the URL the caller asked for.
        error: FetchError = exc if exc.url == url else HostNotAllowedError(exc.reason, url=url)
    elif isinstance(exc, FetchError):
        error = exc
    elif isinstance(exc, TimeoutError):
        error = FetchError("timed out", url=url)
    else:
        error = FetchError(f"request failed: {type(exc).__name__}", url=url)
    return _logged(error)


def make_session(
    *,
    policy: HostPolicy,
    open_mode: bool,
    limit: int = 100,
    inner_resolver: aiohttp.abc.AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """Build a ``ClientSession`` whose connector dials only addresses ``GuardedResolver`` allows.

    In allowlist mode the policy's hosts are trusted on any address (intranet peers live on
    RFC 1918 space); in open mode nothing is, so every name must resolve to global
    addresses.  ``trust_env`` is off so a proxy from the environment cannot bypass the
    resolver, and cookies are never kept between peers.
    """

    def trusted(host: str) -> bool:
        return not open_mode and policy.allows(host)

    resolver = GuardedResolver(trusted_hosts=trusted, inner=inner_resolver)
    connector = aiohttp.TCPConnector(
        resolver=resolver,
        limit=limit,
        limit_per_host=max(1, min(limit, 16)),
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30, connect=10, sock_read=10),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        raise_for_status=False,
    )
