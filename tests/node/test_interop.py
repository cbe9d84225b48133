"""Real posts as Mastodon, GoToSocial, Misskey, Pleroma, Lemmy and PeerTube send them are
received over a signed inbox POST, stored, and shown correctly (sources: tests/fixtures/SOURCES.md).

Each fixture is moved onto a loopback peer: the author's id becomes an actor the peer serves,
the author's origin becomes the peer's, and every ``Mention`` points at a local person, so the
JSON keeps its shape (string-or-list fields, contentMap, Link urls, tag objects) while the
signature and origin checks are real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from activitypub.parsing import parse_object
from node.db.models import Account, Notification, Status, StatusTag, Tag
from node.services.graph import add_follow
from tests.conftest import NodeFactory
from tests.node.rig import peers, post_activity

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Expected:
    """What a person must see of a fixture once it arrived."""

    text: str
    visibility: str
    hashtags: frozenset[str] = frozenset()
    warning: str = ""
    attachments: int = 0
    mentions_alice: bool = False


CASES: dict[str, Expected] = {
    "mastodon/create_note_cw_mention_hashtag.json": Expected(
        "moo", "public", frozenset({"moo"}), "cw", 0, True
    ),
    "mastodon/create_note_attachment.json": Expected(
        "mastodon.example.org/media", "public", attachments=1
    ),
    "mastodon/create_note_reply.json": Expected("retiolus", "unlisted", mentions_alice=True),
    "mastodon/create_note_contentmap.json": Expected(
        "lain", "public", warning="cw", mentions_alice=True
    ),
    "gotosocial/note_mention.json": Expected("hi", "public", mentions_alice=True),
    "gotosocial/note_tags.json": Expected(
        "hello world!", "public", frozenset({"welcome"}), attachments=1
    ),
    "misskey/note.json": Expected("アライグマ vs ダライラマ", "public"),
    "misskey/question.json": Expected("march", "public", mentions_alice=True),
    "pleroma/note.json": Expected("Have what?", "unlisted", mentions_alice=True),
    "lemmy/page.json": Expected(
        "This is a post in the /c/tenforward community",
        "public",
        attachments=1,
        mentions_alice=True,
    ),
    "peertube/video.json": Expected("squarespace.com/thelinuxexperiment", "public"),
}


def _transplant(
    note: dict[str, Any], *, author: str, local: str, peer_base: str, peer_author: str
) -> dict[str, Any]:
    parts = urlsplit(author)
    text = (
        json.dumps(note)
        .replace(author, peer_author)
        .replace(f"{parts.scheme}://{parts.netloc}", peer_base)
    )
    moved: dict[str, Any] = json.loads(text)
    tags = moved.get("tag")
    for tag in tags if isinstance(tags, list) else [tags] if isinstance(tags, dict) else []:
        if isinstance(tag, dict) and tag.get("type") == "Mention":
            tag["href"] = local
    # Addressing follows the mention: the people a post was sent to become alice.
    for key in ("to", "cc"):
        value = moved.get(key)
        if isinstance(value, list):
            moved[key] = [local if _is_person(v, peer_author) else v for v in value]
    return moved


def _is_person(uri: object, author: str) -> bool:
    """A recipient that is someone else's actor, not a collection or Public."""
    return (
        isinstance(uri, str)
        and uri != author
        and "#Public" not in uri
        and not uri.endswith(("/followers", "/following"))
        and "/c/" not in uri  # a Lemmy community stays a group
    )


@pytest.mark.parametrize("fixture", sorted(CASES))
async def test_fixture_is_stored_and_shown(make_node: NodeFactory, fixture: str) -> None:
    expected = CASES[fixture]
    node = await make_node("finance", "127.0.0.2", allow=("127.0.0.4",))
    alice, _ = await node.user("alice")
    document = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    note = document["object"] if isinstance(document.get("object"), dict) else document
    author = parse_object(note).attributed_to
    assert author is not None
    async with peers() as make_peer:
        peer = await make_peer("127.0.0.4", "author")
        moved = _transplant(
            note,
            author=author,
            local=alice.uri,
            peer_base=peer.base,
            peer_author=peer.actor("author"),
        )
        create = peer.activity("author", "Create", moved)
        async with node.ctx.sessions() as session, session.begin():
            await node.ctx.resolver.key(peer.key_id("author"))
            remote = (
                await session.execute(select(Account).where(Account.uri == peer.actor("author")))
            ).scalar_one()
            me = await session.get(Account, alice.id)
            assert me is not None
            await add_follow(session, me, remote, f"{alice.uri}#follows/1", accepted=True)
        reply = await post_activity(node, peer, "author", create)
        assert reply.status == 202, reply.body
        await node.settle()

    async with node.ctx.sessions() as session:
        status = (
            await session.execute(select(Status).where(Status.uri == moved["id"]))
        ).scalar_one()
        tags = set(
            (
                await session.execute(
                    select(Tag.name).join(StatusTag).where(StatusTag.status_id == status.id)
                )
            ).scalars()
        )
        mentioned = await session.scalar(
            select(Notification.id).where(
                Notification.account_id == alice.id, Notification.type == "mention"
            )
        )
    assert expected.text in status.content
    assert "<script" not in status.content and "javascript:" not in status.content
    assert status.visibility == expected.visibility
    assert expected.hashtags <= tags
    assert status.summary == expected.warning
    assert len(json.loads(status.attachments_json)) == expected.attachments
    assert (mentioned is not None) == expected.mentions_alice
