"""Media nobody will see again goes: unposted uploads after ``media.unattached_hours``, and a
removed person's uploads at once — rows and files (SECURITY.md: nothing left behind)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from node.appkeys import MEDIA, MEDIA_SWEEPER
from node.db.models import Account, MediaAttachment
from node.services.profile import remove_person
from tests.conftest import Node, NodeFactory
from tests.mastodon.conftest import call, client
from tests.mastodon.test_media import png


async def _stored(node: Node) -> dict[int, tuple[int | None, list[str]]]:
    """Every media row: id → (status id, its file names)."""
    async with node.ctx.sessions() as session:
        rows = (await session.execute(select(MediaAttachment))).scalars().all()
    return {
        m.id: (m.status_id, [n for n in (m.file_name, m.preview_name) if n is not None])
        for m in rows
    }


async def test_unposted_uploads_go_after_a_day(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    _, token = await node.user("alice")
    alice = client(node, token)
    store = node.app[MEDIA]
    upload = [await call(alice.media_post, png(12, 12), mime_type="image/png") for _ in range(4)]
    forgotten, posted, scheduled, also_forgotten = (int(m.id) for m in upload)
    await call(alice.status_post, "Met foto", media_ids=[posted])
    await call(
        alice.status_post,
        "Later, met foto",
        media_ids=[scheduled],
        scheduled_at=datetime.now(UTC) + timedelta(days=3),
    )
    await call(alice.account_update_credentials, avatar=png(64, 64), avatar_mime_type="image/png")
    before = await _stored(node)
    assert len(before) == 5
    files = {media_id: names for media_id, (_, names) in before.items()}
    assert all(store.path(n).exists() for names in files.values() for n in names)

    sweeper = node.app[MEDIA_SWEEPER]
    sweeper.clock = lambda: datetime.now(UTC) + timedelta(hours=23)
    assert await sweeper.run_once() == 0
    assert await _stored(node) == before

    sweeper.clock = lambda: datetime.now(UTC) + timedelta(hours=25)
    assert await sweeper.run_once() == 2
    after = await _stored(node)
    assert set(before) - set(after) == {forgotten, also_forgotten}
    for media_id in (forgotten, also_forgotten):
        assert files[media_id] and not any(store.path(n).exists() for n in files[media_id])
    # The posted one, the one a scheduled post will carry and the avatar stay, files too.
    assert set(after) == set(before) - {forgotten, also_forgotten}
    assert all(store.path(n).exists() for _, names in after.values() for n in names)
    assert await sweeper.run_once() == 0  # nothing more to do


async def test_a_removed_persons_uploads_go_with_them(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    alice_row, token = await node.user("alice")
    _, carol_token = await node.user("carol")
    alice = client(node, token)
    store = node.app[MEDIA]
    kept = await call(client(node, carol_token).media_post, png(9, 9), mime_type="image/png")
    loose = await call(alice.media_post, png(10, 10), mime_type="image/png")
    shown = await call(alice.media_post, png(11, 11), mime_type="image/png")
    await call(alice.status_post, "Foto", media_ids=[shown.id])
    before = await _stored(node)
    alices = [int(loose.id), int(shown.id)]
    names = [n for media_id in alices for n in before[media_id][1]]
    assert names and all(store.path(n).exists() for n in names)

    async with node.ctx.sessions() as session, session.begin():
        account = await session.get(Account, alice_row.id)
        assert account is not None
        await remove_person(node.ctx, session, account, media=store)

    after = await _stored(node)
    assert set(after) == {int(kept.id)}
    assert not any(store.path(n).exists() for n in names)
    assert all(store.path(n).exists() for n in after[int(kept.id)][1])


async def test_a_rolled_back_removal_keeps_the_files(make_node: NodeFactory) -> None:
    node = await make_node("finance", "127.0.0.2")
    alice_row, token = await node.user("alice")
    store = node.app[MEDIA]
    await call(client(node, token).media_post, png(10, 10), mime_type="image/png")
    before = await _stored(node)

    class Abort(Exception):
        pass

    try:
        async with node.ctx.sessions() as session, session.begin():
            account = await session.get(Account, alice_row.id)
            assert account is not None
            await remove_person(node.ctx, session, account, media=store)
            raise Abort
    except Abort:
        pass
    assert await _stored(node) == before
    assert all(store.path(n).exists() for _, names in before.values() for n in names)
