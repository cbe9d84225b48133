"""WebFinger (RFC 7033 §4) with the Mastodon profile: parse resources, build JRDs, resolve handles.

PROTOCOL.md D3-D5: a resource is ``acct:alice@host`` (RFC 7565), ``alice@host`` or
``@alice@host``; the JRD's ``self`` link of type ``application/activity+json`` (or
``application/ld+json`` with the AS2 profile) names the actor.
"""

from __future__ import annotations

import re
from typing import Any

import yarl

from activitypub.client import FederationClient, is_as2_content_type
from activitypub.errors import FetchError
from activitypub.hosts import host_of

__all__ = [
    "PROFILE_PAGE_REL",
    "SUBSCRIBE_REL",
    "build_jrd",
    "parse_handle",
    "parse_resource",
    "resolve_handle",
    "webfinger_url",
]

PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"

# Local usernames are [a-z0-9_] (D6); remote ones may also hold inner '.' and '-', and
# any case, since lookups are case-insensitive and ``subject`` carries the canonical case.
_USERNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def _normalise_host(host: str, *, original: str) -> str:
    """Return ``host`` (with optional port) lower-cased and IDNA-encoded, or raise ValueError."""
    if not host or any(c in host for c in "/?#@\\ "):
        raise ValueError(f"invalid host in {original!r}")
    try:
        return host_of(f"https://{host}/")
    except ValueError as exc:
        raise ValueError(f"invalid host in {original!r}") from exc


def parse_handle(handle: str) -> tuple[str, str]:
    """Split ``alice@host`` or ``@alice@host`` into ``(username, host)``; raise ValueError."""
    text = handle.strip()
    bare = text[1:] if text.startswith("@") else text
    username, at, host = bare.rpartition("@")
    if not at or not username:
        raise ValueError(f"expected user@host, got {handle!r}")
    if _USERNAME.fullmatch(username) is None:
        raise ValueError(f"invalid username in {handle!r}")
    return username, _normalise_host(host, original=handle)


def parse_resource(resource: str) -> tuple[str, str]:
    """Parse a WebFinger ``resource`` (D3) of the ``acct:`` or handle forms into (user, host).

    ``acct:`` is matched case-insensitively (RFC 3986 §3.1).  URL resources
    (``https://host/users/alice``) are not handled here: the server maps them onto its own
    routes, so they raise ``ValueError`` like any other malformed resource.
    """
    text = resource.strip()
    if text[:5].lower() == "acct:":
        return parse_handle(text[5:])
    if "://" in text:
        raise ValueError("URL resources must be resolved against the server's own routes")
    return parse_handle(text)


def build_jrd(
    *,
    username: str,
    domain: str,
    actor_url: str,
    profile_url: str,
    subscribe_template: str | None = None,
) -> dict[str, Any]:
    """Return the JRD (RFC 7033 §4.4) for a local account, in Mastodon's shape (D4)."""
    links: list[dict[str, str]] = [
        {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url},
        {"rel": "self", "type": "application/activity+json", "href": actor_url},
    ]
    if subscribe_template is not None:
        links.append({"rel": SUBSCRIBE_REL, "template": subscribe_template})
    return {
        "subject": f"acct:{username}@{domain}",
        "aliases": [profile_url, actor_url],
        "links": links,
    }


def webfinger_url(username: str, host: str, *, allow_http: bool = False) -> str:
    """Return the RFC 7033 §4 query URL for ``acct:username@host``."""
    return str(
        yarl.URL.build(
            scheme="http" if allow_http else "https",
            authority=host,
            path="/.well-known/webfinger",
            query={"resource": f"acct:{username}@{host}"},
        )
    )


def _self_link(jrd: dict[str, Any]) -> str | None:
    """Return the ``href`` of the first AS2-typed ``rel=self`` link (D4 both spellings)."""
    links = jrd.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        link_type, href = link.get("type"), link.get("href")
        if isinstance(link_type, str) and is_as2_content_type(link_type) and isinstance(href, str):
            return href
    return None


async def resolve_handle(client: FederationClient, handle: str, *, allow_http: bool = False) -> str:
    """Resolve ``alice@host`` or ``@alice@host`` to the actor id its host announces (D4).

    The caller still fetches the actor and checks the round trip (D5); this returns only
    what the JRD claims.  Raises ``FetchError`` (or ``HostNotAllowedError``) on failure.
    """
    try:
        username, host = parse_handle(handle)
    except ValueError as exc:
        raise FetchError(str(exc), url=handle) from exc
    url = webfinger_url(username, host, allow_http=allow_http)
    jrd = await client.fetch_jrd(url)
    href = _self_link(jrd)
    if href is None:
        raise FetchError("WebFinger response has no ActivityPub self link", url=url)
    try:
        parsed = yarl.URL(href)
    except ValueError as exc:
        raise FetchError("WebFinger self link is not a URL", url=url) from exc
    schemes = {"https", "http"} if allow_http else {"https"}
    if not parsed.absolute or parsed.scheme not in schemes:
        raise FetchError("WebFinger self link is not an absolute https URL", url=url)
    return href
