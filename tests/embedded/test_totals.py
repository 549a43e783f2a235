"""Worker totals (decision 0201): turns, input and output tokens, kept by every embedded store.

Turns that completed (with and without usage), failed, were cancelled,
stopped or interrupted by a restart each count once; tokens come from
``worker.turn_completed``'s usage only. The SQLite store keeps them in its
file across a restart.
"""

from __future__ import annotations

import asyncio

import pytest

from registry_core import HostExtensions, RuntimeContext, TokenUsage, TurnEngine, TurnFailed, TurnResult, WorkerTotals
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.settings import Durability, StoreBackend, StoreSettings
from tests.embedded.durable import RUNTIME, create, durable_settings, send, store_file, until_idle


async def metered(turn):
    """Replies with usage; "fail" fails the turn, "wait" holds it until cancelled, "quiet" reports none."""
    if turn.input == "fail":
        raise TurnFailed("provider_error", "the model failed")
    if turn.input == "wait":
        await asyncio.sleep(60)
    if turn.input == "quiet":
        return TurnResult("ok", None, "end_turn")
    return TurnResult("ok", TokenUsage(len(turn.input), 7), "end_turn")


ENGINE = TurnEngine("metered", metered)
EXTENSIONS = HostExtensions(engines={**BUILTIN_ENGINES, ENGINE.name: ENGINE}, tools={})
PROFILES = {"metered": ProfileSettings(engine=ENGINE.name)}


def provider(tmp_path, store: StoreSettings) -> EmbeddedProvider:
    settings = durable_settings(profiles=PROFILES, default_profile="metered", store=store)
    return EmbeddedProvider(RUNTIME, settings, context=RuntimeContext(tmp_path), extensions=EXTENSIONS)


async def busy(provider: EmbeddedProvider, worker_id: str) -> None:
    async with asyncio.timeout(5):
        while (await provider.get_worker(worker_id)).status != "busy":
            await asyncio.sleep(0.005)


async def run_every_ending(runtime: EmbeddedProvider) -> tuple[str, str]:
    """One worker through every way a turn ends, and one worker stopped in a turn."""
    worker_id = await create(runtime)
    assert (await runtime.get_worker(worker_id)).totals == WorkerTotals(0, 0, 0)
    for content in ("hello", "hello there", "fail", "quiet"):
        await send(runtime, worker_id, content)
        await until_idle(runtime, worker_id)
    await send(runtime, worker_id, "wait")
    await busy(runtime, worker_id)
    assert (await runtime.get_worker(worker_id)).totals == WorkerTotals(4, 5 + 11, 14), "a turn in flight counts"
    await runtime.cancel_worker(worker_id)
    await until_idle(runtime, worker_id)
    stopped = await create(runtime)
    await send(runtime, stopped, "wait")
    await busy(runtime, stopped)
    await runtime.stop_worker(stopped)
    return worker_id, stopped


STORES = {
    "memory": StoreSettings(backend=StoreBackend.MEMORY),
    "sqlite-acknowledged": StoreSettings(durability=Durability.ACKNOWLEDGED),
    "sqlite-batched": StoreSettings(durability=Durability.BATCHED),
}


@pytest.mark.parametrize("store", STORES.values(), ids=STORES.keys())
async def test_every_turn_that_ends_counts_once_and_completed_turns_add_their_usage(tmp_path, store):
    runtime = provider(tmp_path, store)
    await runtime.start()
    try:
        worker_id, stopped = await run_every_ending(runtime)
        totals = WorkerTotals(turns=5, input_tokens=5 + 11, output_tokens=14)
        assert (await runtime.get_worker(worker_id)).totals == totals
        assert (await runtime.get_worker(stopped)).totals == WorkerTotals(1, 0, 0)
        listed = {w.worker_id: w.totals for w in (await runtime.list_workers(limit=10, cursor=None)).items}
        assert listed == {worker_id: totals, stopped: WorkerTotals(1, 0, 0)}
    finally:
        await runtime.close()


