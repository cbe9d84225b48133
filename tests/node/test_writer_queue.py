"""The writer queue (node.db.writers): on SQLite one turn at a time, given back however the
transaction ends, and never a deadlock; on PostgreSQL nothing to queue for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from node.db.engine import create_engine, sessionmaker_for
from node.db.writers import hold_writes, queue_of


async def test_turns_are_given_back_and_a_long_wait_goes_on_without_one(
    database_url_factory: Callable[[str], Awaitable[str]],
    db_kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(await database_url_factory("queue"))
    sessions = sessionmaker_for(engine)
    queue = queue_of(sessions)
    try:
        if db_kind == "postgresql":
            assert queue is None  # row locks; hold_writes does nothing
            async with sessions() as session, session.begin():
                await hold_writes(session)
            return
        assert queue is not None
        # Commit, rollback and a session closed without either all give the turn back.
        async with sessions() as session, session.begin():
            await hold_writes(session)
            await hold_writes(session)  # a second call in the same transaction: no-op
            assert queue.lock.locked()
        assert not queue.lock.locked()
        with pytest.raises(RuntimeError):
            async with sessions() as session, session.begin():
                await hold_writes(session)
                raise RuntimeError("a post failed")
        assert not queue.lock.locked()
        async with sessions() as session:
            await hold_writes(session)
            assert queue.lock.locked()
        assert not queue.lock.locked()

        # A transaction that cannot get its turn in time goes on without it (it may hold
        # SQLite's own lock already, which the holder of the turn would wait for).
        monkeypatch.setattr("node.db.writers.WAIT_SECONDS", 0.05)
        async with sessions() as first, first.begin():
            await hold_writes(first)
            async with sessions() as second, second.begin():
                await hold_writes(second)
                assert queue.lock.locked()  # still first's turn
            assert queue.lock.locked()
        assert not queue.lock.locked()
    finally:
        await engine.dispose()
