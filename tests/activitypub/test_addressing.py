"""Outgoing ``to``/``cc`` in Mastodon's shape (A17) and incoming visibility (A18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activitypub.addressing import Visibility, address, classify, is_public
from activitypub.vocabulary import PUBLIC, Object, parse_activity, parse_object

FOLLOWERS = "https://kantine.example/users/alice/followers"
BOB = "https://kantine.example/users/bob"
CAROL = "https://remote.example/users/carol"
FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.parametrize(
    ("visibility", "to", "cc"),
    [
        (Visibility.PUBLIC, (PUBLIC,), (FOLLOWERS, BOB, CAROL)),
        (Visibility.UNLISTED, (FOLLOWERS,), (PUBLIC, BOB, CAROL)),
        (Visibility.PRIVATE, (FOLLOWERS,), (BOB, CAROL)),
        (Visibility.DIRECT, (BOB, CAROL), ()),
    ],
)
def test_address_matches_a17(
    visibility: Visibility, to: tuple[str, ...], cc: tuple[str, ...]
) -> None:
    assert address(visibility, followers=FOLLOWERS, mentions=[BOB, CAROL, BOB]) == (to, cc)


def test_limited_cannot_be_addressed() -> None:
    with pytest.raises(ValueError, match="limited"):
        address(Visibility.LIMITED, followers=FOLLOWERS, mentions=[BOB])


@pytest.mark.parametrize(
    ("to", "cc", "expected"),
    [
        ([PUBLIC], [FOLLOWERS], Visibility.PUBLIC),
        (["as:Public"], [], Visibility.PUBLIC),
        ([FOLLOWERS], ["Public", BOB], Visibility.UNLISTED),
        ([FOLLOWERS], [BOB], Visibility.PRIVATE),
        ([BOB], [FOLLOWERS], Visibility.PRIVATE),
        ([BOB, CAROL], [], Visibility.DIRECT),
        ([BOB], [CAROL], Visibility.LIMITED),
    ],
)
def test_classify_matches_a18(to: list[str], cc: list[str], expected: Visibility) -> None:
    assert classify(to, cc, followers=FOLLOWERS, mentioned={BOB}) is expected or (
        expected is Visibility.DIRECT
        and classify(to, cc, followers=FOLLOWERS, mentioned={BOB, CAROL}) is expected
    )


def test_classify_without_known_followers_collection() -> None:
    assert classify([FOLLOWERS], [], followers=None, mentioned=set()) is Visibility.LIMITED


@given(
    st.sampled_from([Visibility.PUBLIC, Visibility.UNLISTED, Visibility.PRIVATE]),
    st.lists(st.sampled_from([BOB, CAROL, "https://x.example/u/d"]), max_size=3),
)
def test_address_then_classify_round_trips(visibility: Visibility, mentions: list[str]) -> None:
    to, cc = address(visibility, followers=FOLLOWERS, mentions=mentions)
    assert classify(to, cc, followers=FOLLOWERS, mentioned=set(mentions)) is visibility


def test_direct_round_trips_when_every_recipient_is_mentioned() -> None:
    to, cc = address(Visibility.DIRECT, followers=FOLLOWERS, mentions=[BOB, CAROL])
    assert classify(to, cc, followers=FOLLOWERS, mentioned={BOB, CAROL}) is Visibility.DIRECT


@pytest.mark.parametrize("uri", [PUBLIC, "as:Public", "Public"])
def test_is_public_accepts_the_three_spellings(uri: str) -> None:
    assert is_public(uri)


def test_is_public_rejects_lookalikes() -> None:
    assert not is_public("https://www.w3.org/ns/activitystreams#public")
    assert not is_public(FOLLOWERS)


def _classify(note: Object, followers: str) -> Visibility:
    mentioned = {m.href for m in note.mentions}
    return classify(note.to, note.cc, followers=followers, mentioned=mentioned)


def _load(name: str) -> dict[str, object]:
    data = json.loads((FIXTURES / name).read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def test_real_posts_are_classified_as_their_authors_meant() -> None:
    mastodon = parse_activity(_load("mastodon/create_note_cw_mention_hashtag.json")).object
    assert isinstance(mastodon, Object)
    assert _classify(mastodon, "http://mastodon.example.org/users/admin/followers") == "public"
    reply = parse_activity(_load("mastodon/create_note_reply.json")).object
    assert isinstance(reply, Object)
    assert _classify(reply, "https://mastodon.madrid/users/felix/followers") == "unlisted"
    pleroma = parse_object(_load("pleroma/note.json"))
    assert _classify(pleroma, "https://queer.hacktivis.me/users/lanodan/followers") == "unlisted"
