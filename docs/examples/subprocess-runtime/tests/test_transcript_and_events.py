"""Transcript paging, the event log and its cursors, and waiting for events."""

from __future__ import annotations

import asyncio
import time

import pytest
from processes import wait_until_idle

from registry_core import CreateWorkerRequest, CursorExpired, InputRequest, UnknownWorker, data_problems, order_problems


async def worker_with_turns(provider, *inputs):
    worker = await provider.create_worker(CreateWorkerRequest())
    for content in inputs:
        await provider.send_input(worker.worker_id, InputRequest(content))
        await wait_until_idle(provider, worker.worker_id)
    return worker.worker_id


async def test_transcript_pages_follow_next_start_to_the_end(start_provider):
    provider = await start_provider()
    worker_id = await worker_with_turns(provider, "a", "b")
    first = await provider.read_transcript(worker_id, start=1, limit=3)
    second = await provider.read_transcript(worker_id, start=first.next_start, limit=3)
    assert [e.sequence for e in first.items] == [1, 2, 3] and first.next_start == 4
    assert [e.content for e in second.items] == ["B"] and second.next_start is None
    assert first.total == second.total == 4


async def test_a_page_past_the_end_is_empty(start_provider):
    provider = await start_provider()
    worker_id = await worker_with_turns(provider, "a")
    page = await provider.read_transcript(worker_id, start=10, limit=5)
    assert (page.items, page.next_start, page.total) == ((), None, 2)


async def test_each_entry_points_at_the_event_that_made_it(start_provider):
    provider = await start_provider()
    worker_id = await worker_with_turns(provider, "a")
    events = {e.id: e.type for e in (await provider.read_events(cursor=None, limit=100)).events}
    entries = (await provider.read_transcript(worker_id, start=1, limit=10)).items
    assert [events[entry.event_id] for entry in entries] == ["worker.input_accepted", "worker.output"]


async def test_a_turn_emits_its_events_in_order_with_increasing_ids(start_provider):
    provider = await start_provider()
    worker_id = await worker_with_turns(provider, "a")
    events = (await provider.read_events(cursor=None, limit=100, worker_id=worker_id)).events
    assert [e.type for e in events] == [
        "worker.created",
        "worker.input_accepted",
        "worker.turn_started",
        "worker.output",
        "worker.turn_completed",
    ]
    assert [e.id for e in events] == list(range(1, 6))
    assert events[-1].data == {"turn": 1, "outcome": "succeeded", "exit_code": 0}


async def test_every_event_holds_to_the_event_contract(start_provider):
    provider = await start_provider()
    worker_id = await worker_with_turns(provider, "a", "b")
    await provider.stop_worker(worker_id)
    events = (await provider.read_events(cursor=0, limit=100, worker_id=worker_id)).events
    assert [problem for event in events for problem in data_problems(event, kind="subprocess")] == []
    assert order_problems(events) == []


async def test_a_cursor_returns_only_later_events_and_where_to_go_on(start_provider):
    provider = await start_provider()
    for _ in range(3):
        await provider.create_worker(CreateWorkerRequest())
    page = await provider.read_events(cursor=1, limit=1)
    assert ([e.id for e in page.events], page.next_cursor, page.has_more) == ([2], 2, True)
    rest = await provider.read_events(cursor=page.next_cursor, limit=10)
    assert ([e.id for e in rest.events], rest.next_cursor, rest.has_more) == ([3], 3, False)


async def test_an_empty_poll_keeps_the_cursor(start_provider):
    provider = await start_provider()
    await provider.create_worker(CreateWorkerRequest())
    page = await provider.read_events(cursor=1, limit=10)
    assert (page.events, page.next_cursor, page.has_more) == ((), 1, False)


async def test_a_cursor_newer_than_the_newest_event_is_expired(start_provider):
    provider = await start_provider()
    await provider.create_worker(CreateWorkerRequest())
    with pytest.raises(CursorExpired):
        await provider.read_events(cursor=2, limit=10)


