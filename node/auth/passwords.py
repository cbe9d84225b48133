"""Password hashing with argon2id (OWASP ASVS 2.4.1)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordPolicyError", "hash_password", "verify_password"]

#: ASVS 2.1.1: at least 12 characters for local passwords.
MIN_PASSWORD_LENGTH = 12

_HASHER = PasswordHasher()  # stateless and thread-safe; its parameters are constants


class PasswordPolicyError(ValueError):
    """A new password does not meet the policy."""


def hash_password(password: str) -> str:
    """The argon2id hash of *password*, after checking the length policy."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether *password* matches; an account without a password never matches."""
    if not password_hash:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
