"""The start page as the intranet's front door: the admin's application links (issue 6)."""

from __future__ import annotations

import pytest

from node.services.site import MAX_LINKS, Link, SiteError, get_links, set_links
from tests.conftest import Node
from tests.web.conftest import Browser


async def test_links_show_on_the_start_page_in_order(node: Node, alice: Browser) -> None:
    async with node.ctx.sessions() as session, session.begin():
        await set_links(
            session,
            [
                Link(" Rooster ", "https://rooster.example/", "Diensten"),
                Link("Wiki", "http://wiki.intranet/start"),
            ],
        )
    html = await alice.page("/")
    assert html.index("Rooster") < html.index("Wiki")
    assert 'href="https://rooster.example/"' in html
    assert "Diensten" in html


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Link("", "https://x.example/"), "label is empty"),
        (Link("x" * 101, "https://x.example/"), "label is longer"),
        (Link("Evil", "javascript:alert(1)"), "http or https"),
        (Link("Data", "data:text/html,hi"), "http or https"),
        (Link("Relative", "/admin"), "http or https"),
        (Link("Long", "https://x.example/" + "a" * 2048), "http or https"),
        (Link("Desc", "https://x.example/", "d" * 256), "description is longer"),
    ],
)
async def test_a_bad_link_saves_nothing(node: Node, bad: Link, message: str) -> None:
    async with node.ctx.sessions() as session, session.begin():
        await set_links(session, [Link("Rooster", "https://rooster.example/")])
    with pytest.raises(SiteError, match=message):
        async with node.ctx.sessions() as session, session.begin():
            await set_links(session, [Link("Wiki", "https://wiki.example/"), bad])
    async with node.ctx.sessions() as session:
        assert [link.label for link in await get_links(session)] == ["Rooster"]


async def test_at_most_so_many_links(node: Node) -> None:
    with pytest.raises(SiteError, match="at most"):
        async with node.ctx.sessions() as session, session.begin():
            await set_links(
                session, [Link(f"L{n}", "https://x.example/") for n in range(MAX_LINKS + 1)]
            )
    async with node.ctx.sessions() as session:
        assert await get_links(session) == []
