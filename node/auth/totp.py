"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as authenticator apps do them.

Our own forty lines with :mod:`hmac` rather than a dependency: the algorithm is short, fixed
by the RFCs, and checked here against the RFC 6238 Appendix B vectors. Apps (Google
Authenticator, Aegis, FreeOTP, 1Password) read an ``otpauth://totp/`` URI with a base32
secret, SHA-1, six digits and a 30-second step; those are the only parameters we issue.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

__all__ = [
    "DIGITS",
    "STEP_SECONDS",
    "hotp",
    "matching_step",
    "new_secret",
    "otpauth_uri",
    "totp",
]

DIGITS = 6
STEP_SECONDS = 30
#: RFC 4226 §4 R6 asks for at least 128 bits; 160 bits is what RFC 6238 uses for SHA-1.
_SECRET_BYTES = 20


def new_secret() -> str:
    """A fresh random secret in unpadded base32 (what apps expect to be typed in)."""
    return base64.b32encode(secrets.token_bytes(_SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """The HOTP value of *counter* (RFC 4226 §5.3: HMAC, dynamic truncation, modulo)."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def totp(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows for *secret* at time *at* (RFC 6238 §4)."""
    now = time.time() if at is None else at
    return hotp(_key(secret), int(now // STEP_SECONDS))


def matching_step(
    secret: str, code: str, *, at: float | None = None, window: int = 1, after: int | None = None
) -> int | None:
    """The time step whose code is *code*, within ±*window* steps of *at*, or None.

    RFC 6238 §5.2 allows one step of clock drift either way. A step at or before *after* (the
    last one used) never matches, so an observed code cannot be replayed (§5.2: "the verifier
    MUST NOT accept the second attempt of the same OTP").
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    key = _key(secret)
    now = time.time() if at is None else at
    current = int(now // STEP_SECONDS)
    found: int | None = None
    for step in range(current - window, current + window + 1):
        # Compare every candidate (constant work whichever matches).
        if hmac.compare_digest(hotp(key, step), code) and (after is None or step > after):
            found = step
    return found


def otpauth_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps scan (Google's Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
