"""Actor keys: PEM generation and loading, and FEP-521a Multikey (activitypub.keys)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from activitypub.errors import ActivityPubError
from activitypub.keys import (
    decode_multikey,
    encode_multikey,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_to_pem,
    public_key_to_pem,
)

VECTORS = Path(__file__).parent.parent / "vectors"
# Kantine's own fixed RSA-2048 test key; never used outside tests.
PUBLIC = load_private_key((VECTORS / "kantine-test-rsa-2048.pem").read_text()).public_key()
ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_generated_key_round_trips_through_pem() -> None:
    key = generate_private_key()
    assert key.key_size == 2048
    pem = private_key_to_pem(key)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert load_private_key(pem).private_numbers() == key.private_numbers()
    public_pem = public_key_to_pem(key)
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert public_pem == public_key_to_pem(key.public_key())
    loaded = load_public_key(public_pem)
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == key.public_key().public_numbers()


def test_load_public_key_accepts_pkcs1_and_ed25519() -> None:
    pkcs1 = PUBLIC.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert isinstance(load_public_key(pkcs1.decode()), rsa.RSAPublicKey)
    assert isinstance(
        load_public_key(public_key_to_pem(ED_KEY.public_key())), ed25519.Ed25519PublicKey
    )


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        ("not a key", "not a valid public key PEM"),
        (
            "-----BEGIN PUBLIC KEY-----\n"
            "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMN3MeeWkzhoEIQl10n9kJxrka02ujrD\n"
            "mddxzlWIyO4R/J4/A04+Wt0ZHMuKXeMTk2s+YX0YsRJMnWYJumAjcIMCAwEAAQ==\n"
            "-----END PUBLIC KEY-----\n",
            "RSA key of 512 bits is too small",
        ),
        (
            public_key_to_pem(ec.generate_private_key(ec.SECP256R1()).public_key()),  # type: ignore[arg-type]
            "unsupported public key type",
        ),
    ],
    ids=["garbage", "rsa-512", "ec-p256"],
)
def test_load_public_key_rejects(pem: str, reason: str) -> None:
    with pytest.raises(ActivityPubError, match=reason):
        load_public_key(pem)


def test_load_private_key_rejects_garbage_and_non_rsa() -> None:
    with pytest.raises(ActivityPubError, match="not a valid unencrypted private key PEM"):
        load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    ed_pem = ED_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ActivityPubError, match="unsupported private key type"):
        load_private_key(ed_pem)


def test_multikey_fep_521a() -> None:
    """FEP-521a publicKeyMultibase: the Multikey spec's Ed25519 example, and RSA round trips."""
    example = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert isinstance(decode_multikey(example), ed25519.Ed25519PublicKey)
    assert encode_multikey(decode_multikey(example)) == example
    rsa_multikey = encode_multikey(PUBLIC)
    assert rsa_multikey.startswith("z4MX")
    decoded = decode_multikey(rsa_multikey)
    assert isinstance(decoded, rsa.RSAPublicKey)
    assert decoded.public_numbers() == PUBLIC.public_numbers()
    for bad in ("u6MkrJVna", "z0OIl", "z11111"):
        with pytest.raises(ActivityPubError):
            decode_multikey(bad)