@pytest.mark.parametrize("durability", [Durability.ACKNOWLEDGED, Durability.BATCHED])
async def test_totals_survive_a_restart_and_an_interrupted_turn_counts(tmp_path, durability):
    store = StoreSettings(durability=durability)
    first = provider(tmp_path, store)
    await first.start()
    worker_id, stopped = await run_every_ending(first)
    in_flight = await create(first)
    await send(first, in_flight, "hi")
    await until_idle(first, in_flight)
    await send(first, in_flight, "wait")
    await busy(first, in_flight)
    await first.close()
    assert store_file(tmp_path).stat().st_size > 0

    second = provider(tmp_path, store)
    await second.start()
    try:
        assert (await second.get_worker(worker_id)).totals == WorkerTotals(5, 16, 14)
        assert (await second.get_worker(stopped)).totals == WorkerTotals(1, 0, 0)
        # The turn in flight at close ended once: cancelled at shutdown or interrupted at the restart.
        assert (await second.get_worker(in_flight)).totals == WorkerTotals(2, 2, 7)
        await send(second, worker_id, "again")
        await until_idle(second, worker_id)
        assert (await second.get_worker(worker_id)).totals == WorkerTotals(6, 21, 21)
    finally:
        await second.close()
    third = provider(tmp_path, store)
    await third.start()
    try:
        assert (await third.get_worker(worker_id)).totals == WorkerTotals(6, 21, 21)
    finally:
        await third.close()


async def test_a_store_file_of_schema_5_is_migrated_and_its_workers_start_from_zero(tmp_path):
    import sqlite3

    store = StoreSettings(durability=Durability.ACKNOWLEDGED)
    first = provider(tmp_path, store)
    await first.start()
    worker_id = await create(first)
    await send(first, worker_id, "hello")
    await until_idle(first, worker_id)
    await first.close()
    with sqlite3.connect(store_file(tmp_path)) as connection:
        # Schema 5's one table of workers, from today's two (decision 0197), without the totals.
        connection.execute(
            "CREATE TABLE workers_v5 AS SELECT serial, worker_id, label, intent, profile, created_us, status,"
            " turn_number, entries, tools, status_since_us FROM workers JOIN worker_state USING (serial)"
        )
        connection.execute("DROP TABLE workers")
        connection.execute("DROP TABLE worker_state")
        connection.execute("ALTER TABLE workers_v5 RENAME TO workers")
        connection.execute("UPDATE schema_version SET version = 5")
        connection.execute("PRAGMA user_version = 5")
    second = provider(tmp_path, store)
    await second.start()
    try:
        assert (await second.get_worker(worker_id)).totals == WorkerTotals(0, 0, 0)
        await send(second, worker_id, "hi")
        await until_idle(second, worker_id)
        assert (await second.get_worker(worker_id)).totals == WorkerTotals(1, 2, 7)
    finally:
        await second.close()


@pytest.mark.parametrize("store", STORES.values(), ids=STORES.keys())
async def test_an_interrupted_turn_and_queued_turns_each_count_once(tmp_path, store):
    from registry_core import InputRequest
    from registry_core.models import BusyPolicy

    runtime = provider(tmp_path, store)
    await runtime.start()
    try:
        worker_id = await create(runtime)
        await send(runtime, worker_id, "wait")
        await busy(runtime, worker_id)
        # Interrupt: the running turn ends cancelled (one turn), this input's turn runs (another).
        await runtime.send_input(worker_id, InputRequest("abc", if_busy=BusyPolicy.INTERRUPT))  # type: ignore[arg-type]
        await until_idle(runtime, worker_id)
        assert (await runtime.get_worker(worker_id)).totals == WorkerTotals(2, 3, 7)
        # Two queued behind a running turn: three turns, each counted once when it ends.
        await send(runtime, worker_id, "first")
        for content in ("second", "third"):
            await runtime.send_input(worker_id, InputRequest(content, if_busy=BusyPolicy.ENQUEUE))  # type: ignore[arg-type]
        async with asyncio.timeout(10):
            while (await runtime.get_worker(worker_id)).totals.turns < 5:
                await asyncio.sleep(0.01)
        await until_idle(runtime, worker_id)
        assert (await runtime.get_worker(worker_id)).totals == WorkerTotals(5, 3 + 5 + 6 + 5, 28)
    finally:
        await runtime.close()
