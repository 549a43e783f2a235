"""Deleting workers: gone for good, turn cancelled, capacity freed, ids never reused, pages and cursors intact."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from registry_core import CapacityExceeded, InvalidCursor, RuntimeStatus, UnknownWorker
from runtime_registry.runtimes.embedded import EmbeddedRuntime

from .conftest import A, B, create, event_types, open_registry, send, settings


async def listed_ids(registry, limit: int = 1000, runtime_id: str = A) -> list[str]:
    """Every listed worker id, page by page."""
    ids: list[str] = []
    cursor = None
    while True:
        page = await registry.list_workers(runtime_id, limit=limit, cursor=cursor)
        ids += [worker.worker_id for worker in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


async def runtime_event_types(registry, worker_id: str) -> list[str]:
    page = await registry.read_events(A, limit=1000)
    return [event.type for event in page.events if event.worker_id == worker_id]


async def test_deleting_an_idle_worker_answers_a_changed_delete(registry):
    worker_id = await create(registry)
    result = await registry.delete_worker(A, worker_id)
    assert (result.runtime_id, result.worker_id, result.action, result.changed, result.status) == (
        A,
        worker_id,
        "delete",
        True,
        "stopped",
    )


async def test_a_deleted_worker_is_unknown_to_every_operation(registry):
    worker_id = await create(registry)
    await registry.delete_worker(A, worker_id)
    for call in (
        registry.get_worker(A, worker_id),
        send(registry, worker_id),
        registry.cancel_worker(A, worker_id),
        registry.stop_worker(A, worker_id),
        registry.read_transcript(A, worker_id),
        registry.read_events(A, worker_id=worker_id),
    ):
        with pytest.raises(UnknownWorker):
            await call


async def test_deleting_twice_is_unknown_worker(registry):
    worker_id = await create(registry)
    await registry.delete_worker(A, worker_id)
    with pytest.raises(UnknownWorker) as raised:
        await registry.delete_worker(A, worker_id)
    assert (raised.value.runtime_id, raised.value.worker_id) == (A, worker_id)


async def test_deleting_a_worker_of_another_runtime_is_unknown_and_keeps_it(registry):
    worker_id = await create(registry)
    with pytest.raises(UnknownWorker):
        await registry.delete_worker(B, worker_id)
    assert (await registry.get_worker(A, worker_id)).status == "idle"


async def test_deleting_a_busy_worker_cancels_its_turn(registry):
    worker_id = await create(registry, "hold")
    await send(registry, worker_id)
    turn = registry.provider(A).runtime.get_worker(worker_id).turn
    await registry.delete_worker(A, worker_id)
    await asyncio.sleep(0)
    assert turn.cancelled()
    assert (await runtime_event_types(registry, worker_id))[-3:] == [
        "worker.turn_cancelled",
        "worker.stopped",
        "worker.deleted",
    ]


async def test_deleting_a_stopped_worker_appends_only_the_deleted_event(registry):
    worker_id = await create(registry)
    await registry.stop_worker(A, worker_id)
    await registry.delete_worker(A, worker_id)
    assert await runtime_event_types(registry, worker_id) == ["worker.created", "worker.stopped", "worker.deleted"]


async def test_the_deleted_workers_earlier_events_stay_in_the_log(registry):
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id)
    await asyncio.sleep(0.01)
    before = await event_types(registry, worker_id)
    await registry.delete_worker(A, worker_id)
    assert await runtime_event_types(registry, worker_id) == [*before, "worker.stopped", "worker.deleted"]


async def test_deleting_frees_the_workers_capacity_slot():
    registry = await open_registry(max_workers=2)
    try:
        first = await create(registry)
        await create(registry)
        with pytest.raises(CapacityExceeded):
            await create(registry)
        await registry.delete_worker(A, first)
        assert await create(registry)
    finally:
        await registry.close()


async def test_a_full_runtime_is_running_again_after_a_delete():
    registry = await open_registry(max_workers=1)
    try:
        worker_id = await create(registry)
        assert (await registry.describe_runtime(A)).status is RuntimeStatus.DEGRADED
        await registry.delete_worker(A, worker_id)
        assert (await registry.describe_runtime(A)).status is RuntimeStatus.RUNNING
    finally:
        await registry.close()


async def test_a_deleted_workers_id_is_never_issued_again():
    runtime = EmbeddedRuntime(settings(max_workers=1))
    deleted = set()
    for _ in range(200):
        worker_id = (await runtime.create_worker()).worker.worker_id
        assert worker_id not in deleted
        await runtime.delete(worker_id)
        deleted.add(worker_id)


async def test_a_new_worker_gets_a_new_id_even_when_the_random_part_repeats(monkeypatch):
    runtime = EmbeddedRuntime(settings())
    monkeypatch.setattr("registry_core.blocks.roster.secrets.token_hex", lambda n: "0" * (2 * n))
    first = (await runtime.create_worker()).worker.worker_id
    await runtime.delete(first)
    assert (await runtime.create_worker()).worker.worker_id != first


async def test_the_list_skips_deleted_workers_and_keeps_creation_order(registry):
    ids = [await create(registry) for _ in range(7)]
    for worker_id in ids[1::2]:
        await registry.delete_worker(A, worker_id)
    assert await listed_ids(registry, limit=2) == ids[0::2]


async def test_a_cursor_stays_valid_when_its_worker_is_deleted(registry):
    ids = [await create(registry) for _ in range(5)]
    page = await registry.list_workers(A, limit=2)
    await registry.delete_worker(A, ids[1])  # the worker the cursor names
    rest = await registry.list_workers(A, limit=10, cursor=page.next_cursor)
    assert [worker.worker_id for worker in rest.items] == ids[2:]


async def test_a_cursor_stays_valid_across_the_compaction_of_deleted_workers(registry):
    ids = [await create(registry) for _ in range(10)]
    page = await registry.list_workers(A, limit=3)
    for worker_id in ids[:8]:  # far more than half: the roster compacts
        await registry.delete_worker(A, worker_id)
    rest = await registry.list_workers(A, limit=10, cursor=page.next_cursor)
    assert [worker.worker_id for worker in rest.items] == ids[8:]


async def test_the_last_page_has_no_cursor_when_the_workers_after_it_were_deleted(registry):
    ids = [await create(registry) for _ in range(4)]
    await registry.delete_worker(A, ids[2])
    await registry.delete_worker(A, ids[3])
    page = await registry.list_workers(A, limit=2)
    assert ([w.worker_id for w in page.items], page.next_cursor) == (ids[:2], None)


async def test_deleting_every_worker_leaves_an_empty_list(registry):
    ids = [await create(registry) for _ in range(5)]
    for worker_id in ids:
        await registry.delete_worker(A, worker_id)
    page = await registry.list_workers(A, limit=10)
    assert (page.items, page.next_cursor) == ((), None)


async def test_workers_created_after_deletes_are_listed_last(registry):
    ids = [await create(registry) for _ in range(3)]
    await registry.delete_worker(A, ids[0])
    later = await create(registry)
    assert await listed_ids(registry, limit=1) == [ids[1], ids[2], later]


@pytest.mark.parametrize(
    "forge",
    [
        lambda serial, tag: str(serial),
        lambda serial, tag: f"0{serial}-{tag}",
        lambda serial, tag: f"{serial + 1000}-{tag}",
        lambda serial, tag: f"{serial}-{tag}x",
        lambda serial, tag: f"-{tag}",
        lambda serial, tag: f"{serial}.0-{tag}",
        lambda serial, tag: f"{'9' * 30}-{tag}",
        lambda serial, tag: "w-0123456789abcdef",
    ],
    ids=[
        "no tag",
        "leading zero",
        "not yet issued",
        "other tag",
        "no serial",
        "not an integer",
        "too long",
        "a worker id",
    ],
)
async def test_a_cursor_the_runtime_did_not_issue_is_invalid(registry, forge):
    await create(registry)
    await create(registry)
    issued = (await registry.list_workers(A, limit=1)).next_cursor
    serial, _, tag = issued.partition("-")
    with pytest.raises(InvalidCursor):
        await registry.list_workers(A, limit=1, cursor=forge(int(serial), tag))


async def test_a_cursor_from_before_a_restart_is_invalid_even_with_the_same_serials():
    earlier = EmbeddedRuntime(settings(), worker_start_serial=100)
    for _ in range(3):
        await earlier.create_worker()
    _, cursor = earlier.list_workers(limit=1)
    later = EmbeddedRuntime(settings(), worker_start_serial=100)
    for _ in range(3):
        await later.create_worker()
    with pytest.raises(InvalidCursor):
        later.list_workers(limit=1, cursor=cursor)


async def test_a_cursor_of_another_runtime_is_invalid(registry):
    await create(registry, runtime_id=B)
    await create(registry)
    await create(registry)
    cursor = (await registry.list_workers(A, limit=1)).next_cursor
    with pytest.raises(InvalidCursor):
        await registry.list_workers(B, limit=1, cursor=cursor)


async def test_deleting_after_close_still_forgets_the_worker(registry):
    worker_id = await create(registry)
    await registry.provider(A).runtime.close()
    await registry.provider(A).runtime.delete(worker_id)
    with pytest.raises(UnknownWorker):
        registry.provider(A).runtime.get_worker(worker_id)


async def churned_bytes(cycles: int) -> int:
    """Bytes a runtime keeps after ``cycles`` creates, each with an input, each deleted."""
    gc.collect()
    tracemalloc.start()
    runtime = EmbeddedRuntime(settings(max_workers=1, event_retention=50))
    for _ in range(cycles):
        worker = (await runtime.create_worker()).worker
        runtime.events.append("worker.output", worker.worker_id, {})
        await runtime.delete(worker.worker_id)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del runtime
    return kept


async def test_creating_and_deleting_for_ever_keeps_memory_bounded():
    # One index of event ids per worker ever created would add ~200 B a cycle: 800 KB here.
    assert await churned_bytes(5_000) - await churned_bytes(1_000) < 50_000


async def test_a_deleted_workers_events_leave_the_log_by_retention_as_before():
    runtime = EmbeddedRuntime(settings(event_retention=3))
    worker_id = (await runtime.create_worker()).worker.worker_id
    await runtime.delete(worker_id)
    kept = (await runtime.create_worker()).worker.worker_id
    for _ in range(3):
        runtime.events.append("worker.output", kept, {})
    assert {event.worker_id for event in runtime.read_events(cursor=None, limit=10).events} == {kept}
