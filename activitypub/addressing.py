"""Visibility ⇄ ``to``/``cc`` addressing (PROTOCOL.md A17, A18; AP §5.6; Mastodon TagManager).

Mastodon decides a post's visibility from its audience alone, so the outgoing shape
must be exactly the one it expects (A17), and incoming posts are classified the way
Mastodon classifies them (A18), accepting all three spellings of Public (J6).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from enum import StrEnum

__all__ = ["PUBLIC_SPELLINGS", "Visibility", "address", "classify", "is_public"]

_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
#: AP §5.6: the compacted forms are equally valid and seen in the wild (J6).
PUBLIC_SPELLINGS = frozenset({_PUBLIC, "as:Public", "Public"})


class Visibility(StrEnum):
    """Who may see a post; the values are Mastodon's API names."""

    PUBLIC = "public"
    UNLISTED = "unlisted"
    #: Followers only.
    PRIVATE = "private"
    #: Only the mentioned actors.
    DIRECT = "direct"
    #: Addressed to actors who are not all mentioned (Mastodon stores it as "limited").
    LIMITED = "limited"


def is_public(uri: str) -> bool:
    """Whether ``uri`` names the Public collection, in any of its three spellings (J6)."""
    return uri in PUBLIC_SPELLINGS


def _unique(ids: Iterable[str], *, exclude: Collection[str] = ()) -> tuple[str, ...]:
    return tuple(i for i in dict.fromkeys(ids) if i not in exclude and not is_public(i))


def address(
    visibility: Visibility, *, followers: str, mentions: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(to, cc)`` for an outgoing post, exactly in Mastodon's shape (A17).

    Mentioned actors must be addressed as well as tagged (A19), so they go to ``cc``
    (``to`` for direct posts).  ``LIMITED`` is a classification of inbound posts only
    and raises :class:`ValueError`.
    """
    mentioned = _unique(mentions, exclude={followers})
    match visibility:
        case Visibility.PUBLIC:
            return (_PUBLIC,), (followers, *mentioned)
        case Visibility.UNLISTED:
            return (followers,), (_PUBLIC, *mentioned)
        case Visibility.PRIVATE:
            return (followers,), mentioned
        case Visibility.DIRECT:
            return mentioned, ()
    raise ValueError(f"cannot address a {visibility} post; it is an inbound classification")


def classify(
    to: Sequence[str], cc: Sequence[str], *, followers: str | None, mentioned: Collection[str]
) -> Visibility:
    """The visibility of an incoming post from its audience (A18, Mastodon's order).

    Public in ``to`` ⇒ public; in ``cc`` ⇒ unlisted; the author's ``followers`` anywhere ⇒
    private; otherwise direct when every recipient is mentioned, else limited.
    """
    if any(is_public(uri) for uri in to):
        return Visibility.PUBLIC
    if any(is_public(uri) for uri in cc):
        return Visibility.UNLISTED
    recipients = set(to) | set(cc)
    if followers is not None and followers in recipients:
        return Visibility.PRIVATE
    if recipients <= set(mentioned):
        return Visibility.DIRECT
    return Visibility.LIMITED
