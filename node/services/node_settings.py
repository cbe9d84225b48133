"""Node-wide values the admin sets on the admin pages, over what the config file says.

For now the node's description (shown by ``/api/v1/instance``, ``/api/v2/instance``, NodeInfo
and the start page). An empty value set here falls back to ``node.description``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from node.db.engine import AsyncSession
from node.db.models import NodeSetting

__all__ = ["MAX_DESCRIPTION", "NodeSettingError", "get_description", "set_description"]

#: Mastodon's admin form allows this much for the server description.
MAX_DESCRIPTION = 2000
_DESCRIPTION = "description"


class NodeSettingError(ValueError):
    """A value the admin entered cannot be saved (the message says why)."""


async def get_description(session: AsyncSession, default: str) -> str:
    """The node's description: the admin's, else *default* (the config file's)."""
    value = await session.scalar(select(NodeSetting.value).where(NodeSetting.key == _DESCRIPTION))
    return value if value else default


async def set_description(session: AsyncSession, text: str) -> str:
    """Save the description (plain text); an empty one goes back to the config file's."""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_DESCRIPTION:
        raise NodeSettingError(f"The description is longer than {MAX_DESCRIPTION} characters.")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise NodeSettingError("The description contains control characters.")
    await session.execute(delete(NodeSetting).where(NodeSetting.key == _DESCRIPTION))
    if text:
        session.add(NodeSetting(key=_DESCRIPTION, value=text, updated_at=datetime.now(UTC)))
    await session.flush()
    return text
