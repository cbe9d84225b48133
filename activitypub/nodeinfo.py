"""NodeInfo discovery and documents (jhass/nodeinfo PROTOCOL.md, schemas 2.0 and 2.1) and host-meta.

PROTOCOL.md D8-D12: ``/.well-known/nodeinfo`` lists both schema versions, the documents
validate against the published JSON schemas, and ``/.well-known/host-meta`` (RFC 6415 §3)
points legacy software at WebFinger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal
from xml.sax.saxutils import quoteattr

__all__ = [
    "HOST_META_CONTENT_TYPE",
    "NODEINFO_CONTENT_TYPE",
    "NODEINFO_VERSIONS",
    "host_meta_xml",
    "nodeinfo_content_type",
    "nodeinfo_document",
    "nodeinfo_links",
    "schema_url",
]

NodeInfoVersion = Literal["2.0", "2.1"]

NODEINFO_VERSIONS: Final[tuple[NodeInfoVersion, ...]] = ("2.0", "2.1")
HOST_META_CONTENT_TYPE: Final = "application/xrd+xml; charset=utf-8"

# The schema's own constraint on software.name; clients feature-switch on it (D12).
_SOFTWARE_NAME = re.compile(r"[a-z0-9-]+")


def schema_url(version: NodeInfoVersion) -> str:
    """Return the schema URI that is both the ``rel`` of a discovery link and the profile."""
    return f"http://nodeinfo.diaspora.software/ns/schema/{version}"


def nodeinfo_content_type(version: NodeInfoVersion) -> str:
    """Return the ``Content-Type`` for a NodeInfo document of ``version`` (D11)."""
    return f'application/json; profile="{schema_url(version)}#"'


#: Alias with the name the design brief uses; prefer ``nodeinfo_content_type``.
NODEINFO_CONTENT_TYPE: Final = nodeinfo_content_type


def nodeinfo_links(base_url: str) -> dict[str, Any]:
    """Return the ``/.well-known/nodeinfo`` discovery document (D9), 2.0 first.

    2.0 must stay at exactly ``/nodeinfo/2.0``: Elk requests that path directly (D10).
    """
    base = base_url.rstrip("/")
    return {
        "links": [
            {"rel": schema_url(version), "href": f"{base}/nodeinfo/{version}"}
            for version in NODEINFO_VERSIONS
        ]
    }


def nodeinfo_document(
    version: NodeInfoVersion,
    *,
    software_name: str,
    software_version: str,
    open_registrations: bool,
    total_users: int,
    active_month: int,
    active_halfyear: int,
    local_posts: int,
    metadata: Mapping[str, Any],
    repository: str | None = None,
    homepage: str | None = None,
) -> dict[str, Any]:
    """Return a NodeInfo document valid against the ``version`` schema (D11).

    ``repository`` and ``homepage`` exist only in 2.1; the 2.0 schema forbids extra
    ``software`` keys, so they are left out there.  Raises ``ValueError`` for values the
    schema would reject (name pattern, negative counts).
    """
    if version not in NODEINFO_VERSIONS:
        raise ValueError(f"unsupported NodeInfo version {version!r}")
    if _SOFTWARE_NAME.fullmatch(software_name) is None:
        raise ValueError("software_name must match ^[a-z0-9-]+$ (NodeInfo schema)")
    counts = {
        "total_users": total_users,
        "active_month": active_month,
        "active_halfyear": active_halfyear,
        "local_posts": local_posts,
    }
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    software: dict[str, str] = {"name": software_name, "version": software_version}
    if version == "2.1":
        if repository is not None:
            software["repository"] = repository
        if homepage is not None:
            software["homepage"] = homepage
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": open_registrations,
        "usage": {
            "users": {
                "total": total_users,
                "activeHalfyear": active_halfyear,
                "activeMonth": active_month,
            },
            "localPosts": local_posts,
        },
        "metadata": dict(metadata),
    }


def host_meta_xml(base_url: str) -> str:
    """Return the ``/.well-known/host-meta`` XRD (RFC 6415 §3, D8) with the WebFinger LRDD link."""
    template = f"{base_url.rstrip('/')}/.well-known/webfinger?resource={{uri}}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={quoteattr(template)}/>\n'
        "</XRD>\n"
    )
