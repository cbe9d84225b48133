"""Settings schema, TOML loader and validation.

Every setting has a documented default; a wrong value raises :class:`SettingsError`
naming the key (``federation.mode``) and what was expected.  Environment variables
``KANTINE_<SECTION>_<KEY>`` override the file (``KANTINE_SERVER_PORT=8002``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

__all__ = [
    "DatabaseSettings",
    "DirectorySettings",
    "FederationSettings",
    "LoggingSettings",
    "MediaSettings",
    "NodeSettings",
    "RateLimitSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "settings_from_mapping",
]


class SettingsError(Exception):
    """A setting is missing, unknown or has the wrong type or value."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class NodeSettings:
    """What this node is: ``[node]``."""

    #: "department" (people and posts) or "directory" (the who-is-who).
    role: Literal["department", "directory"] = "department"
    #: The host name people and peers know the node by (``finance.example.org``).
    domain: str = "localhost"
    #: Public base URL; defaults to ``https://<domain>``.
    base_url: str = ""
    #: Human-readable name, shown in NodeInfo and on pages.
    name: str = "Kantine"
    description: str = ""
    #: Directory where keys, media and the SQLite database live (relative to the config file).
    data_dir: str = "var"
    #: Entries kept in each person's home feed (fan-out on write); older pages of the home
    #: timeline are read from the followed people's posts. 0 keeps every entry.
    home_feed_size: int = 800


@dataclass(frozen=True)
class ServerSettings:
    """Where ``kantine serve`` listens: ``[server]``."""

    host: str = "127.0.0.1"
    port: int = 8001
    #: Number of web processes sharing the port (SO_REUSEPORT); 1 is enough for most departments.
    workers: int = 1
    #: Inbox and outbox request bodies larger than this are refused with 413.
    max_body_bytes: int = 1024 * 1024
    #: Where received activities are applied (parsed, sanitised, stored, fanned out): "serve"
    #: in every web process, or "worker" only in a ``kantine worker`` process run beside
    #: ``kantine serve``, which gives that work a core of its own on a busy inbox.
    inbox_worker: Literal["serve", "worker"] = "serve"


@dataclass(frozen=True)
class DatabaseSettings:
    """``[database]``: SQLite (``sqlite+aiosqlite:///path``) or PostgreSQL (``postgresql+asyncpg://``)."""

    url: str = "sqlite+aiosqlite:///var/kantine.db"
    pool_size: int = 10
    echo: bool = False


@dataclass(frozen=True)
class FederationSettings:
    """``[federation]``: who this node talks to and how hard it tries."""

    #: "allowlist" (default: only the hosts in ``allow`` and those added with the CLI) or "open".
    mode: Literal["allowlist", "open"] = "allowlist"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    #: Base URL of the organisation's directory node, if any.
    directory: str = ""
    #: Plain http to peers; only for the demo and tests on loopback.
    allow_http: bool = False
    #: How long deliveries to an allowlisted peer are retried before the admin is shown a failure.
    delivery_horizon_hours: float = 7 * 24
    #: Accepted clock skew for HTTP signatures (PROTOCOL.md S11: Mastodon's window is about an hour).
    signature_window_seconds: int = 3600
    #: Time-out for one outbound request, and the largest response body we read.
    request_timeout_seconds: float = 10.0
    max_response_bytes: int = 2 * 1024 * 1024
    #: Require signatures on GETs of posts and collections (authorized fetch).
    authorized_fetch: bool = True
    #: Concurrent outbound deliveries per worker process.
    delivery_concurrency: int = 32
    #: How many ancestors of a reply the node fetches to complete a thread.
    thread_fetch_depth: int = 8
    #: How long a worker holds a claimed inbox or delivery row; after a crash (kill -9)
    #: the rows it held are taken up again once this has passed.
    worker_lease_seconds: float = 60.0


@dataclass(frozen=True)
class MediaSettings:
    """``[media]``: uploaded pictures (posts, avatars, headers)."""

    #: Where uploaded files are kept; empty means ``<node.data_dir>/media``.
    directory: str = ""
    #: Larger uploads are refused with 413 (Mastodon's ``image_size_limit``: 16 MiB).
    max_bytes: int = 16 * 1024 * 1024
    #: Images with more pixels are refused with 422 before they are decoded (decompression
    #: bombs); Mastodon's ``image_matrix_limit`` is 7680 × 4320.
    max_pixels: int = 33_177_600
    #: Longest alt text, in characters.
    description_limit: int = 1500
    #: Uploads never attached to a post are deleted (row and files) after this many hours.
    unattached_hours: float = 24.0


