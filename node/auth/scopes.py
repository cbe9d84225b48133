"""OAuth scopes as Mastodon names them (PROTOCOL.md C14).

``read`` and ``write`` imply every ``read:*`` and ``write:*``; ``follow`` is the deprecated
alias for the follow, block and mute scopes; ``admin:read`` implies ``admin:read:*``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ALL_SCOPES",
    "FOLLOW_SCOPES",
    "TOP_LEVEL_SCOPES",
    "ScopeError",
    "covers",
    "implies",
    "parse_scopes",
]

_READ = (
    "accounts blocks bookmarks favourites filters follows lists mutes notifications search statuses"
)
_WRITE = (
    "accounts blocks bookmarks conversations favourites filters follows lists media mutes"
    " notifications reports statuses"
)
_ADMIN = "accounts reports domain_allows domain_blocks ip_blocks email_domain_blocks"
_ADMIN += " canonical_email_blocks"

#: The scopes an app may register with or ask for, without their granular forms.
TOP_LEVEL_SCOPES = ("read", "write", "follow", "push", "profile", "admin:read", "admin:write")
#: What the deprecated ``follow`` scope stands for (Mastodon grants read access to blocks and
#: mutes with it as well, and Mastodon.py expands it the same way).
FOLLOW_SCOPES = frozenset(
    {"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"}
)
ALL_SCOPES = frozenset(
    TOP_LEVEL_SCOPES
    + tuple(f"read:{s}" for s in _READ.split())
    + tuple(f"write:{s}" for s in _WRITE.split())
    + tuple(f"admin:read:{s}" for s in _ADMIN.split())
    + tuple(f"admin:write:{s}" for s in _ADMIN.split())
)


class ScopeError(ValueError):
    """An unknown scope was asked for, or none at all."""


def parse_scopes(text: str, *, default: str = "") -> tuple[str, ...]:
    """The scopes in *text* (space- or comma-separated), in order, without repeats.

    An empty *text* means *default*; an unknown scope raises :class:`ScopeError`.
    """
    words = text.replace(",", " ").split() or default.split()
    if not words:
        raise ScopeError("at least one scope is needed")
    seen: dict[str, None] = {}
    for word in words:
        if word not in ALL_SCOPES:
            raise ScopeError(f"unknown scope {word[:64]!r}")
        seen[word] = None
    return tuple(seen)


def implies(granted: Iterable[str], scope: str) -> bool:
    """Whether the *granted* scopes include *scope* (``read`` ⊇ ``read:statuses``; C14)."""
    have = set(granted)
    if scope in have:
        return True
    if scope in FOLLOW_SCOPES and "follow" in have:
        return True
    parent = scope.rpartition(":")[0]
    return bool(parent) and parent in have


def covers(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """Whether every *requested* scope is implied by the *granted* ones."""
    have = set(granted)
    return all(implies(have, scope) for scope in requested)
