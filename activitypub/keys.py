"""Actor key pairs: generate, serialise and load RSA and Ed25519 keys (PEM, FEP-521a Multikey)."""

from __future__ import annotations

from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from activitypub.errors import ActivityPubError

__all__ = [
    "MIN_RSA_BITS",
    "PublicKeyTypes",
    "decode_multikey",
    "encode_multikey",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "private_key_to_pem",
    "public_key_to_pem",
]

PublicKeyTypes: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
"""The public key types an actor may publish and we can verify with."""

MIN_RSA_BITS = 1024
"""Smallest RSA modulus we accept from a peer: draft-cavage Appendix C test keys are 1024 bits;
anything smaller can be factored cheaply, so a signature made with it proves nothing."""

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# Multicodec prefixes (unsigned varint) used by FEP-521a / W3C Controlled Identifiers §2.2.2.
_ED25519_PUB = b"\xed\x01"
_RSA_PUB = b"\x85\x24"


def generate_private_key() -> rsa.RSAPrivateKey:
    """Generate a fresh RSA-2048 key with exponent 65537, what Mastodon gives every actor."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_to_pem(key: rsa.RSAPrivateKey) -> str:
    """Serialise a private key as unencrypted PKCS#8 PEM (RFC 5208, RFC 7468 §10)."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


def public_key_to_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    """Serialise a public key (or a private key's public half) as SPKI PEM (RFC 7468 §13).

    This is the ``publicKeyPem`` form of an actor's ``publicKey`` (``-----BEGIN PUBLIC KEY-----``).
    """
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Load an unencrypted RSA private key from PKCS#8 or PKCS#1 PEM.

    Raises ``ActivityPubError`` if the text is not such a key.
    """
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ActivityPubError(f"not a valid unencrypted private key PEM: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ActivityPubError(f"unsupported private key type {type(key).__name__}")
    return key


def load_public_key(pem: str) -> PublicKeyTypes:
    """Load a peer's ``publicKeyPem``: SPKI PEM (RFC 7468 §13), or PKCS#1 ``RSA PUBLIC KEY``.

    Accepts RSA (at least ``MIN_RSA_BITS``) and Ed25519 keys. Raises ``ActivityPubError`` on a
    bad PEM or any other key type. Callers should cache the result: parsing costs far more
    than one verification.
    """
    try:
        # Some older servers publish PKCS#1 (``RSA PUBLIC KEY``); this loader reads both forms.
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ActivityPubError(f"not a valid public key PEM: {exc}") from exc
    return _checked_public_key(key)


def _checked_public_key(key: object) -> PublicKeyTypes:
    """Return ``key`` if it is a type and size we verify with, else raise ``ActivityPubError``."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ActivityPubError(f"RSA key of {key.key_size} bits is too small")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise ActivityPubError(f"unsupported public key type {type(key).__name__}")


def _b58decode(text: str) -> bytes:
    """Decode base58btc (the ``z`` multibase alphabet, draft-msporny-base58 §3)."""
    number = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            raise ActivityPubError(f"invalid base58btc character {char!r}")
        number = number * 58 + index
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\x00" * leading_zeros + body


def _b58encode(data: bytes) -> str:
    """Encode base58btc (draft-msporny-base58 §3)."""
    number = int.from_bytes(data, "big")
    chars: list[str] = []
    while number:
        number, index = divmod(number, 58)
        chars.append(_B58[index])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(chars))


def decode_multikey(value: str) -> PublicKeyTypes:
    """Decode a ``publicKeyMultibase`` value (FEP-521a; W3C Controlled Identifiers §2.2.2).

    ``z6Mk…`` is an Ed25519 key (multicodec ``0xed``), ``z4MX…`` an RSA key (``0x1205``,
    PKCS#1 DER). Raises ``ActivityPubError`` on anything else.
    """
    if not value.startswith("z"):
        raise ActivityPubError("Multikey must use base58btc multibase ('z' prefix)")
    raw = _b58decode(value[1:])
    try:
        if raw.startswith(_ED25519_PUB):
            key: object = ed25519.Ed25519PublicKey.from_public_bytes(raw[len(_ED25519_PUB) :])
        elif raw.startswith(_RSA_PUB):
            key = serialization.load_der_public_key(raw[len(_RSA_PUB) :])
        else:
            raise ActivityPubError(f"unsupported Multikey codec prefix {raw[:2].hex()}")
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ActivityPubError(f"invalid Multikey: {exc}") from exc
    return _checked_public_key(key)


def encode_multikey(key: PublicKeyTypes) -> str:
    """Encode a public key as ``publicKeyMultibase`` (FEP-521a); inverse of ``decode_multikey``."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = _ED25519_PUB + key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raw = _RSA_PUB + key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    return "z" + _b58encode(raw)