@dataclass(frozen=True)
class RateLimitSettings:
    """``[rate_limits]``: Mastodon's API rate limits (``X-RateLimit-*`` headers, 429).

    Counted in memory per worker process: with ``server.workers > 1`` each worker counts on
    its own. A limit of 0 switches that limit off.
    """

    #: API requests per token (per client address without a token) in each window.
    api_requests: int = 300
    #: The API window, in seconds (Mastodon: 300 requests per 5 minutes).
    api_window_seconds: float = 300.0
    #: Media uploads per token in each media window (Mastodon: 30 per 30 minutes).
    media_uploads: int = 30
    #: The media window, in seconds.
    media_window_seconds: float = 1800.0


@dataclass(frozen=True)
class DirectorySettings:
    """``[directory]``: the who-is-who graph of a node with ``node.role = "directory"``."""

    #: Folder of the on-disk Oxigraph store (relative paths resolve against ``node.data_dir``).
    store_path: str = "directory-graph"
    #: A SPARQL query that runs longer than this is stopped and answered 503.
    sparql_timeout_seconds: float = 5.0
    #: At most this many result rows (or triples) per SPARQL answer.
    sparql_max_results: int = 10_000
    #: Worker processes that answer SPARQL queries (each one can be stopped on its own).
    sparql_workers: int = 1
    #: Longest text kept for one profile field (name, job title, …); longer is cut.
    max_field_chars: int = 300
    #: How long a person page keeps the recent posts it fetched from their node.
    posts_cache_seconds: float = 300.0


