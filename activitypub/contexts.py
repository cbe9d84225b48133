"""Bundled JSON-LD contexts: never fetched, always read from the package (PROTOCOL.md J4 to J6).

We process documents as compacted JSON (J6), so contexts are needed only to *write*
documents peers accept (J4: Mastodon drops anything whose ``@context`` lacks the
Activity Streams URL) and, should we ever check Linked-Data signatures, to expand with
pinned copies (SECURITY.md row 6: a fetched context is an attack surface).

The files under ``activitypub/contexts/`` are copies of the published documents
(``https://www.w3.org/ns/activitystreams``, ``https://w3id.org/security/v1``,
``https://w3id.org/security/multikey/v1``) plus ``mastodon-extensions.json``, the
extension terms exactly as Mastodon's ``app/lib/activitypub/adapter.rb`` emits them (J5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from activitypub.errors import VocabularyError

__all__ = [
    "ACTIVITYSTREAMS",
    "MULTIKEY_V1",
    "SECURITY_V1",
    "default_context",
    "extension_terms",
    "load_context",
]

ACTIVITYSTREAMS = "https://www.w3.org/ns/activitystreams"
SECURITY_V1 = "https://w3id.org/security/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"

# Peers spell the same context several ways (http vs https, a ``.jsonld`` suffix); all
# of them name the same document, so all resolve to the same bundled file.
_BUNDLED = {
    ACTIVITYSTREAMS: "activitystreams.json",
    "http://www.w3.org/ns/activitystreams": "activitystreams.json",
    "https://www.w3.org/ns/activitystreams.jsonld": "activitystreams.json",
    SECURITY_V1: "security-v1.json",
    "http://w3id.org/security/v1": "security-v1.json",
    "https://w3id.org/security/v1.jsonld": "security-v1.json",
    MULTIKEY_V1: "multikey-v1.json",
}


def _read(filename: str) -> dict[str, Any]:
    text = resources.files("activitypub").joinpath("contexts", filename).read_text("utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def load_context(url: str) -> Mapping[str, Any]:
    """The bundled context document for ``url`` (a fresh copy); never touches the network.

    Raises :class:`VocabularyError` for a URL we do not bundle: a remote document that
    needs an unknown context is processed as plain compacted JSON instead (J6).
    """
    filename = _BUNDLED.get(url.rstrip("/"))
    if filename is None:
        raise VocabularyError(f"JSON-LD context not bundled: {url[:200]}")
    return _read(filename)


def extension_terms() -> dict[str, Any]:
    """Mastodon's extension term definitions (J5), as the trailing ``@context`` object."""
    terms = _read("mastodon-extensions.json")["@context"]
    assert isinstance(terms, dict)
    return terms


def default_context() -> list[str | dict[str, Any]]:
    """The ``@context`` we put on our own documents (J4: AS first, security, then terms).

    A new list on every call, so a caller may append to it safely.
    """
    return [ACTIVITYSTREAMS, SECURITY_V1, extension_terms()]
