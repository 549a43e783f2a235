"""The event log: ids, cursors, expiry, per-worker polls, retention and waiting."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from registry_core import CursorExpired, UnknownWorker
from runtimes.embedded import EventLog

from .conftest import A, B, create, open_registry, send, until_idle


async def test_event_ids_increase_strictly_across_workers(registry):
    for _ in range(3):
        await send(registry, await create(registry))
    page = await registry.read_events(A)
    ids = [e.id for e in page.events]
    assert ids == list(range(1, len(ids) + 1))


async def test_each_runtime_has_its_own_event_log(registry):
    await create(registry, runtime_id=A)
    await create(registry, runtime_id=A)
    assert [e.id for e in (await registry.read_events(B)).events] == []


async def test_no_cursor_reads_from_the_oldest_and_the_cursor_means_after(registry):
    for _ in range(4):
        await create(registry)
    first = await registry.read_events(A, limit=2)
    assert [e.id for e in first.events] == [1, 2] and (first.next_cursor, first.has_more) == (2, True)
    rest = await registry.read_events(A, cursor=first.next_cursor, limit=2)
    assert [e.id for e in rest.events] == [3, 4] and (rest.next_cursor, rest.has_more) == (4, False)


async def test_cursor_at_the_newest_event_is_an_empty_page_that_keeps_the_cursor(registry):
    await create(registry)
    page = await registry.read_events(A, cursor=1)
    assert (page.events, page.next_cursor, page.has_more) == ((), 1, False)


async def test_empty_log_reads_as_an_empty_page_at_cursor_zero(registry):
    page = await registry.read_events(A)
    assert (page.events, page.next_cursor, page.has_more) == ((), 0, False)
    assert (await registry.read_events(A, cursor=0)).events == ()


async def test_cursor_newer_than_any_event_is_cursor_expired(registry):
    await create(registry)
    with pytest.raises(CursorExpired) as caught:
        await registry.read_events(A, cursor=2)
    assert caught.value.runtime_id == A


async def test_cursor_older_than_retention_is_cursor_expired_never_a_skip():
    registry = await open_registry(event_retention=3)
    try:
        for _ in range(5):
            await create(registry)
        with pytest.raises(CursorExpired):
            await registry.read_events(A, cursor=1)
        assert [e.id for e in (await registry.read_events(A, cursor=2)).events] == [3, 4, 5]
        assert [e.id for e in (await registry.read_events(A)).events] == [3, 4, 5]
    finally:
        await registry.close()


async def test_worker_events_are_only_that_workers(registry):
    first, second = await create(registry), await create(registry)
    await send(registry, first)
    await until_idle(registry, first)
    page = await registry.read_events(A, worker_id=second)
    assert [(e.type, e.worker_id) for e in page.events] == [("worker.created", second)]


async def test_worker_event_pages_continue_from_their_cursor(registry):
    worker_id = await create(registry, "echo-now")
    other = await create(registry)
    await send(registry, worker_id)
    await until_idle(registry, worker_id)
    await send(registry, other)
    first = await registry.read_events(A, worker_id=worker_id, limit=2)
    assert first.has_more and first.next_cursor == first.events[-1].id
    rest = await registry.read_events(A, worker_id=worker_id, cursor=first.next_cursor, limit=10)
    assert [e.type for e in first.events + rest.events] == [
        "worker.created", "worker.input_accepted", "worker.turn_started", "worker.output", "worker.turn_completed",
    ]
    assert not rest.has_more and rest.next_cursor == (await registry.read_events(A, limit=1000)).events[-1].id


async def test_worker_events_of_a_worker_in_another_runtime_are_unknown_worker(registry):
    worker_id = await create(registry, runtime_id=B)
    with pytest.raises(UnknownWorker):
        await registry.read_events(A, worker_id=worker_id)


async def test_worker_event_cursor_rules_are_the_runtime_rules():
    registry = await open_registry(event_retention=2)
    try:
        worker_id = await create(registry)
        for _ in range(3):
            await create(registry)
        with pytest.raises(CursorExpired):
            await registry.read_events(A, worker_id=worker_id, cursor=0)
        with pytest.raises(CursorExpired):
            await registry.read_events(A, worker_id=worker_id, cursor=99)
        assert (await registry.read_events(A, worker_id=worker_id)).events == ()
    finally:
        await registry.close()


async def test_wait_for_events_returns_at_once_when_an_event_is_already_there(registry):
    await create(registry)
    assert await registry.wait_for_events(A, cursor=0, timeout=5) is True


async def test_wait_for_events_times_out_with_false(registry):
    assert await registry.wait_for_events(A, cursor=0, timeout=0.01) is False


async def test_wait_for_events_wakes_every_waiter_on_a_new_event(registry):
    waiters = [asyncio.create_task(registry.wait_for_events(A, cursor=0, timeout=5)) for _ in range(3)]
    await asyncio.sleep(0.01)
    await create(registry)
    async with asyncio.timeout(1):
        assert await asyncio.gather(*waiters) == [True, True, True]


async def test_wait_for_events_is_not_woken_by_another_runtime(registry):
    waiter = asyncio.create_task(registry.wait_for_events(A, cursor=0, timeout=0.05))
    await asyncio.sleep(0.01)
    await create(registry, runtime_id=B)
    assert await waiter is False


async def test_close_wakes_waiters_promptly_with_false():
    registry = await open_registry()
    provider = registry.provider(A)
    waiter = asyncio.create_task(provider.wait_for_events(cursor=0, timeout=30))
    await asyncio.sleep(0.01)
    async with asyncio.timeout(1):
        await registry.close()
        assert await waiter is False
    assert await provider.wait_for_events(cursor=0, timeout=30) is False


# -- the log against a model ------------------------------------------------------


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    retention=st.integers(1, 8),
    appends=st.lists(st.sampled_from(["w1", "w2", None]), max_size=40),
    cursor=st.integers(-1, 45),
    limit=st.integers(1, 5),
    worker=st.sampled_from(["w1", "w2", None]),
)
def test_event_log_reads_match_a_naive_model(retention, appends, cursor, limit, worker):
    log = EventLog(retention)
    for worker_id in appends:
        log.append("t", worker_id, {})
    retained = list(range(max(1, len(appends) - retention + 1), len(appends) + 1))
    owner = {index + 1: worker_id for index, worker_id in enumerate(appends)}
    after = None if cursor < 0 else cursor
    oldest = retained[0] - 1 if retained else len(appends)
    if after is not None and (after < oldest or after > len(appends)):
        with pytest.raises(CursorExpired):
            log.read(cursor=after, limit=limit, worker_id=worker)
        return
    start = oldest if after is None else after
    matching = [i for i in retained if i > start and (worker is None or owner[i] == worker)]
    found = log.read(cursor=after, limit=limit, worker_id=worker)
    assert [e.id for e in found.events] == matching[:limit]
    assert found.has_more == (len(matching) > limit)
    assert all(found.next_cursor >= e.id for e in found.events)
    # Continuing from next_cursor never skips a matching event.
    rest = [i for i in matching if i > found.next_cursor]
    assert rest == matching[len(found.events):]


def test_event_log_compaction_keeps_ids_and_positions_right():
    log = EventLog(retention=10)
    for index in range(5000):
        log.append("t", "odd" if index % 2 else "even", {})
    assert (log.first_id, log.last_id, len(log)) == (4991, 5000, 10)
    assert [e.id for e in log.read(cursor=None, limit=100).events] == list(range(4991, 5001))
    assert [e.id for e in log.read(cursor=4994, limit=100, worker_id="odd").events] == [4996, 4998, 5000]
