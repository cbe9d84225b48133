"""Ids sort by time and do not collide, even for posts published in the same second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from node.ids import id_for_time, new_id


def test_ids_for_one_published_second_never_collide() -> None:
    """A burst of 5,000 posts stamped with the same second gets 5,000 distinct ids
    (the benchmark found batches rolled back by such collisions)."""
    published = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
    ids = [new_id(published) for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    second = id_for_time(published), id_for_time(published + timedelta(seconds=1))
    assert all(second[0] <= i < second[1] for i in ids)


def test_ids_sort_by_time() -> None:
    earlier = new_id(datetime(2026, 1, 1, tzinfo=UTC))
    later = new_id(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert earlier < later < new_id()
