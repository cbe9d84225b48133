"""Who may see a status: one rule for every read and reaction path (SECURITY.md row 11)."""

from __future__ import annotations

from sqlalchemy import select

from node.db.engine import AsyncSession
from node.db.models import Follow, Mention, Status

__all__ = ["can_see"]


async def can_see(
    session: AsyncSession, status: Status, viewer_id: int | None, *, viewer_local: bool = False
) -> bool:
    """Whether the account *viewer_id* (None: anonymous) may see *status*.

    Public and unlisted posts are for everyone; followers-only posts for accepted followers
    and the mentioned; direct posts for the mentioned; local-only posts for this node's people.
    """
    if viewer_id is not None and viewer_id == status.account_id:
        return True
    if status.visibility == "local":
        return viewer_id is not None and viewer_local
    if status.visibility in {"public", "unlisted"}:
        return True
    if viewer_id is None:
        return False
    mentioned = await session.scalar(
        select(Mention.account_id).where(
            Mention.status_id == status.id, Mention.account_id == viewer_id
        )
    )
    if mentioned is not None:
        return True
    if status.visibility != "private":
        return False
    follows = await session.scalar(
        select(Follow.id).where(
            Follow.account_id == viewer_id,
            Follow.target_account_id == status.account_id,
            Follow.state == "accepted",
        )
    )
    return follows is not None
