"""The event log: ids, cursors, expiry, per-worker polls, retention and waiting."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry_core import CursorExpired, UnknownWorker
from runtime_registry.host import RuntimeRegistry
from runtime_registry.runtimes.embedded import EventLog

from .conftest import A, B, create, open_registry, send, until_idle


def first_id(registry: RuntimeRegistry, runtime_id: str = A) -> int:
    """The id of the runtime's first event: its per-run base (decision 0055)."""
    return registry.provider(runtime_id).runtime.events.start_id


async def test_event_ids_increase_strictly_across_workers_without_gaps(registry):
    for _ in range(3):
        await send(registry, await create(registry))
    page = await registry.read_events(A)
    ids = [e.id for e in page.events]
    assert ids == list(range(first_id(registry), first_id(registry) + len(ids)))


async def test_each_runtime_has_its_own_event_log(registry):
    await create(registry, runtime_id=A)
    await create(registry, runtime_id=A)
    assert [e.id for e in (await registry.read_events(B)).events] == []


async def test_no_cursor_reads_from_the_oldest_and_the_cursor_means_after(registry):
    for _ in range(4):
        await create(registry)
    one = first_id(registry)
    first = await registry.read_events(A, limit=2)
    assert [e.id for e in first.events] == [one, one + 1] and (first.next_cursor, first.has_more) == (one + 1, True)
    rest = await registry.read_events(A, cursor=first.next_cursor, limit=2)
    assert [e.id for e in rest.events] == [one + 2, one + 3] and (rest.next_cursor, rest.has_more) == (one + 3, False)


async def test_cursor_at_the_newest_event_is_an_empty_page_that_keeps_the_cursor(registry):
    await create(registry)
    page = await registry.read_events(A, cursor=first_id(registry))
    assert (page.events, page.next_cursor, page.has_more) == ((), first_id(registry), False)


async def test_empty_log_reads_as_an_empty_page_just_before_the_first_id(registry):
    page = await registry.read_events(A)
    assert (page.events, page.next_cursor, page.has_more) == ((), first_id(registry) - 1, False)


async def test_cursor_zero_reads_from_the_first_event_while_it_is_retained(registry):
    assert (await registry.read_events(A, cursor=0)).events == ()
    await create(registry)
    await create(registry)
    page = await registry.read_events(A, cursor=0)
    assert [e.id for e in page.events] == [first_id(registry), first_id(registry) + 1]


async def test_cursor_zero_is_cursor_expired_once_the_first_event_was_dropped():
    registry = await open_registry(event_retention=2)
    try:
        for _ in range(3):
            await create(registry)
        with pytest.raises(CursorExpired):
            await registry.read_events(A, cursor=0)
    finally:
        await registry.close()


async def test_cursor_newer_than_any_event_is_cursor_expired(registry):
    await create(registry)
    with pytest.raises(CursorExpired) as caught:
        await registry.read_events(A, cursor=first_id(registry) + 1)
    assert caught.value.runtime_id == A


async def test_cursor_older_than_retention_is_cursor_expired_never_a_skip():
    registry = await open_registry(event_retention=3)
    try:
        one = first_id(registry)
        for _ in range(5):
            await create(registry)
        with pytest.raises(CursorExpired):
            await registry.read_events(A, cursor=one)
        assert [e.id for e in (await registry.read_events(A, cursor=one + 1)).events] == [one + 2, one + 3, one + 4]
        assert [e.id for e in (await registry.read_events(A)).events] == [one + 2, one + 3, one + 4]
    finally:
        await registry.close()


async def test_a_cursor_below_this_runs_first_id_is_cursor_expired_even_with_nothing_dropped(registry):
    # What a client resuming after a restart holds: an id of the earlier run.
    for _ in range(3):
        await create(registry)
    for earlier in (1, first_id(registry) - 2):
        with pytest.raises(CursorExpired):
            await registry.read_events(A, cursor=earlier)
        with pytest.raises(CursorExpired):
            await registry.read_events(A, cursor=earlier, worker_id=(await registry.read_events(A)).events[0].worker_id)


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
        "worker.created",
        "worker.input_accepted",
        "worker.turn_started",
        "worker.output",
        "worker.turn_completed",
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
            await registry.read_events(A, worker_id=worker_id, cursor=first_id(registry) + 99)
        assert (await registry.read_events(A, worker_id=worker_id)).events == ()
    finally:
        await registry.close()


async def test_wait_for_events_returns_at_once_when_an_event_is_already_there(registry):
    await create(registry)
    assert await registry.wait_for_events(A, cursor=0, timeout=5) is True


