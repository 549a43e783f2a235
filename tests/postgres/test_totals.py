"""Worker totals on PostgreSQL (decision 0201): the same on every replica, and after every replica restarted.

Two replicas of one runtime in this process, each with its own pool, on a
database of the test's own: turns run on one, are read (and cancelled) on
the other; then both close and a new replica reads the totals back.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from registry_core import (
    CreateWorkerRequest,
    HostExtensions,
    InputRequest,
    RuntimeContext,
    TokenUsage,
    TurnEngine,
    TurnFailed,
    TurnResult,
    WorkerTotals,
)
from registry_core.models import ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings
from tests.support.pg_server import PgServer

DSN_ENV = "RR_TEST_TOTALS_PG_DSN"
RUNTIME = "backend-internal"


async def metered(turn):
    if turn.input == "fail":
        raise TurnFailed("provider_error", "the model failed")
    if turn.input == "wait":
        await asyncio.sleep(60)
    return TurnResult("ok", TokenUsage(len(turn.input), 7), "end_turn")


ENGINE = TurnEngine("metered", metered)
EXTENSIONS = HostExtensions(engines={**BUILTIN_ENGINES, ENGINE.name: ENGINE}, tools={})


def replica(tmp_path: os.PathLike[str]) -> EmbeddedProvider:
    settings = EmbeddedSettings(
        profiles={"metered": ProfileSettings(engine=ENGINE.name)},  # type: ignore[arg-type]
        default_profile="metered",
        store=StoreSettings(backend=StoreBackend.POSTGRES, dsn_env=DSN_ENV, lease_seconds=2),
    )
    return EmbeddedProvider(RUNTIME, settings, context=RuntimeContext(tmp_path), extensions=EXTENSIONS)  # type: ignore[arg-type]


async def until(provider: EmbeddedProvider, worker_id: str, status: str) -> None:
    async with asyncio.timeout(10):
        while (await provider.get_worker(worker_id)).status != status:
            await asyncio.sleep(0.01)


@pytest.fixture
def database(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DSN_ENV, pg_server.dsn(pg_server.create_database("totals")))


async def test_totals_are_the_same_on_every_replica_and_after_a_restart(database, tmp_path) -> None:
    one, two = replica(tmp_path), replica(tmp_path)
    await one.start()
    await two.start()
    try:
        worker_id = (await one.create_worker(CreateWorkerRequest(profile=ProfileSelector("metered")))).worker_id
        for content in ("hello", "fail", "hello there"):
            await one.send_input(worker_id, InputRequest(content))  # type: ignore[arg-type]
            await until(one, worker_id, "idle")
        expected = WorkerTotals(turns=3, input_tokens=5 + 11, output_tokens=14)
        assert (await one.get_worker(worker_id)).totals == expected
        assert (await two.get_worker(worker_id)).totals == expected
        # A turn run by one replica and cancelled through the other counts once, everywhere.
        await one.send_input(worker_id, InputRequest("wait"))  # type: ignore[arg-type]
        await until(two, worker_id, "busy")
        await two.cancel_worker(worker_id)
        await until(one, worker_id, "idle")
        expected = WorkerTotals(4, 16, 14)
        assert (await one.get_worker(worker_id)).totals == expected
        assert (await two.get_worker(worker_id)).totals == expected
        listed = (await two.list_workers(limit=10, cursor=None)).items
        assert [(w.worker_id, w.totals) for w in listed] == [(worker_id, expected)]
    finally:
        await one.close()
        await two.close()

    again = replica(tmp_path)
    await again.start()
    try:
        assert (await again.get_worker(worker_id)).totals == WorkerTotals(4, 16, 14)
        await again.send_input(worker_id, InputRequest("more"))  # type: ignore[arg-type]
        await until(again, worker_id, "idle")
        assert (await again.get_worker(worker_id)).totals == WorkerTotals(5, 20, 21)
    finally:
        await again.close()


async def test_a_replica_that_replays_a_workers_whole_life_late_counts_each_turn_once(database, tmp_path) -> None:
    # The replay inserts a worker from its row as it is *now*; its totals must start from its
    # creation, else the turn-ending events that follow are counted twice.
    one, two = replica(tmp_path), replica(tmp_path)
    await one.start()
    await two.start()
    try:
        async with two.runtime.store._tail_lock:  # two replays nothing until the worker has a history
            worker_id = (await one.create_worker(CreateWorkerRequest(profile=ProfileSelector("metered")))).worker_id
            for content in ("hello", "hello there"):
                await one.send_input(worker_id, InputRequest(content))  # type: ignore[arg-type]
                await until(one, worker_id, "idle")
        expected = (await one.get_worker(worker_id)).totals
        assert expected is not None and expected.turns == 2
        assert (await two.get_worker(worker_id)).totals == expected
    finally:
        await one.close()
        await two.close()


async def test_a_replica_that_fell_behind_retention_serves_from_its_reloaded_cache(database, tmp_path) -> None:
    # Retention dropped events the replica had not replayed, so it reloads a snapshot: the runtime
    # must serve the new caches (it held the old roster and event log until a restart).
    one, two = replica(tmp_path), replica(tmp_path)
    await one.start()
    await two.start()
    try:
        async with two.runtime.store._tail_lock:  # two replays nothing meanwhile
            worker_id = (await one.create_worker(CreateWorkerRequest(profile=ProfileSelector("metered")))).worker_id
            for content in ("hello", "hello there", "hello again"):
                await one.send_input(worker_id, InputRequest(content))  # type: ignore[arg-type]
                await until(one, worker_id, "idle")
            await one.runtime.store.db.prune_events(4)
        seen = await two.get_worker(worker_id)  # two reloads: events it missed are gone
        assert seen.totals == (await one.get_worker(worker_id)).totals
        assert [w.worker_id for w in (await two.list_workers(limit=10, cursor=None)).items] == [worker_id]
        assert len((await two.read_events(cursor=None, limit=100)).events) == 4
    finally:
        await one.close()
        await two.close()
