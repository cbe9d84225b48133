"""Static files with fingerprinted URLs and a year of caching (issue 6; no CDN, no build step).

Every file under ``web/static`` is served at ``/static/<sha256 prefix>/<name>``; a changed
file gets a new URL, so the old one may be cached forever (``immutable``).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

__all__ = ["YEAR", "StaticFiles"]

_DIRECTORY = Path(__file__).resolve().parent / "static"
#: How long a fingerprinted file may be cached (seconds).
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class _File:
    fingerprint: str
    body: bytes
    content_type: str


class StaticFiles:
    """The static files, read once at start-up."""

    def __init__(self, files: dict[str, _File]) -> None:
        self._files = files

    @classmethod
    def scan(cls, directory: Path = _DIRECTORY) -> StaticFiles:
        files = {}
        for path in sorted(directory.rglob("*")):
            if not path.is_file():
                continue
            body = path.read_bytes()
            name = path.relative_to(directory).as_posix()
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            files[name] = _File(hashlib.sha256(body).hexdigest()[:16], body, content_type)
        return cls(files)

    def url(self, name: str) -> str:
        """The fingerprinted URL of static file *name* (a template global)."""
        return f"/static/{self._files[name].fingerprint}/{name}"

    def names(self) -> list[str]:
        """Every static file's name."""
        return list(self._files)

    def get(self, fingerprint: str, name: str) -> _File | None:
        """The file if *fingerprint* is its current one."""
        found = self._files.get(name)
        return found if found is not None and found.fingerprint == fingerprint else None