async def test_a_cursor_older_than_the_retained_events_is_expired(start_provider):
    provider = await start_provider(event_retention=2)
    for _ in range(4):
        await provider.create_worker(CreateWorkerRequest())
    with pytest.raises(CursorExpired):
        await provider.read_events(cursor=1, limit=10)
    assert [e.id for e in (await provider.read_events(cursor=2, limit=10)).events] == [3, 4]
    assert [e.id for e in (await provider.read_events(cursor=None, limit=10)).events] == [3, 4]


async def test_one_workers_events_skip_the_others_but_advance_the_cursor(start_provider):
    provider = await start_provider()
    first = await provider.create_worker(CreateWorkerRequest())
    await provider.create_worker(CreateWorkerRequest())
    page = await provider.read_events(cursor=None, limit=10, worker_id=first.worker_id)
    assert [e.worker_id for e in page.events] == [first.worker_id]
    assert page.next_cursor == 2


async def test_events_of_an_unknown_worker_are_a_typed_error(start_provider):
    provider = await start_provider()
    with pytest.raises(UnknownWorker):
        await provider.read_events(cursor=None, limit=10, worker_id="sp-000000000000")


async def test_a_waiter_wakes_when_an_event_arrives(start_provider):
    provider = await start_provider()
    waiter = asyncio.create_task(provider.wait_for_events(cursor=0, timeout=5))
    await asyncio.sleep(0)
    await provider.create_worker(CreateWorkerRequest())
    assert await waiter is True


async def test_waiting_with_nothing_new_times_out_false(start_provider):
    provider = await start_provider()
    assert await provider.wait_for_events(cursor=0, timeout=0.01) is False


async def test_waiting_for_an_event_already_there_answers_at_once(start_provider):
    provider = await start_provider()
    await provider.create_worker(CreateWorkerRequest())
    assert await provider.wait_for_events(cursor=0, timeout=5) is True


async def test_close_wakes_waiters_and_later_waits_return_at_once(start_provider):
    provider = await start_provider()
    waiter = asyncio.create_task(provider.wait_for_events(cursor=0, timeout=5))
    await asyncio.sleep(0)
    await provider.close()
    async with asyncio.timeout(1):
        assert await waiter is False
        assert await provider.wait_for_events(cursor=0, timeout=5) is False


# -- ids across restarts: every run starts above the last (the clock in microseconds) ----------


async def test_event_ids_start_at_the_clock_in_microseconds(start_provider):
    before = time.time_ns() // 1000
    provider = await start_provider(event_start_id=None)
    after = time.time_ns() // 1000
    await provider.create_worker(CreateWorkerRequest())
    (event,) = (await provider.read_events(cursor=None, limit=10)).events
    assert before <= event.id <= after < 2**53


async def test_a_cursor_from_before_a_restart_is_expired_however_far_the_new_run_got(start_provider):
    first_run = await start_provider(event_start_id=None)
    await first_run.create_worker(CreateWorkerRequest())
    old_cursor = (await first_run.read_events(cursor=None, limit=10)).next_cursor
    await first_run.close()
    await asyncio.sleep(0.001)
    second_run = await start_provider(event_start_id=None)  # the same runtime, restarted
    for _ in range(3):  # more events than the first run issued
        await second_run.create_worker(CreateWorkerRequest())
    with pytest.raises(CursorExpired):
        await second_run.read_events(cursor=old_cursor, limit=10)


async def test_cursor_zero_means_from_this_runs_first_event(start_provider):
    provider = await start_provider(event_start_id=None)
    assert await provider.wait_for_events(cursor=0, timeout=0.01) is False
    first = await provider.create_worker(CreateWorkerRequest())
    page = await provider.read_events(cursor=0, limit=10)
    assert [e.worker_id for e in page.events] == [first.worker_id]
    assert await provider.wait_for_events(cursor=0, timeout=5) is True


async def test_cursor_zero_is_expired_once_the_first_event_was_dropped(start_provider):
    provider = await start_provider(event_start_id=None, event_retention=1)
    for _ in range(2):
        await provider.create_worker(CreateWorkerRequest())
    with pytest.raises(CursorExpired):
        await provider.read_events(cursor=0, limit=10)
