"""Parsing real documents from Mastodon, GoToSocial, Misskey, Pleroma, Lemmy and PeerTube.

Fixtures are captured JSON (tests/fixtures/SOURCES.md); each test checks what a person
would see: author, text, audience, tags, media.  Hostile shapes must raise
VocabularyError and nothing else (PROTOCOL.md §3, SECURITY.md rows 6 and 17).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from activitypub.contexts import default_context, load_context
from activitypub.errors import VocabularyError
from activitypub.vocabulary import (
    PUBLIC,
    Activity,
    Actor,
    Collection,
    Emoji,
    Hashtag,
    Mention,
    Object,
    check_document,
    normalize_hashtag,
    parse_activity,
    parse_actor,
    parse_collection,
    parse_datetime,
    parse_document,
    parse_object,
    parse_public_keys,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def note_of(activity: Activity) -> Object:
    assert isinstance(activity.object, Object)
    return activity.object


# -- Mastodon -----------------------------------------------------------------------------


def test_mastodon_create_note_with_cw_mention_and_hashtag() -> None:
    activity = parse_activity(load("mastodon/create_note_cw_mention_hashtag.json"))
    note = note_of(activity)
    assert activity.type == "Create"
    assert activity.actor == "http://mastodon.example.org/users/admin"
    assert note.attributed_to == activity.actor
    assert note.summary == "cw"
    assert note.sensitive is True
    assert "#moo" in (note.content or "")
    assert note.to == (PUBLIC,)
    assert note.cc == (
        "http://mastodon.example.org/users/admin/followers",
        "http://localtesting.pleroma.lol/users/lain",
    )
    assert note.mentions == (
        Mention(
            href="http://localtesting.pleroma.lol/users/lain",
            name="@lain@localtesting.pleroma.lol",
        ),
    )
    assert note.hashtags == (Hashtag(name="moo", href="http://mastodon.example.org/tags/moo"),)
    assert note.published == datetime(2018, 2, 12, 14, 8, 20, tzinfo=UTC)
    assert note.url == "http://mastodon.example.org/@admin/99512778738411822"
    assert activity.object_id == note.id


def test_mastodon_create_note_with_attachment() -> None:
    note = note_of(parse_activity(load("mastodon/create_note_attachment.json")))
    (media,) = note.attachments
    assert media.type == "Document"
    assert media.media_type == "image/jpeg"
    assert media.url.endswith("/original/334ce029e7bfb920.jpg")
    assert media.name is None  # "name": null is no alt text
    assert note.summary is None
    assert note.sensitive is False


def test_mastodon_reply_with_content_map_and_replies_collection() -> None:
    activity = parse_activity(load("mastodon/create_note_reply.json"))
    note = note_of(activity)
    assert note.in_reply_to == "https://mamot.fr/users/retiolus/statuses/107224244380204526"
    assert note.language is None  # contentMap's "en" differs from content by a typo
    assert note.to == ("https://mastodon.madrid/users/felix/followers",)
    assert PUBLIC in note.cc
    assert isinstance(note.replies, Collection)
    assert note.replies.id is not None and note.replies.id.endswith("/replies")
    assert isinstance(note.replies.first, Collection)
    assert note.replies.first.items == ()


def test_mastodon_content_map_only_gives_language() -> None:
    note = note_of(parse_activity(load("mastodon/create_note_contentmap.json")))
    assert note.content is not None and "lain" in note.content
    assert note.language is not None


def test_mastodon_person() -> None:
    actor = parse_actor(load("mastodon/person.json"))
    assert actor.id == "https://mastodon.social/users/Gargron"
    assert actor.preferred_username == "Gargron"
    assert actor.name == "Eugen Rochko"
    assert actor.inbox == "https://mastodon.social/users/Gargron/inbox"
    assert actor.shared_inbox == "https://mastodon.social/inbox"
    assert actor.featured == "https://mastodon.social/users/Gargron/collections/featured"
    assert actor.discoverable is True
    assert actor.manually_approves_followers is False
    assert actor.published == datetime(2016, 3, 16, tzinfo=UTC)
    assert actor.also_known_as == ("https://tooting.ai/users/Gargron",)
    assert [f.name for f in actor.fields] == ["Patreon", "GitHub"]
    assert 'href="https://github.com/Gargron"' in actor.fields[1].value
    key = actor.key("https://mastodon.social/users/Gargron#main-key")
    assert key is not None and key.owner == actor.id
    assert key.pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert actor.icon_url is not None and actor.icon_url.startswith("https://files.mastodon")
    assert not actor.is_bot


@pytest.mark.parametrize(
    ("fixture", "kind", "object_id"),
    [
        ("mastodon/follow.json", "Follow", "http://localtesting.pleroma.lol/users/lain"),
        ("mastodon/like.json", "Like", "http://localtesting.pleroma.lol/objects/eb92579d-"),
        ("mastodon/announce.json", "Announce", "http://mastodon.example.org/@admin/9954194"),
        ("mastodon/accept.json", "Accept", "http://localtesting.pleroma.lol/users/lain#fo"),
        ("mastodon/undo_follow.json", "Undo", "http://mastodon.example.org/users/admin#fo"),
        ("mastodon/delete.json", "Delete", "http://mastodon.example.org/users/gargron/st"),
        ("mastodon/update_person.json", "Update", "http://mastodon.example.org/users/gargron"),
    ],
)
def test_mastodon_activities(fixture: str, kind: str, object_id: str) -> None:
    activity = parse_document(load(fixture))
    assert isinstance(activity, Activity)
    assert activity.type == kind
    assert activity.actor.startswith("http://mastodon.example.org/users/")
    assert activity.object_id is not None and activity.object_id.startswith(object_id)


def test_mastodon_embedded_objects_are_parsed() -> None:
    accept = parse_activity(load("mastodon/accept.json"))
    assert isinstance(accept.object, Activity) and accept.object.type == "Follow"
    assert accept.object.object_id == "http://mastodon.example.org/users/admin"
    undo = parse_activity(load("mastodon/undo_follow.json"))
    assert isinstance(undo.object, Activity) and undo.object.type == "Follow"
    delete = parse_activity(load("mastodon/delete.json"))
    assert isinstance(delete.object, Object) and delete.object.type == "Tombstone"
    update = parse_activity(load("mastodon/update_person.json"))
    assert isinstance(update.object, Actor) and update.object.name == "gargle"
    announce = parse_activity(load("mastodon/announce.json"))
    assert announce.to == (PUBLIC,)
    assert announce.published == datetime(2018, 2, 17, 19, 39, 15, tzinfo=UTC)


def test_mastodon_flag_lists_every_reported_object() -> None:
    report = parse_activity(load("mastodon/flag.json"))
    assert report.actor == "https://mastodon.example/actor"  # the instance actor (A16)
    assert report.content == "Please take a look at this user and their posts"
    assert report.object_id == "https://example.com/users/1"
    assert report.objects == (
        "https://example.com/users/1",
        "https://example.com/posts/380590",
        "https://example.com/posts/380591",
    )
    assert report.to == ("https://example.com/users/1",)


# -- GoToSocial ---------------------------------------------------------------------------


def test_gotosocial_note_with_single_tag_object_and_string_to() -> None:
    note = parse_object(load("gotosocial/note_mention.json"))
    assert note.to == (PUBLIC,)  # GTS sends "to" as a bare string
    assert note.summary is None  # GTS: "" means no content warning
    assert note.language == "en"
    assert note.mentions == (
        Mention(
            href="http://localhost:8080/users/the_mighty_zork",
            name="@the_mighty_zork@localhost:8080",
        ),
    )
    assert note.in_reply_to is not None
    assert isinstance(note.replies, Collection)


def test_gotosocial_note_with_emoji_hashtag_and_image_alt_in_summary() -> None:
    note = parse_object(load("gotosocial/note_tags.json"))
    assert note.cc == ("http://localhost:8080/users/admin/followers",)
    assert note.hashtags == (Hashtag(name="welcome", href="http://localhost:8080/tags/welcome"),)
    (emoji,) = (t for t in note.tags if isinstance(t, Emoji))
    assert emoji.name == ":rainbow:" and emoji.media_type == "image/png"
    (image,) = note.attachments
    assert image.type == "Image"
    assert image.name == "Black and white image of some 50's style text saying: Welcome On Board"
    assert image.focal_point == (-0.5, 0.5)
    assert image.blurhash == "LIIE|gRj00WB-;j[t7j[4nWBj[Rj"


def test_gotosocial_actor_and_split_key() -> None:
    actor = parse_actor(load("gotosocial/person.json"))
    assert actor.name == "original zork (he/they)"
    assert actor.icon_url is not None and actor.icon_url.endswith(".jpg")
    (key,) = actor.public_keys
    assert key.id == "http://localhost:8080/users/the_mighty_zork/main-key"  # no fragment
    stub = load("gotosocial/key_stub.json")
    with pytest.raises(VocabularyError, match="inbox"):
        parse_actor(stub)  # the stub is not a full actor: follow the owner (D18)
    (stub_key,) = parse_public_keys(stub)
    assert stub_key.owner == "https://example.org/users/example_user"
    assert stub_key.id == "https://example.org/users/example_user/main-key"
    assert parse_public_keys(stub["publicKey"]) == (stub_key,)


# -- Misskey, Pleroma, Mitra --------------------------------------------------------------


def test_misskey_note_and_person() -> None:
    note = parse_object(load("misskey/note.json"))
    assert note.content == "<p>アライグマ vs ダライラマ</p>"
    assert note.attributed_to == "https://misskey.io/users/7rkrarq81i"
    assert note.published == datetime(2024, 2, 29, 12, 28, 49, 85000, tzinfo=UTC)
    actor = parse_actor(load("misskey/person.json"))
    assert actor.id == note.attributed_to
    assert actor.preferred_username == "syuilo"
    assert actor.shared_inbox == "https://misskey.io/inbox"
    assert ":peroro_sama:" in (actor.name or "")
    assert any(isinstance(t, Emoji) and t.name == ":peroro_sama:" for t in actor.tags)
    assert Hashtag(
        name="visualsnowsyndrome", href="https://misskey.io/tags/visualsnowsyndrome"
    ) in (actor.tags)
    assert [f.name for f in actor.fields] == ["写真集"]


def test_misskey_question_is_an_object_with_mention() -> None:
    poll = parse_document(load("misskey/question.json"))
    assert isinstance(poll, Object) and poll.type == "Question"
    assert poll.mentions[0].href == "https://marchgenso.me/users/march"
    assert poll.cc[1] == "https://marchgenso.me/users/march"


def test_misskey_content_used_when_no_html_content() -> None:
    doc = load("misskey/question.json")
    del doc["content"]
    poll = parse_object(doc)
    assert poll.content is not None and poll.content.startswith("<p>@march@marchgenso.me How")


def test_pleroma_note_person_and_emoji_react() -> None:
    note = parse_object(load("pleroma/note.json"))
    assert note.sensitive is False  # "sensitive": null
    assert note.cc == (PUBLIC,)
    assert note.context == note.conversation
    assert note.published == datetime(2021, 10, 7, 18, 6, 52, 555500, tzinfo=UTC)
    actor = parse_actor(load("pleroma/person.json"))
    assert actor.preferred_username == "lanodan"
    react = parse_activity(load("pleroma/emoji_react.json"))
    assert react.type == "EmojiReact" and react.content == "👌"
    assert react.id == "http://mastodon.example.org/users/admin#reactions/2"


def test_mitra_multikey_assertion_method_becomes_a_key() -> None:
    actor = parse_actor(load("mitra/person_multikey.json"))
    ids = {key.id for key in actor.public_keys}
    assert ids == {
        "https://wizard.casa/users/hongminhee#main-key",
        "https://wizard.casa/users/hongminhee#ed25519-key",
    }
    ed25519 = actor.key("https://wizard.casa/users/hongminhee#ed25519-key")
    assert ed25519 is not None and ed25519.pem.startswith("-----BEGIN PUBLIC KEY-----\nMCow")


# -- Lemmy, PeerTube ----------------------------------------------------------------------


def test_lemmy_page_group_announce_and_outbox() -> None:
    page = parse_object(load("lemmy/page.json"))
    assert page.type == "Page" and page.name == "Post title"
    assert page.audience == ("https://enterprise.lemmy.ml/c/tenforward",)
    assert page.language == "fr"
    assert page.attachments[0].type == "Link"
    group = parse_actor(load("lemmy/group.json"))
    assert group.type == "Group" and group.name == "Ten Forward"
    announce = parse_activity(load("lemmy/announce_create_page.json"))
    assert isinstance(announce.object, Activity) and announce.object.type == "Create"
    inner = note_of(announce.object)
    assert inner.name == "post 4" and inner.cc == ()
    outbox = parse_collection(load("lemmy/group_outbox.json"))
    assert outbox.total_items == 2 and len(outbox.items) == 2


def test_peertube_video() -> None:
    video = parse_object(load("peertube/video.json"))
    assert video.type == "Video"
    assert video.name is not None and video.name.startswith("Mesa, Wayland & X.org")
    # attributedTo is [Person, Group]: the Person is the author (J7).
    assert video.attributed_to == "https://tilvids.com/accounts/thelinuxexperiment"
    assert video.url == "https://tilvids.com/videos/watch/e7946124-7b72-4ad7-9d22-844a84bb2de1"
    assert video.content is not None and video.content.startswith("<p>Head to https://")
    assert video.language == "en"
    assert video.published == datetime(2025, 2, 1, 11, 59, 45, 94000, tzinfo=UTC)
    boost = parse_activity(load("peertube/announce_video.json"))
    assert boost.object_id == video.id


# -- shapes and hostile input -------------------------------------------------------------

NOTE = {"type": "Note", "id": "https://a.example/n/1", "attributedTo": "https://a.example/u/a"}


@pytest.mark.parametrize("spelling", [PUBLIC, "as:Public", "Public"])
def test_every_public_spelling_is_normalised(spelling: str) -> None:
    assert parse_object({**NOTE, "to": spelling, "cc": [spelling]}).to == (PUBLIC,)


def test_actor_as_object_or_list_gives_its_id() -> None:
    base = {"type": "Like", "object": NOTE["id"]}
    for actor in ({"id": "https://a.example/u/a", "type": "Person"}, ["https://a.example/u/a"]):
        assert parse_activity({**base, "actor": actor}).actor == "https://a.example/u/a"


def test_type_list_and_url_link_list() -> None:
    links = [
        {"type": "Link", "mediaType": "application/x-mpegURL", "href": "https://a.example/v.m3u8"},
        {"type": "Link", "mediaType": "text/html", "href": "https://a.example/watch"},
    ]
    note = parse_object({**NOTE, "type": ["Note", "schema:Thing"], "url": links})
    assert note.type == "Note" and note.url == "https://a.example/watch"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-03-05T07:40:13Z", datetime(2023, 3, 5, 7, 40, 13, tzinfo=UTC)),
        ("2021-11-01T12:11:22.871846+00:00", datetime(2021, 11, 1, 12, 11, 22, 871846, UTC)),
        ("2024-02-29T12:28:49.085Z", datetime(2024, 2, 29, 12, 28, 49, 85000, tzinfo=UTC)),
        ("2020-01-01T09:00:00+09:00", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-01-01T00:00:00", datetime(2020, 1, 1, tzinfo=UTC)),
        ("yesterday", None),
        (12, None),
    ],
)
def test_dates(value: object, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected
    assert parse_object({**NOTE, "published": value}).published == expected


@pytest.mark.parametrize(
    ("name", "expected"), [("#Café", "cafe"), ("#NSFW", "nsfw"), ("#がんばる", "がんばる")]
)
def test_hashtag_normalisation(name: str, expected: str) -> None:
    assert normalize_hashtag(name) == expected


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"type": "Follow", "object": "https://a.example/u/b"}, "no actor"),
        ({"type": "Like", "actor": "javascript:alert(1)", "object": NOTE["id"]}, "http"),
        ({"type": "Like", "actor": 42, "object": NOTE["id"]}, "URL string"),
        ({**NOTE, "id": "ftp://a.example/n/1"}, "http"),
        ({**NOTE, "to": [7]}, "to"),
        ({**NOTE, "content": ["<p>x</p>"]}, "content"),
        ({**NOTE, "content": "x" * 2_000_000}, "longer"),
        ({**NOTE, "tag": [{"type": "Hashtag", "name": "#a"}] * 1001}, "tag"),
        ({"id": NOTE["id"]}, "missing type"),
        ({"type": "Person", "id": NOTE["attributedTo"], "inbox": NOTE["id"]}, "Username"),
        ({**NOTE, "@graph": []}, "@graph"),
        ({**NOTE, "@context": [{"x": {"@reverse": "as:y"}}]}, "@reverse"),
        ({**NOTE, "tag": {"@included": {}}}, "@included"),
    ],
)
def test_hostile_documents_are_rejected_with_a_reason(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(VocabularyError, match=reason):
        parse_document(doc)


def test_check_document_limits_without_recursion_error() -> None:
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(VocabularyError, match="deeper"):
        check_document({"type": "Note", "content": deep})
    with pytest.raises(VocabularyError, match="deeper"):
        parse_document({"type": "Note", "content": deep})
    nested: dict[str, Any] = {"type": "Undo", "actor": "https://a.example/u", "object": {}}
    inner = nested
    for _ in range(50_000):
        inner["object"] = {"type": "Undo", "actor": "https://a.example/u", "object": {}}
        inner = inner["object"]
    with pytest.raises(VocabularyError, match="deeper"):
        parse_activity(nested)
    with pytest.raises(VocabularyError, match="longer"):
        check_document({"items": list(range(11))}, max_items=10)
    with pytest.raises(VocabularyError, match="JSON object"):
        check_document([NOTE])
    assert check_document(NOTE) is NOTE


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    ["type", "id", "actor", "object", "to", "cc", "tag", "attachment", "url", "content",
     "contentMap", "attributedTo", "published", "publicKey", "inbox", "preferredUsername",
     "items", "orderedItems", "first", "replies", "icon", "endpoints", "focalPoint"]
)  # fmt: skip
VALUES = JSON | st.sampled_from(
    ["Note", "Create", "Person", "OrderedCollection", "https://a.example/x", PUBLIC, "Public"]
)
DOCS = st.dictionaries(KEYS, VALUES | st.dictionaries(KEYS, VALUES, max_size=6), max_size=10)


@settings(max_examples=400, deadline=None)
@given(DOCS)
# Found by this test: a list as an embedded object's type failed a set lookup (TypeError).
@example({"type": "Note", "actor": "Note", "attributedTo": {"type": []}})
@example({"type": "Note", "actor": "Note", "object": "Note", "attachment": {"type": []}})
@example({"type": "Note", "content": "x", "mediaType": ["text/plain"]})
def test_parsers_raise_only_vocabulary_errors(doc: dict[str, Any]) -> None:
    for parse in (parse_document, parse_activity, parse_object, parse_actor, parse_collection):
        with contextlib.suppress(VocabularyError):
            parse(doc)


def test_contexts_are_bundled_and_default_context_is_mastodon_shaped() -> None:
    context = default_context()
    assert context[:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    terms = context[2]
    assert isinstance(terms, dict)
    assert terms["schema"] == "http://schema.org#"  # Mastodon's (wrong) base, D17
    assert terms["focalPoint"] == {"@container": "@list", "@id": "toot:focalPoint"}
    assert {"manuallyApprovesFollowers", "sensitive", "Hashtag", "indexable"} <= terms.keys()
    assert "as" in load_context("https://www.w3.org/ns/activitystreams")["@context"]
    assert "sec" in load_context("https://w3id.org/security/v1")["@context"]
    with pytest.raises(VocabularyError, match="not bundled"):
        load_context("https://evil.example/context.jsonld")