@dataclass(frozen=True)
class LoggingSettings:
    """``[logging]``."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True)
class Settings:
    """All settings of one node."""

    node: NodeSettings = field(default_factory=NodeSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    federation: FederationSettings = field(default_factory=FederationSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    #: Folder of the config file; relative paths are resolved against it.
    root: str = "."

    @property
    def base_url(self) -> str:
        """The node's public base URL without a trailing slash."""
        if self.node.base_url:
            return self.node.base_url.rstrip("/")
        return f"https://{self.node.domain}"

    @property
    def data_path(self) -> Path:
        """Absolute path of the data directory."""
        return (Path(self.root) / self.node.data_dir).resolve()

    @property
    def media_path(self) -> Path:
        """Absolute path of the media directory (``media.directory`` or ``<data_dir>/media``)."""
        if self.media.directory:
            return (Path(self.root) / self.media.directory).resolve()
        return self.data_path / "media"

    @property
    def directory_store_path(self) -> Path:
        """Absolute path of the directory's graph store."""
        return (self.data_path / self.directory.store_path).resolve()

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the config folder."""
        url = self.database.url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rest = url[len(prefix) :]
            if rest and rest != ":memory:":
                return prefix + str((Path(self.root) / rest).resolve())
        return url


_SECTIONS: dict[str, type[Any]] = {
    "node": NodeSettings,
    "server": ServerSettings,
    "database": DatabaseSettings,
    "federation": FederationSettings,
    "logging": LoggingSettings,
    "media": MediaSettings,
    "directory": DirectorySettings,
    "rate_limits": RateLimitSettings,
}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check *value* against the type *hint*, converting env strings where unambiguous."""
    origin = get_origin(hint)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            expected = ", ".join(repr(c) for c in choices)
            raise SettingsError(key, f"expected one of {expected}, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, str) and value.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return value.lower() in {"1", "true", "yes", "on"}
        if not isinstance(value, bool):
            raise SettingsError(key, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise SettingsError(key, f"expected a whole number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(key, f"expected a whole number, got {value!r}")
        if value < 0:
            raise SettingsError(key, f"expected a number ≥ 0, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise SettingsError(key, f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(key, f"expected a number, got {value!r}")
        if value < 0:
            raise SettingsError(key, f"expected a number ≥ 0, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError(key, f"expected a string, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise SettingsError(key, f"expected a list of strings, got {value!r}")
        return tuple(v.strip().lower() for v in value)
    raise SettingsError(key, f"unsupported setting type {hint!r}")  # pragma: no cover


def _build_section(name: str, cls: type[Any], raw: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise SettingsError(
                f"{name}.{key}", f"unknown setting (known: {', '.join(sorted(known))})"
            )
    values = {key: _coerce(f"{name}.{key}", value, hints[key]) for key, value in raw.items()}
    return cls(**values)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate(settings: Settings) -> None:
    node = settings.node
    if not node.domain or "/" in node.domain or " " in node.domain:
        raise SettingsError("node.domain", f"expected a host name, got {node.domain!r}")
    if node.base_url:
        parts = urlsplit(node.base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise SettingsError("node.base_url", f"expected an http(s) URL, got {node.base_url!r}")
        if parts.scheme == "http" and not settings.federation.allow_http:
            raise SettingsError(
                "node.base_url",
                "plain http needs federation.allow_http = true (loopback demo only)",
            )
    if settings.federation.allow_http and not _is_loopback(urlsplit(settings.base_url).hostname):
        raise SettingsError(
            "federation.allow_http",
            "plain http is only for a demo or tests on loopback; node.base_url must be "
            "http://127.x.x.x, http://[::1] or http://localhost",
        )
    if not 0 < settings.server.port < 65536:
        raise SettingsError("server.port", f"expected 1–65535, got {settings.server.port}")
    if not 0 <= node.home_feed_size <= 100_000:
        raise SettingsError("node.home_feed_size", "expected 0 (no cap) to 100000 entries")
    if settings.server.workers < 1:
        raise SettingsError("server.workers", "expected at least 1")
    if settings.server.max_body_bytes < 1024:
        raise SettingsError("server.max_body_bytes", "expected at least 1024")
    url = settings.database.url
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError(
            "database.url",
            f"expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://…, got {url!r}",
        )
    if settings.media.max_bytes < 1024:
        raise SettingsError("media.max_bytes", "expected at least 1024")
    if settings.media.max_pixels < 1:
        raise SettingsError("media.max_pixels", "expected at least 1")
    if settings.media.unattached_hours <= 0:
        raise SettingsError("media.unattached_hours", "expected more than 0 hours")
    for window in ("api_window_seconds", "media_window_seconds"):
        if getattr(settings.rate_limits, window) < 1:
            raise SettingsError(f"rate_limits.{window}", "expected at least 1 second")
    _validate_directory(settings.directory)
    if settings.node.role == "directory" and settings.server.workers != 1:
        # One process owns the on-disk graph store (RocksDB allows a single writer).
        raise SettingsError("server.workers", "a directory node runs with workers = 1")
    if settings.federation.directory:
        parts = urlsplit(settings.federation.directory)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise SettingsError("federation.directory", "expected the directory node's base URL")


def _validate_directory(directory: DirectorySettings) -> None:
    if not directory.store_path.strip():
        raise SettingsError("directory.store_path", "expected a folder name or path")
    if directory.sparql_timeout_seconds <= 0:
        raise SettingsError("directory.sparql_timeout_seconds", "expected a number > 0")
    if directory.sparql_max_results < 1:
        raise SettingsError("directory.sparql_max_results", "expected at least 1")
    if not 1 <= directory.sparql_workers <= 16:
        raise SettingsError("directory.sparql_workers", "expected 1–16")
    if directory.max_field_chars < 20:
        raise SettingsError("directory.max_field_chars", "expected at least 20")


def settings_from_mapping(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, root: str = "."
) -> Settings:
    """Build :class:`Settings` from a parsed TOML mapping plus ``KANTINE_*`` overrides."""
    merged: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key not in _SECTIONS:
            raise SettingsError(key, f"unknown section (known: {', '.join(_SECTIONS)})")
        if not isinstance(value, Mapping):
            raise SettingsError(key, "expected a table")
        merged[key] = dict(value)
    for name, value in (os.environ if env is None else env).items():
        if not name.startswith("KANTINE_") or name.startswith("KANTINE_TEST_"):
            continue
        rest = name[len("KANTINE_") :].lower()
        section, _, key = rest.partition("_")
        if section in _SECTIONS and key:
            merged.setdefault(section, {})[key] = value
    sections = {
        name: _build_section(name, cls, merged.get(name, {})) for name, cls in _SECTIONS.items()
    }
    settings = Settings(root=root, **sections)
    _validate(settings)
    return settings


def load_settings(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the TOML file at *path*."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError("config", f"file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("config", f"{file} is not valid TOML: {exc}") from None
    return settings_from_mapping(
        cast(Mapping[str, Any], data), env=env, root=str(file.parent.resolve())
    )
