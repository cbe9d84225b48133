"""Media through Mastodon.py across two nodes: upload, alt text, blurhash, EXIF stripped,
attachments on posts and edits, avatars and headers, and every bad upload refused with
nothing stored (PROTOCOL.md C19, C24, C37, A23, D15; SECURITY.md rows 2 and 16)."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mastodon import MastodonAPIError
from PIL import Image
from sqlalchemy import func, select

from node.api.mastodon.scheduled import SCHEDULER
from node.appkeys import MEDIA
from node.auth.tokens import issue_token
from node.db.models import Account, MediaAttachment, Status
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import Pair, call, client, raw, settle
from tests.mastodon.shapes import check

_GPS = 0x8825
_ORIENTATION = 0x0112


def gps_jpeg(width: int = 60, height: int = 40) -> bytes:
    """A JPEG with EXIF GPS coordinates, an orientation (rotate 90°) and a comment."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    for x in range(width // 2):
        for y in range(height):
            image.putpixel((x, y), (20, 60, 220))
    exif = Image.Exif()
    exif[_ORIENTATION] = 6
    exif[0x010F] = "SpyCam"
    exif.get_ifd(_GPS).update({1: "N", 2: (52.0, 5.0, 30.0), 3: "E", 4: (4.0, 53.0, 10.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"home address")
    data = out.getvalue()
    reopened = Image.open(io.BytesIO(data)).getexif()
    assert reopened.get_ifd(_GPS), "the test image must carry GPS data"
    return data


def png(width: int, height: int, colour: tuple[int, int, int, int] = (0, 128, 0, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def bomb_png(side: int = 40_000) -> bytes:
    """A tiny PNG whose header claims side × side pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side * 3 + 1) * 8)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


async def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, dict(response.headers), await response.read()


async def stored(node: Node) -> tuple[int, list[Path], int]:
    """(media rows, files in the media folder, statuses) on *node*."""
    async with node.ctx.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(MediaAttachment))
        statuses = await session.scalar(select(func.count()).select_from(Status))
    folder = node.app[MEDIA].directory
    files = sorted(folder.iterdir()) if folder.exists() else []
    return int(rows or 0), files, int(statuses or 0)


async def _follow(pair: Pair) -> None:
    """bob@hr follows alice@finance."""
    bob = client(pair.hr, pair.bob_token)
    alice = await call(bob.account_lookup, f"alice@{pair.finance.domain}")
    await call(bob.account_follow, alice.id)
    await settle(pair.finance, pair.hr)


async def _json(node: Node, path: str, token: str | None) -> Any:
    code, body = await raw(node, "GET", path, token)
    assert code == 200, body
    return body


def _status_of(err: MastodonAPIError) -> int:
    return int(err.args[1])


async def test_photo_with_alt_text_reaches_the_other_node(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    bob = client(pair.hr, pair.bob_token)
    await _follow(pair)

    media = await call(
        alice.media_post,
        gps_jpeg(),
        mime_type="image/jpeg",
        file_name="IMG_0001.jpg",
        description="Het team bij de taart",
        focus=(0.5, -0.25),
    )
    check("MediaAttachment", media)
    assert media.type == "image" and media.remote_url is None
    assert media.description == "Het team bij de taart"
    assert media.meta.focus == {"x": 0.5, "y": -0.25}
    # EXIF orientation 6 was applied: the 60×40 picture stands upright as 40×60.
    assert (media.meta.original.width, media.meta.original.height) == (40, 60)
    assert len(media.blurhash) == 4 + 2 * 4 * 4  # 4×4 components, as Mastodon
    assert "IMG_0001" not in media.url

    status, headers, body = await fetch(media.url)
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in headers["Cache-Control"]
    served = Image.open(io.BytesIO(body))
    assert served.size == (40, 60)
    assert not served.getexif(), "EXIF (GPS, camera) must be stripped"
    assert b"Exif" not in body and b"home address" not in body and b"SpyCam" not in body
    assert (await fetch(media.preview_url))[0] == 200

    # Until it is posted the uploader can read and describe it (C24).
    again = await call(alice.media, media.id)
    assert again.id == media.id
    described = await call(alice.media_update, media.id, description="Taart voor Q3")
    assert described.description == "Taart voor Q3"

    post = await call(alice.status_post, "Taart!", media_ids=[media.id])
    check("Status", await _json(pair.finance, f"/api/v1/statuses/{post.id}", pair.alice_token))
    (attached,) = post.media_attachments
    assert attached.id == media.id and attached.description == "Taart voor Q3"
    # Once posted it belongs to the post: the media routes no longer show it (as Mastodon).
    code, _ = await raw(pair.finance, "GET", f"/api/v1/media/{media.id}", pair.alice_token)
    assert code == 404

    # The Note carries a Document with alt text, blurhash, size and focal point (A23).
    await settle(pair.finance, pair.hr)
    (seen,) = await call(bob.timeline_home)
    check("Status", await _json(pair.hr, f"/api/v1/statuses/{seen.id}", pair.bob_token))
    (remote,) = seen.media_attachments
    check("MediaAttachment", remote)
    assert remote.type == "image"
    assert remote.description == "Taart voor Q3"
    assert remote.blurhash == media.blurhash
    assert remote.url == remote.remote_url == media.url
    assert remote.meta.original.width == 40 and remote.meta.focus == {"x": 0.5, "y": -0.25}
    # hr keeps it as a remote media row (no file of its own), under the id it shows.
    async with pair.hr.ctx.sessions() as session:
        row = await session.get(MediaAttachment, int(remote.id))
    assert row is not None and row.file_name is None
    assert (row.remote_url, row.description, row.blurhash) == (
        media.url,
        "Taart voor Q3",
        media.blurhash,
    )
    assert (await stored(pair.hr))[1] == []

    # An edit with a second picture: both nodes show it, the history keeps the first version.
    second = await call(alice.media_post, png(30, 30), mime_type="image/png", description="Q4")
    edited = await call(alice.status_update, post.id, "Taart en meer", media_ids=[second.id])
    assert [m.description for m in edited.media_attachments] == ["Q4"]
    history = await call(alice.status_history, post.id)
    for version in await _json(pair.finance, f"/api/v1/statuses/{post.id}/history", None):
        check("StatusEdit", version)
    assert [[m.description for m in v.media_attachments] for v in history] == [
        ["Taart voor Q3"],
        ["Q4"],
    ]
    await settle(pair.finance, pair.hr)
    seen = await call(bob.status, seen.id)
    assert [m.description for m in seen.media_attachments] == ["Q4"]
    assert seen.media_attachments[0].url.endswith(".png")

    # The alt text of posted media changes with an edit's media_attributes (Mastodon 4.0).
    # A peer takes an Update only if its `updated` (whole seconds, as Mastodon writes it) is
    # newer than the version it has (A5), so this edit comes a second later.
    await asyncio.sleep(1.1)
    change = alice.generate_media_edit_attributes(
        second.id, description="Q4 taart", focus=(0.1, 0.2)
    )
    edited = await call(alice.status_update, post.id, "Taart en meer", media_attributes=[change])
    (changed,) = edited.media_attachments
    assert (changed.id, changed.description) == (second.id, "Q4 taart")
    assert changed.meta.focus == {"x": 0.1, "y": 0.2}
    history = await call(alice.status_history, post.id)
    assert [[m.description for m in v.media_attachments] for v in history] == [
        ["Taart voor Q3"],
        ["Q4"],
        ["Q4 taart"],
    ]
    # Attributes for media the edit does not keep are refused, and nothing changes.
    code, body = await raw(
        pair.finance,
        "PUT",
        f"/api/v1/statuses/{post.id}",
        pair.alice_token,
        json={
            "status": "Taart en meer",
            "media_ids": [second.id],
            "media_attributes": [{"id": media.id, "description": "nee"}],
        },
    )
    assert code == 422, body
    assert len(await call(alice.status_history, post.id)) == 3
    await settle(pair.finance, pair.hr)
    seen = await call(bob.status, seen.id)
    assert [m.description for m in seen.media_attachments] == ["Q4 taart"]

    # Only media, and a status with nothing but a picture.
    third = await call(alice.media_post, png(10, 10), mime_type="image/png")
    only_picture = await call(alice.status_post, "", media_ids=[third.id])
    assert len(only_picture.media_attachments) == 1


async def test_avatar_and_header_reach_the_other_node(pair: Pair) -> None:
    alice = client(pair.finance, pair.alice_token)
    bob = client(pair.hr, pair.bob_token)
    await _follow(pair)
    before = await call(alice.account_verify_credentials)
    assert before.avatar.endswith("/avatars/original/missing.png")

    me = await call(
        alice.account_update_credentials,
        avatar=png(900, 600, (255, 200, 0, 255)),
        avatar_mime_type="image/png",
        header=gps_jpeg(3000, 1500),
        header_mime_type="image/jpeg",
        display_name="Alice A.",
    )
    check("Account", await _json(pair.finance, f"/api/v1/accounts/{me.id}", None))
    assert "/media/" in me.avatar and me.avatar == me.avatar_static
    assert "/media/" in me.header and me.header == me.header_static
    _, headers, body = await fetch(me.avatar)
    assert headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(body)).size == (400, 400)
    _, _, body = await fetch(me.header)
    header = Image.open(io.BytesIO(body))
    assert header.size == (1500, 500) and not header.getexif()

    # The actor document carries icon and image (D15) ...
    async with (
        aiohttp.ClientSession() as http,
        http.get(pair.alice.uri, headers={"Accept": "application/activity+json"}) as response,
    ):
        actor = await response.json(content_type=None)
    assert actor["icon"] == {"type": "Image", "mediaType": "image/png", "url": me.avatar}
    assert actor["image"] == {"type": "Image", "mediaType": "image/jpeg", "url": me.header}

    # ... and the Update(Person) shows them on bob's node.
    await settle(pair.finance, pair.hr)
    seen = await call(bob.account_lookup, f"alice@{pair.finance.domain}")
    assert seen.avatar == me.avatar and seen.header == me.header
    assert seen.display_name == "Alice A."

    # A new avatar replaces the old one: its file and row are gone, the header stays.
    again = await call(
        alice.account_update_credentials, avatar=png(50, 50), avatar_mime_type="image/png"
    )
    assert again.avatar != me.avatar and again.header == me.header
    assert (await fetch(me.avatar))[0] == 404 and (await fetch(again.avatar))[0] == 200
    async with pair.finance.ctx.sessions() as session:
        purposes = (await session.execute(select(MediaAttachment.purpose))).scalars().all()
    assert sorted(purposes) == ["avatar", "header"]

    # A bad avatar changes nothing: not the profile, not the files, no row.
    rows, files, _ = await stored(pair.finance)
    with pytest.raises(MastodonAPIError) as err:
        await call(
            alice.account_update_credentials,
            avatar=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            avatar_mime_type="image/svg+xml",
            display_name="Mallory",
        )
    assert _status_of(err.value) == 422
    assert await stored(pair.finance) == (rows, files, await _statuses(pair.finance))
    assert (await call(alice.account_verify_credentials)).display_name == "Alice A."


async def _statuses(node: Node) -> int:
    return (await stored(node))[2]


@dataclass
class Solo:
    """One node (finance) with alice: enough for what does not federate."""

    finance: Node
    alice_token: str


@pytest.fixture
async def solo(make_node: NodeFactory) -> Solo:
    finance = await make_node("finance", "127.0.0.2")
    _, token = await finance.user("alice")
    return Solo(finance, token)


_BAD_UPLOADS = [
    ("oversized", b"\xff\xd8" + b"\x00" * (16 * 1024 * 1024), "big.jpg", 413),
    ("text named .jpg", b"Dit is geen foto.\n", "note.jpg", 422),
    (
        "svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        "x.svg",
        422,
    ),
    ("decompression bomb", bomb_png(), "bomb.png", 422),
    ("over media.max_pixels", bomb_png(8000), "64mp.png", 422),
    ("truncated", gps_jpeg()[:200], "cut.jpg", 422),
    ("empty", b"", "empty.jpg", 422),
]


async def test_bad_upload_is_refused_and_nothing_is_stored(solo: Solo) -> None:
    for case, data, name, expected in _BAD_UPLOADS:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name, content_type="image/jpeg")
        form.add_field("description", "alt")
        code, body = await raw(solo.finance, "POST", "/api/v2/media", solo.alice_token, data=form)
        assert code == expected, (case, body)
        assert isinstance(body, dict) and body["error"], case
        assert await stored(solo.finance) == (0, [], 0), case
    alice = client(solo.finance, solo.alice_token)
    for kwargs in ({"focus": (2.0, 0.0)}, {"description": "x" * 1501}):
        with pytest.raises(MastodonAPIError) as err:
            await call(alice.media_post, png(8, 8), mime_type="image/png", **kwargs)
        assert _status_of(err.value) == 422
    code, body = await raw(solo.finance, "POST", "/api/v2/media", solo.alice_token, data={"a": "b"})
    assert code == 422 and body["error"] == "file is missing"
    assert await stored(solo.finance) == (0, [], 0)


async def test_someone_elses_media_cannot_be_used(solo: Solo) -> None:
    alice = client(solo.finance, solo.alice_token)
    _, carol_token = await solo.finance.user("carol")
    carol = client(solo.finance, carol_token)
    media = await call(alice.media_post, png(8, 8), mime_type="image/png", description="mine")
    rows, files, statuses = await stored(solo.finance)

    # Another person: 422 on posting (and no post), 404 on reading and describing.
    with pytest.raises(MastodonAPIError) as err:
        await call(carol.status_post, "Gestolen", media_ids=[media.id])
    assert _status_of(err.value) == 422
    for method, body in (("GET", None), ("PUT", {"description": "stolen"})):
        code, _ = await raw(
            solo.finance, method, f"/api/v1/media/{media.id}", carol_token, json=body
        )
        assert code == 404
    # Unknown ids, too many and non-ids are 422 as well; none makes a post.
    extra = [await call(alice.media_post, png(8, 8), mime_type="image/png") for _ in range(4)]
    rows += 4
    for ids in (["123456789"], [media.id, *(m.id for m in extra)], ["abc"]):
        with pytest.raises(MastodonAPIError) as err:
            await call(alice.status_post, "Te veel", media_ids=ids)
        assert _status_of(err.value) == 422
    now_rows, now_files, now_statuses = await stored(solo.finance)
    assert (now_rows, now_statuses) == (rows, statuses) and len(now_files) == len(files) + 8
    assert (await call(alice.media, media.id)).description == "mine"

    # Posted media cannot be posted again by its owner either.
    await call(alice.status_post, "Eerste", media_ids=[media.id])
    with pytest.raises(MastodonAPIError) as err:
        await call(alice.status_post, "Tweede", media_ids=[media.id])
    assert _status_of(err.value) == 422
    # A token without write:media cannot upload (C14).
    code, _ = await raw(solo.finance, "POST", "/api/v2/media", None)
    assert code == 401
    async with solo.finance.ctx.sessions() as session, session.begin():
        me = await session.scalar(select(Account).where(Account.username == "alice"))
        assert me is not None
        read_only = await issue_token(session, me, "read")
    form = aiohttp.FormData()
    form.add_field("file", png(5, 5), filename="a.png", content_type="image/png")
    code, _ = await raw(solo.finance, "POST", "/api/v2/media", read_only, data=form)
    assert code == 403


async def test_v1_upload_route_and_unknown_media_names(solo: Solo) -> None:
    for path in ("/media/../kantine.db", "/media/abc.jpg", "/media/" + "0" * 32 + ".jpg"):
        status, _, _ = await fetch(solo.finance.base + path)
        assert status == 404
    form = aiohttp.FormData()
    form.add_field("file", png(20, 10), filename="a.png", content_type="image/png")
    form.add_field("description", "via v1")
    code, body = await raw(solo.finance, "POST", "/api/v1/media", solo.alice_token, data=form)
    assert code == 200
    check("MediaAttachment", body)
    assert body["description"] == "via v1" and body["meta"]["small"]["width"] == 20


async def test_remote_filename_never_used(solo: Solo) -> None:
    """SECURITY.md row 16: whatever the upload is called, it is stored under a random name."""
    names = [
        "../../etc/passwd.png",
        "a" * 5_000 + ".png",
        "x%00.png",
        "\u202egnp.exe",
        "..\\..\\win.png",
    ]
    urls = []
    for name in names:
        form = aiohttp.FormData()
        form.add_field("file", png(5, 5), filename=name, content_type="image/png")
        code, body = await raw(solo.finance, "POST", "/api/v2/media", solo.alice_token, data=form)
        assert code == 200, body
        urls.append(body["url"])
    folder = solo.finance.app[MEDIA].directory
    for url in urls:
        name = url.rsplit("/", 1)[1]
        assert len(name) == 32 + len(".png") and (folder / name).is_file()
    assert all(p.parent == folder for p in folder.rglob("*"))
    assert len(set(urls)) == len(names)
    # A name beyond the header limit is a form we cannot read: 422, nothing more stored.
    before = await stored(solo.finance)
    form = aiohttp.FormData()
    form.add_field("file", png(5, 5), filename="b" * 10_000 + ".png", content_type="image/png")
    code, body = await raw(solo.finance, "POST", "/api/v2/media", solo.alice_token, data=form)
    assert code == 422 and body["error"]
    assert await stored(solo.finance) == before


async def test_uploaded_json_never_served_as_activity_json(solo: Solo) -> None:
    """SECURITY.md row 2: an activity can neither be uploaded nor come back as one."""
    activity = b'{"@context": "https://www.w3.org/ns/activitystreams", "type": "Create"}'
    form = aiohttp.FormData()
    form.add_field("file", activity, filename="note.png", content_type="image/png")
    code, _ = await raw(solo.finance, "POST", "/api/v2/media", solo.alice_token, data=form)
    assert code == 422
    assert await stored(solo.finance) == (0, [], 0)
    alice = client(solo.finance, solo.alice_token)
    media = await call(alice.media_post, png(5, 5), mime_type="image/png")
    for accept in ("application/activity+json", "application/ld+json", "text/html", "*/*"):
        async with (
            aiohttp.ClientSession() as http,
            http.get(media.url, headers={"Accept": accept}) as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_scheduled_post_carries_its_media(solo: Solo) -> None:
    alice = client(solo.finance, solo.alice_token)
    _, carol_token = await solo.finance.user("carol")
    carol = client(solo.finance, carol_token)
    media = await call(alice.media_post, png(16, 9), mime_type="image/png", description="later")
    when = datetime.now(UTC) + timedelta(minutes=10)

    # Someone else's picture cannot be scheduled either: 422, nothing waits.
    with pytest.raises(MastodonAPIError) as err:
        await call(carol.status_post, "Gestolen", media_ids=[media.id], scheduled_at=when)
    assert _status_of(err.value) == 422
    assert await call(carol.scheduled_statuses) == []

    later = await call(alice.status_post, "", media_ids=[media.id], scheduled_at=when)
    shown = await _json(solo.finance, f"/api/v1/scheduled_statuses/{later.id}", solo.alice_token)
    check("ScheduledStatus", shown)
    assert shown["params"]["media_ids"] == [str(media.id)]
    assert [m["description"] for m in shown["media_attachments"]] == ["later"]

    published = await solo.finance.app[SCHEDULER].run_once(now=when + timedelta(seconds=1))
    assert published == 1
    (post,) = await call(alice.timeline_home)
    assert [(m.id, m.description) for m in post.media_attachments] == [(media.id, "later")]
    code, _ = await raw(solo.finance, "GET", f"/api/v1/media/{media.id}", solo.alice_token)
    assert code == 404  # posted now
