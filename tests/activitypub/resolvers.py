"""A DNS resolver under test control: every name resolves to fixed addresses."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["FixedResolver"]


class FixedResolver(AbstractResolver):
    """Answers every name with ``addresses`` (loopback by default) and records the names asked.

    Lets named peers (``a.test``) run on loopback, and plays an attacker's DNS server in the
    SSRF tests.
    """

    def __init__(self, addresses: Sequence[str] = ("127.0.0.1",)) -> None:
        self.addresses = list(addresses)
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        return None
