"""TOTP (RFC 6238) against the RFC's own test vectors, and the replay and drift rules."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from node.auth.totp import STEP_SECONDS, hotp, matching_step, new_secret, otpauth_uri, totp

#: RFC 6238 Appendix B, SHA-1 column (the secret is the ASCII "12345678901234567890").
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
#: RFC 4226 Appendix D: HOTP values of counters 0–9 for the same secret.
RFC4226 = [
    "755224", "287082", "359152", "969429", "338314",
    "254676", "287922", "162583", "399871", "520489",
]  # fmt: skip


@pytest.mark.parametrize(("at", "expected"), RFC6238_SHA1)
def test_rfc6238_vectors(at: int, expected: str) -> None:
    assert hotp(b"12345678901234567890", at // 30, digits=8) == expected


def test_rfc4226_vectors() -> None:
    assert [hotp(b"12345678901234567890", c) for c in range(10)] == RFC4226


def test_totp_of_base32_secret_is_last_six_digits() -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert totp(secret, at=59) == "287082"
    assert totp(secret.lower(), at=1111111109) == "081804"


def test_one_step_of_drift_either_way_and_no_more() -> None:
    secret = new_secret()
    now = 1_800_000_000.0
    step = int(now // STEP_SECONDS)
    for delta in (-1, 0, 1):
        code = totp(secret, at=now + delta * STEP_SECONDS)
        assert matching_step(secret, code, at=now) == step + delta
    assert matching_step(secret, totp(secret, at=now - 2 * STEP_SECONDS), at=now) is None
    assert matching_step(secret, totp(secret, at=now + 2 * STEP_SECONDS), at=now) is None


def test_a_used_step_is_not_accepted_again() -> None:
    secret = new_secret()
    now = 1_800_000_000.0
    code = totp(secret, at=now)
    step = matching_step(secret, code, at=now)
    assert step is not None
    assert matching_step(secret, code, at=now, after=step) is None
    assert matching_step(secret, totp(secret, at=now + 30), at=now, after=step) == step + 1


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "12 34 5x", "٣٣٣٣٣٣"])
def test_malformed_codes_never_match(bad: str) -> None:
    assert matching_step(new_secret(), bad) is None


def test_otpauth_uri_has_what_apps_read() -> None:
    uri = otpauth_uri("ABCDEF234567", account="alice@finance.example", issuer="Finance")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Finance:alice@finance.example"
    query = parse_qs(parts.query)
    assert query["secret"] == ["ABCDEF234567"]
    assert query["issuer"] == ["Finance"]
    assert query["digits"] == ["6"] and query["period"] == ["30"]


def test_secrets_are_160_bits_of_base32() -> None:
    secret = new_secret()
    assert len(secret) == 32 and secret.isalnum() and secret.upper() == secret
    assert new_secret() != secret
