"""Events beyond the in-memory window are read from the SQLite file (issue 23, "events beyond memory").

The runtime keeps the newest ``events_in_memory`` events in memory and the
file keeps ``event_retention``; every read must look the same as if all of
them were in memory: gapless, in order, per worker, within page bounds,
across restarts, and expired only once retention drops them.
"""

from __future__ import annotations

import sqlite3

import pytest

from registry_core.errors import CursorExpired
from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import all_events, create, durable_settings, send, started, store_file, until_idle

IN_MEMORY = 8
RETENTION = 400


def settings(durability: Durability = Durability.ACKNOWLEDGED, **overrides: object):
    return durable_settings(durability, **{"event_retention": RETENTION, "events_in_memory": IN_MEMORY, **overrides})


async def busy_history(provider, workers: int = 3, inputs: int = 12) -> list[str]:
    ids = [await create(provider, "echo-now") for _ in range(workers)]
    for number in range(inputs):
        for worker_id in ids:
            await send(provider, worker_id, f"input {number}")
            await until_idle(provider, worker_id)
    return ids


async def pages(provider, *, cursor, limit, worker_id=None):
    """Every page from ``cursor`` on, as (ids, has_more, next_cursor)."""
    found = []
    while True:
        page = await provider.read_events(cursor=cursor, limit=limit, worker_id=worker_id)
        found.append(([event.id for event in page.events], page.has_more, page.next_cursor))
        if not page.has_more:
            return found
        assert page.next_cursor > (cursor or 0)
        cursor = page.next_cursor


@pytest.mark.parametrize("durability", list(Durability))
async def test_every_retained_event_is_read_in_order_though_only_the_newest_are_in_memory(tmp_path, durability):
    provider = await started(tmp_path, settings(durability))
    workers = await busy_history(provider)
    assert len(provider.runtime.events) == IN_MEMORY

    events, end = await all_events(provider)
    ids = [event.id for event in events]
    assert len(ids) > 10 * IN_MEMORY
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # gapless, from the file and then memory
    assert end == ids[-1] == provider.runtime.events.last_id

    for limit in (1, 7, 50):  # page sizes across the file/memory border
        walked = [
            event_id
            for page_ids, _, _ in await pages(provider, cursor=ids[0] - 1, limit=limit)
            for event_id in page_ids
        ]
        assert walked == ids

    for worker_id in workers:  # one worker's events, from the file by its index
        expected = [event.id for event in events if event.worker_id == worker_id]
        walked = await pages(provider, cursor=0, limit=5, worker_id=worker_id)
        assert [event_id for page_ids, _, _ in walked for event_id in page_ids] == expected
        assert walked[-1][2] == provider.runtime.events.last_id  # the cursor passes other workers' events
    await provider.close()


async def test_a_page_from_the_file_keeps_the_byte_bound(tmp_path):
    provider = await started(tmp_path, settings(max_page_bytes=4096, max_input_chars=4000))
    worker_id = await create(provider, "echo-now")
    for number in range(10):
        await send(provider, worker_id, f"{number} " + "y" * 1500)
        await until_idle(provider, worker_id)
    page = await provider.read_events(cursor=0, limit=1000)
    assert page.has_more and 1 <= len(page.events) < 10
    assert page.events[-1].id < provider.runtime.events.first_id  # from the file
    assert sum(len(str(event.data)) for event in page.events) <= 4096 or len(page.events) == 1
    await provider.close()


async def test_a_cursor_from_before_a_restart_resumes_from_the_file(tmp_path):
    first = await started(tmp_path, settings())
    await busy_history(first, workers=2, inputs=6)
    early = (await first.read_events(cursor=None, limit=5)).next_cursor
    events_before, last = await all_events(first)
    await first.close()

    again = await started(tmp_path, settings())
    assert len(again.runtime.events) == IN_MEMORY
    resumed, _ = await all_events(again, early)
    assert [event.id for event in resumed][: len(events_before) - 5] == [event.id for event in events_before[5:]]
    assert resumed[0].id == early + 1
    assert [event.id for event in resumed if event.id <= last] == list(range(early + 1, last + 1))
    await again.close()


async def test_a_cursor_older_than_retention_expires_and_the_oldest_kept_is_where_a_fresh_read_starts(tmp_path):
    provider = await started(tmp_path, settings(event_retention=30))
    first_page = await provider.read_events(cursor=None, limit=1)
    oldest_then = first_page.events[0].id if first_page.events else None
    await busy_history(provider, workers=2, inputs=10)  # ~60 events: retention drops the oldest
    with pytest.raises(CursorExpired):
        await provider.read_events(cursor=(oldest_then or 1), limit=10)
    events, _ = await all_events(provider)
    assert len(events) == 30  # the newest retention of them, though the file keeps a few more until it deletes them
    ids = [event.id for event in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    await provider.close()


async def test_the_file_has_an_index_for_one_workers_older_events(tmp_path):
    provider = await started(tmp_path, settings())
    await provider.close()
    with sqlite3.connect(store_file(tmp_path)) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM events WHERE worker_id = 'w' AND id > 1 AND id < 9 ORDER BY id LIMIT 5"
        ).fetchall()
    connection.close()
    assert any("events_by_worker" in str(row) for row in plan)
