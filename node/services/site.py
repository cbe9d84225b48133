"""The start page's application links, set by the admin (issue 6: the intranet's front door)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, delete, select

from node.db.engine import AsyncSession
from node.db.models import SiteLink
from node.ids import new_id

__all__ = ["MAX_LINKS", "Link", "SiteError", "get_links", "links_select", "set_links"]

#: More links than this make a front door nobody reads.
MAX_LINKS = 24
_MAX_LABEL = 100
_MAX_DESCRIPTION = 255
_MAX_URL = 2048


class SiteError(ValueError):
    """A link the admin entered cannot be saved (the message names what is wrong)."""


@dataclass(frozen=True)
class Link:
    """One application link: what it is called, where it goes, a line about it."""

    label: str
    url: str
    description: str = ""


def _checked(link: Link, number: int) -> Link:
    label = link.label.strip()
    url = link.url.strip()
    description = link.description.strip()
    if not label:
        raise SiteError(f"link {number}: the label is empty")
    if len(label) > _MAX_LABEL:
        raise SiteError(f"link {number}: the label is longer than {_MAX_LABEL} characters")
    if len(description) > _MAX_DESCRIPTION:
        raise SiteError(
            f"link {number}: the description is longer than {_MAX_DESCRIPTION} characters"
        )
    parts = urlsplit(url)
    # Only web addresses: a javascript: or data: link on the front door would run in our origin.
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(url) > _MAX_URL:
        raise SiteError(f"link {number}: the address must be an http or https URL")
    return Link(label, url, description)


def links_select() -> Select[Any]:
    """The links' columns in the order the admin gave them (also read by the start page
    through ``FastReads.rows`` on SQLite)."""
    columns: list[Any] = [SiteLink.label, SiteLink.url, SiteLink.description]
    return select(*columns).order_by(SiteLink.position, SiteLink.id)


async def get_links(session: AsyncSession) -> list[Link]:
    """The links in the order the admin gave them."""
    rows = (await session.execute(links_select())).all()
    return [Link(row.label, row.url, row.description) for row in rows]


async def set_links(session: AsyncSession, links: Sequence[Link]) -> list[Link]:
    """Replace all links (checked first: one bad link saves none)."""
    if len(links) > MAX_LINKS:
        raise SiteError(f"at most {MAX_LINKS} links")
    checked = [_checked(link, number) for number, link in enumerate(links, start=1)]
    await session.execute(delete(SiteLink))
    for position, link in enumerate(checked):
        session.add(
            SiteLink(
                id=new_id(),
                position=position,
                label=link.label,
                url=link.url,
                description=link.description,
            )
        )
    await session.flush()
    return checked
