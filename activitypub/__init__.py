"""ActivityPub as a library: signatures, vocabulary, discovery, sanitising, a guarded client.

No database, no HTML pages, no settings: I/O only through an injected
``aiohttp.ClientSession``, time only through ``now`` arguments.
"""

from activitypub.errors import (
    ActivityPubError,
    FetchError,
    HostNotAllowedError,
    SignatureError,
    VocabularyError,
)

__all__ = [
    "ActivityPubError",
    "FetchError",
    "HostNotAllowedError",
    "SignatureError",
    "VocabularyError",
]
