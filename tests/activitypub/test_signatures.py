"""HTTP signatures (PROTOCOL.md §2, S1-S21) and actor keys: golden vectors, negatives, interop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from activitypub.keys import load_private_key
from activitypub.signatures import parse_signed_request, sign_request

VECTORS = Path(__file__).parent.parent / "vectors"
NOW = datetime(2023, 12, 20, 10, 0, tzinfo=UTC)
GOLDEN: dict[str, Any] = json.loads((VECTORS / "http-signatures.json").read_text())


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """Kantine's own fixed RSA-2048 test key (tests/vectors/kantine-test-rsa-2048.pem)."""
    return load_private_key((VECTORS / "kantine-test-rsa-2048.pem").read_text())


@pytest.mark.parametrize("name", ["cavage_get", "cavage_post"])
def test_sign_request_matches_openssl_golden_vector_s1_s4(
    key: rsa.RSAPrivateKey, name: str
) -> None:
    """S1-S4: our Signature equals the one openssl computed over the expected signing string."""
    case = GOLDEN[name]
    body = case["body"].encode() if "body" in case else None
    headers = sign_request(
        method=case["method"],
        url=case["url"],
        key_id=case["key_id"],
        private_key=key,
        body=body,
        now=NOW,
    )
    assert headers == case["headers"]
    signed = parse_signed_request(
        method=case["method"], url=case["url"], headers=headers, body=body, now=NOW
    )
    assert signed.bases[0].decode() == case["signing_string"]
    signed.verify(key.public_key())
