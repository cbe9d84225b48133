"""Which peers this node talks to: the settings' allow/deny lists plus the admin's CLI decisions."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from config import FederationSettings
from node.db.engine import AsyncSession, Sessions
from node.db.models import Peer

__all__ = ["FederationPolicy", "PeerDecision", "list_peers", "parse_host", "set_peer"]

log = logging.getLogger(__name__)


def _matches(host: str, entries: frozenset[str]) -> bool:
    # An entry without a port allows that host on any port; one with a port only that port.
    host = host.lower()
    return host in entries or host.rsplit(":", 1)[0] in entries


@dataclass
class FederationPolicy:
    """The node's federation policy; ``allows`` is what every ingress and egress path asks.

    In ``allowlist`` mode (the default) only listed hosts are allowed; in ``open`` mode
    everyone but denied hosts.  Decisions made with ``kantine federation allow|deny`` live in
    the ``peers`` table and are re-read by :meth:`refresh` (the app does so every few seconds).
    """

    mode: str
    own_host: str
    config_allow: frozenset[str]
    config_deny: frozenset[str]
    db_allow: frozenset[str] = field(default=frozenset())
    db_deny: frozenset[str] = field(default=frozenset())

    @classmethod
    def from_settings(cls, settings: FederationSettings, *, own_host: str) -> FederationPolicy:
        """The policy as the settings file states it, before the database is read."""
        return cls(
            mode=settings.mode,
            own_host=own_host.lower(),
            config_allow=frozenset(settings.allow),
            config_deny=frozenset(settings.deny),
        )

    def allows(self, host: str) -> bool:
        """Whether this node may exchange activities with *host* (``host`` or ``host:port``)."""
        host = host.lower()
        if _matches(host, self.config_deny | self.db_deny):
            return False
        if self.mode == "open":
            return True
        return _matches(host, self.config_allow | self.db_allow)

    async def refresh(self, sessions: Sessions) -> None:
        """Re-read the admin's decisions from the database."""
        async with sessions() as session:
            rows = (await session.execute(select(Peer.host, Peer.state))).all()
        self.db_allow = frozenset(h for h, s in rows if s == "allowed")
        self.db_deny = frozenset(h for h, s in rows if s == "denied")


@dataclass(frozen=True)
class PeerDecision:
    """One row of ``kantine federation list``."""

    host: str
    state: str
    source: str


def parse_host(text: str) -> str:
    """A peer host as the admin typed it (``hr.example.org``, ``127.0.0.3:8001``, or a pasted URL).

    ``ValueError`` names what is wrong; the CLI and the admin pages share this check.
    """
    text = text.strip()
    if "://" in text:
        try:
            text = urlsplit(text).netloc
        except ValueError:
            raise ValueError(f"not a host name: {text!r} (expected e.g. hr.example.org)") from None
    host = text.strip("/").lower()
    if not host or len(host) > 255 or any(c in host for c in "/ @?#\\") or not host.isprintable():
        raise ValueError(f"not a host name: {text!r} (expected e.g. hr.example.org)")
    return host


async def set_peer(session: AsyncSession, host: str, state: str | None) -> None:
    """Record an admin's decision (``allowed``/``denied``), or forget it with ``None``."""
    host = host.strip().lower()
    if not host or "/" in host or " " in host:
        raise ValueError(f"not a host name: {host!r}")
    await session.execute(delete(Peer).where(Peer.host == host))
    if state is not None:
        session.add(Peer(host=host, state=state))
    log.info("federation policy: %s is now %s", host, state or "unlisted")


async def list_peers(session: AsyncSession, settings: FederationSettings) -> list[PeerDecision]:
    """Every host the settings or the admin named, with where the decision comes from."""
    rows: Iterable[tuple[str, str]] = (await session.execute(select(Peer.host, Peer.state))).all()
    out = [PeerDecision(h, "allowed", "config") for h in settings.allow]
    out += [PeerDecision(h, "denied", "config") for h in settings.deny]
    out += [PeerDecision(h, s, "cli") for h, s in rows]
    return sorted(out, key=lambda p: (p.host, p.source))
