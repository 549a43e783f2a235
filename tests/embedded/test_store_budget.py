"""The per-runtime byte budget of stored content, ``max_store_bytes`` (issue 12, point 2)."""

from __future__ import annotations

import pytest

from registry_core import CapacityExceeded, Intent, IntentKind
from registry_core.models import LongText
from runtime_registry.runtimes.embedded import EmbeddedRuntime

from .conftest import A, create, event_types, open_registry, send, settings, until_idle

BUDGET = 100_000
CONTENT = "x" * 9_000  # about 9.1 KB as an entry; an echo turn takes two


def _runtime(registry) -> EmbeddedRuntime:
    return registry.provider(A).runtime


async def _fill(registry, worker_id) -> int:
    """Send echo inputs until the store refuses one; how many were accepted."""
    accepted = 0
    while True:
        try:
            await send(registry, worker_id, CONTENT)
        except CapacityExceeded as refused:
            assert "max_store_bytes" in refused.message
            return accepted
        accepted += 1
        await until_idle(registry, worker_id)


async def test_input_beyond_the_budget_is_capacity_exceeded_and_leaves_no_trace():
    registry = await open_registry(max_store_bytes=BUDGET)
    try:
        worker_id = await create(registry, "echo-now")
        accepted = await _fill(registry, worker_id)
        assert accepted == 5  # 5 × 2 × ~9.1 KB fit in 100 KB; a sixth turn would not
        runtime = _runtime(registry)
        assert runtime.store.budget.used <= BUDGET
        worker = await registry.get_worker(A, worker_id)
        assert worker.transcript_length == 2 * accepted and worker.status == "idle"
        assert (await event_types(registry, worker_id)).count("worker.input_accepted") == accepted
        # A smaller input still fits.
        await send(registry, worker_id, "short")
    finally:
        await registry.close()


async def test_deleting_a_worker_frees_what_it_held():
    registry = await open_registry(max_store_bytes=BUDGET)
    try:
        first = await create(registry, "echo-now")
        await _fill(registry, first)
        second = await create(registry, "echo-now")
        with pytest.raises(CapacityExceeded):
            await send(registry, second, CONTENT)
        await registry.delete_worker(A, first)
        await send(registry, second, CONTENT)
        await until_idle(registry, second)
        await registry.delete_worker(A, second)
        assert _runtime(registry).store.budget.used == 0  # every byte charged was given back
    finally:
        await registry.close()


async def test_a_reply_is_reserved_when_its_input_is_accepted_and_given_back_on_cancel():
    registry = await open_registry(max_store_bytes=BUDGET)
    try:
        holding = await create(registry, "hold")
        other = await create(registry, "echo-now")
        runtime = _runtime(registry)
        base = runtime.store.budget.used
        await send(registry, holding, CONTENT)
        charged = runtime.store.budget.used - base
        assert runtime.store.budget.reserved(holding) == charged // 2  # the reply's entry, the same size as the input's
        await registry.cancel_worker(A, holding)
        assert runtime.store.budget.reserved(holding) == 0
        assert runtime.store.budget.used - base == charged // 2
        # Reservations count against the budget: held replies cannot be overrun.
        for _ in range(20):
            try:
                await send(registry, other, CONTENT)
            except CapacityExceeded:
                break
            await until_idle(registry, other)
        assert runtime.store.budget.used <= BUDGET
    finally:
        await registry.close()


async def test_a_stopped_turn_gives_its_reservation_back():
    registry = await open_registry(max_store_bytes=BUDGET)
    try:
        worker_id = await create(registry, "hold")
        await send(registry, worker_id, CONTENT)
        await registry.stop_worker(A, worker_id)
        assert _runtime(registry).store.budget.reserved(worker_id) == 0
    finally:
        await registry.close()


async def test_a_worker_whose_texts_do_not_fit_is_capacity_exceeded():
    registry = await open_registry(max_store_bytes=65_536)
    try:
        big = LongText("\x01" * 4000)  # 24 KB each as JSON (\u0001 per character)
        intent = Intent(IntentKind.TASK, purpose=big, objective=big)
        created = 0
        with pytest.raises(CapacityExceeded):
            for _ in range(10):
                await create(registry, intent=intent)
                created += 1
        assert created == 1
        assert len(_runtime(registry)) == created
    finally:
        await registry.close()


async def test_the_event_log_keeps_its_data_within_the_budget():
    registry = await open_registry(max_store_bytes=BUDGET)
    try:
        for _ in range(4):
            worker_id = await create(registry, "echo-now")
            await _fill(registry, worker_id)
            await registry.delete_worker(A, worker_id)
        log = _runtime(registry).events
        assert log.retained_bytes <= BUDGET
        page = await registry.read_events(A, limit=1000)
        assert page.events[-1].type == "worker.deleted"
    finally:
        await registry.close()


def test_the_default_budget_fits_a_small_machine():
    assert settings().max_store_bytes == 128 * 1024 * 1024
