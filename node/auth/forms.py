"""Signed, short-lived values for the login form: CSRF cookie and login ticket (ASVS 4.2.2).

The authorization page (PROTOCOL.md C10) keeps no server-side session. Its state travels in
values signed with HMAC-SHA256 under a key derived from the node's instance key, so every
worker process of a node accepts what another one signed. Each value names its purpose, so
a cookie can never be replayed as a ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

__all__ = ["FormSigner"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FormSigner:
    """Signs and checks small JSON values with an expiry."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def derive(cls, secret_material: str) -> FormSigner:
        """A signer whose key is derived from *secret_material* (the instance private key)."""
        return cls(hmac.new(secret_material.encode(), b"kantine/oauth-form/v1", "sha256").digest())

    @staticmethod
    def nonce() -> str:
        """A fresh random value (256 bits; ASVS 3.2.2)."""
        return secrets.token_urlsafe(32)

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\0{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, data: dict[str, Any], *, ttl: float) -> str:
        """*data* with an expiry, signed for *purpose*."""
        body = _b64(json.dumps({**data, "exp": time.time() + ttl}).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def load(self, purpose: str, value: str) -> dict[str, Any] | None:
        """The data of a value signed for *purpose*, or None if forged, altered or expired."""
        body, _, mac = value.partition(".")
        if not body or not mac or len(value) > 4096:
            return None
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), float | int):
            return None
        if data["exp"] < time.time():
            return None
        return data

    def token_for(self, purpose: str, nonce: str) -> str:
        """A token derived from *nonce*: the form carries it, the cookie carries the nonce."""
        return self._mac(purpose, nonce)

    def matches(self, purpose: str, nonce: str, token: str) -> bool:
        """Whether *token* was derived from *nonce* (constant time)."""
        return bool(token) and hmac.compare_digest(token, self.token_for(purpose, nonce))