async def test_wait_for_events_times_out_with_false(registry):
    assert await registry.wait_for_events(A, cursor=0, timeout=0.01) is False
    assert await registry.wait_for_events(A, cursor=first_id(registry) - 1, timeout=0.01) is False


async def test_wait_for_events_answers_at_once_for_a_cursor_of_an_earlier_run(registry):
    # There is something to read after it: the news that it expired.
    assert await registry.wait_for_events(A, cursor=first_id(registry) - 2, timeout=5) is True
    with pytest.raises(CursorExpired):
        await registry.read_events(A, cursor=first_id(registry) - 2)


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


@hypothesis_settings(max_examples=80, deadline=None)
@given(
    start=st.sampled_from([1, 2, 1_000, 1_764_000_000_000_000]),
    retention=st.integers(1, 8),
    appends=st.lists(st.sampled_from(["w1", "w2", None]), max_size=40),
    cursor=st.one_of(st.none(), st.just(0), st.integers(-3, 45)),
    limit=st.integers(1, 5),
    worker=st.sampled_from(["w1", "w2", None]),
)
def test_event_log_reads_match_a_naive_model(start, retention, appends, cursor, limit, worker):
    """``cursor`` is None (no cursor), 0 (before the first event) or relative to ``start - 1``."""
    log = EventLog(retention, start_id=start)
    for worker_id in appends:
        log.append("t", worker_id, {})
    issued = [start + index for index in range(len(appends))]
    retained = issued[-retention:]
    owner = dict(zip(issued, appends, strict=False))
    before_first = start - 1
    last = issued[-1] if issued else before_first
    oldest = retained[0] - 1 if retained else last
    if cursor is None:
        after = None
    elif cursor == 0:
        after = 0
    else:
        after = before_first + cursor
        if after <= 0:
            after = None  # not a cursor: the runtime's argument checks refuse it (test_errors.py)
    effective = before_first if after == 0 else after
    if effective is not None and (effective < oldest or effective > last):
        with pytest.raises(CursorExpired):
            log.read(cursor=after, limit=limit, worker_id=worker)
        return
    begin = oldest if effective is None else effective
    matching = [i for i in retained if i > begin and (worker is None or owner[i] == worker)]
    found = log.read(cursor=after, limit=limit, worker_id=worker)
    assert [e.id for e in found.events] == matching[:limit]
    assert found.has_more == (len(matching) > limit)
    assert all(found.next_cursor >= e.id for e in found.events)
    # Continuing from next_cursor never skips a matching event.
    rest = [i for i in matching if i > found.next_cursor]
    assert rest == matching[len(found.events) :]


def test_event_log_compaction_keeps_ids_and_positions_right():
    log = EventLog(retention=10, start_id=1)
    for index in range(5000):
        log.append("t", "odd" if index % 2 else "even", {})
    assert (log.first_id, log.last_id, len(log)) == (4991, 5000, 10)
    assert [e.id for e in log.read(cursor=None, limit=100).events] == list(range(4991, 5001))
    assert [e.id for e in log.read(cursor=4994, limit=100, worker_id="odd").events] == [4996, 4998, 5000]


def test_an_event_logs_ids_start_at_the_clock_in_microseconds_by_default():
    before = time.time_ns() // 1000
    log = EventLog(retention=10)
    after = time.time_ns() // 1000
    assert before <= log.start_id <= after
    assert log.append("t", None, {}).id == log.start_id
    # Exact in a JavaScript number (a double) for centuries to come.
    assert log.start_id < 2**53


def test_a_later_runs_ids_are_all_above_an_earlier_runs_that_averaged_under_one_event_per_microsecond():
    earlier = EventLog(retention=100)
    ids = [earlier.append("t", "w", {}).id for _ in range(50)]
    time.sleep(0.002)  # 2,000 µs for 50 events: well under one per µs, even on a fast machine
    later = EventLog(retention=100)
    assert later.append("t", "w", {}).id > ids[-1]


def test_an_earlier_runs_cursor_is_expired_in_a_later_run_that_passed_it():
    earlier = EventLog(retention=100, start_id=1_000)
    for _ in range(3):
        earlier.append("t", "w", {})
    cursor = earlier.last_id
    later = EventLog(retention=100, start_id=1_010)  # later on the clock: every id above the cursor
    for _ in range(6):
        later.append("t", "w", {})
    with pytest.raises(CursorExpired):
        later.read(cursor=cursor, limit=10)
    with pytest.raises(CursorExpired):
        later.read(cursor=cursor, limit=10, worker_id="w")


@pytest.mark.parametrize("start_id", [0, -1, True, 1.5])
def test_an_event_log_refuses_a_start_id_that_is_not_a_positive_integer(start_id):
    with pytest.raises(ValueError):
        EventLog(retention=10, start_id=start_id)
