"""Which hosts we may talk to, and which addresses we may dial (SECURITY.md rows 9 and 13).

Two separate questions, answered in two places:

* *Host policy* (``HostPolicy``): is this federation peer allowed at all?  An intranet
  runs an exact-host allowlist; an internet-facing node runs "open" with a denylist.
* *Address guard* (``GuardedResolver``): of the addresses a name resolves to, which may
  the connector dial?  In open mode only globally routable ones
  (``ipaddress.ip_address(x).is_global`` after unwrapping IPv4-mapped, 6to4, Teredo and
  NAT64 forms), unless the host is explicitly trusted (an allowlisted peer on an RFC 1918
  address).  The check sits inside aiohttp's resolver, so the connector only ever dials
  addresses that were checked: there is no second DNS lookup to rebind (Mastodon
  CVE-2026-22245 and CVE-2026-46348, Lemmy CVE-2026-33693, Fedify CVE-2026-50131).

aiohttp's connector never calls the resolver for a host that is already an IP literal,
so ``literal_address`` and ``address_allowed`` are public for the client to apply the
same rule to literal hosts before any I/O.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from activitypub.errors import HostNotAllowedError

__all__ = [
    "GuardedResolver",
    "HostPolicy",
    "StaticHostPolicy",
    "address_allowed",
    "host_of",
    "literal_address",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 well-known prefix (RFC 6052 §2.1): the last 32 bits are an IPv4 address that a
# NAT64 gateway would dial for us, so they must pass the same check.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class HostPolicy(Protocol):
    """Decides whether a federation peer may be contacted at all."""

    def allows(self, host: str) -> bool:
        """Return whether ``host`` (lower-case, ``host`` or ``host:port``) may be contacted."""
        ...


@dataclass(frozen=True)
class StaticHostPolicy:
    """A fixed allowlist or open-with-denylist policy, for tests and simple deployments.

    Allow entries match exactly: ``hr.example.org`` covers the scheme's default port only,
    ``hr.example.org:8443`` that port only, so a peer's listing never opens its other
    services.  Deny entries are broader on purpose: a bare host denies every port.
    Entries are compared with ``host_of`` output: lower-case, IDNA (``xn--``) form.
    """

    mode: Literal["allowlist", "open"]
    allow: frozenset[str]
    deny: frozenset[str] = frozenset()

    def allows(self, host: str) -> bool:
        """Return whether ``host`` may be contacted under this policy."""
        host = host.lower()
        if host in self.deny or _strip_port(host) in self.deny:
            return False
        if self.mode == "open":
            return True
        return host in self.allow


def _strip_port(host: str) -> str:
    """Return ``host`` without a trailing ``:port`` (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


#: ``http(s)://`` + an ASCII host name or IPv4 address + an optional port, then a path,
#: query or fragment of printable ASCII: the shape of nearly every id an inbox sees.
_PLAIN_URL = re.compile(r"(https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?)[/?#][!-~]*\Z")


def host_of(url: str) -> str:
    """Return the lower-case authority ``host[:port]`` of ``url``, port only if non-default.

    IDNA names come back in their ``xn--`` form and IPv6 literals in brackets, so the
    string is what a policy list and the ``Host`` header (RFC 9110 §7.2) use.

    Cached (a pure function; errors are not cached): an inbox asks for the hosts of the
    same actors, key ids and base URL with every activity, and parsing a URL with yarl
    costs ~5 µs. For a plain URL only ``scheme://authority`` decides the answer (yarl
    reads the host and port from the authority and quotes the rest without failing), so
    it is cached by that prefix: every activity and object id is new, its host is not.
    """
    plain = _PLAIN_URL.match(url)
    if plain is not None:
        with contextlib.suppress(ValueError):  # a refusal is explained with the whole URL
            return _host_of(plain.group(1))
    return _host_of(url)


@functools.lru_cache(maxsize=2048)
def _host_of(url: str) -> str:
    parsed = yarl.URL(url)
    if not parsed.absolute or not parsed.host:
        raise ValueError(f"not an absolute URL with a host: {url!r}")
    authority = parsed.host_port_subcomponent
    if authority is None:
        raise ValueError(f"not an absolute URL with a host: {url!r}")
    return authority.lower()


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton(3) forms (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``).

    Browsers and libc map these onto addresses, so a denylist that only sees the raw
    string is bypassed (aiohttp ≥ 3.14 refuses them too; we refuse them first, and
    explicitly).
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part[2:], 16) if len(part) > 2 else 0)
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            elif part.isascii() and part.isdigit():
                values.append(int(part, 10))
            else:
                return None
        except ValueError:
            return None
    # The last part fills every remaining byte: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> tuple[IPAddress, bool] | None:
    """Return ``(address, canonical)`` if ``host`` (no port, brackets optional) is an IP literal.

    ``canonical`` is False for the legacy numeric IPv4 forms, which callers should refuse
    outright whatever the address: different libraries read them differently.
    """
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare), True
    except ValueError:
        pass
    legacy = _legacy_ipv4(bare)
    return (legacy, False) if legacy is not None else None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address a 6to4, Teredo or NAT64 IPv6 address would reach, if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: str | IPAddress) -> bool:
    """Return whether ``address`` is globally routable and unicast, hence safe to dial.

    Uses the standard library's IANA special-purpose tables (``is_global``) instead of a
    hand-made denylist: hand-made lists missed ``0.0.0.0``, ``::`` and 100.64/10 in the
    advisories this module exists for.
    """
    try:
        parsed = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    candidates: list[IPAddress] = [parsed]
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is dialled as a.b.c.d; Python < 3.13 calls every mapped address
        # non-global, so judge the IPv4 address alone.
        candidates = [parsed.ipv4_mapped]
    embedded = _embedded_ipv4(parsed)
    if embedded is not None:
        candidates.append(embedded)
    return all(a.is_global and not a.is_multicast for a in candidates)


class GuardedResolver(AbstractResolver):
    """Resolves names and returns only addresses that may be dialled.

    In open mode only ``is_global`` addresses survive (IPv4-mapped and other embedded
    IPv4 forms are unwrapped first) unless ``trusted_hosts`` accepts the host, because
    allowlisted peers may live on RFC 1918 or loopback addresses inside an organisation.
    If nothing survives, ``HostNotAllowedError`` is raised so the caller learns why.
    No second DNS lookup happens elsewhere, so a rebinding name cannot swap addresses
    between the check and the connect.
    """

    def __init__(
        self,
        *,
        trusted_hosts: Callable[[str], bool],
        inner: AbstractResolver | None = None,
    ) -> None:
        self._trusted = trusted_hosts
        self._inner = inner if inner is not None else DefaultResolver()

    def is_trusted(self, host: str, port: int) -> bool:
        """Return whether ``host`` (or ``host:port``) is an explicitly trusted peer."""
        host = host.lower().rstrip(".")
        return self._trusted(host) or self._trusted(f"{host}:{port}")

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` with the inner resolver and drop every address we may not dial."""
        literal = literal_address(host)
        if literal is not None and not literal[1]:
            raise HostNotAllowedError("non-canonical IP literal refused", url=host)
        results = await self._inner.resolve(host, port, family)
        if self.is_trusted(host, port):
            return results
        allowed = [r for r in results if address_allowed(r["host"])]
        if not allowed:
            # One line per federation decision; addresses are not secrets, but we log only
            # the name to keep internal topology out of shared logs.
            log.warning("refused %s: resolves only to non-global addresses", host)
            raise HostNotAllowedError("host resolves to a non-public address", url=host)
        if len(allowed) != len(results):
            log.info("dropped non-global addresses of %s", host)
        return allowed

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()
