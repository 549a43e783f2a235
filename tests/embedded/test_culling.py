"""Culling (issue 20; decision 0220) on the stores that decide in this process: memory and SQLite.

The stores stamp status times from ``store.clock``; the tests move that clock
instead of sleeping, so "idle for an hour" takes no hour and the deadlines
are exact. One test lets the runtime's own sweeping task run on the real
clock. SQLite tests use real files and real restarts (a new store on the file).
PostgreSQL: tests/postgres/test_culling.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_core.errors import CapacityExceeded, WorkerStopped
from registry_core.event_contract import data_problems, order_problems
from runtime_registry.host import ConfigError, assemble, discover_plugins, parse_config
from runtime_registry.runtimes.embedded.culling import SWEEP_LIMIT, CullPolicy, ExpiryIndex, sweep_interval
from runtime_registry.runtimes.embedded.memory_store import LocalStore, MemoryStore
from runtime_registry.runtimes.embedded.runtime import EmbeddedRuntime
from runtime_registry.runtimes.embedded.settings import (
    Durability,
    EmbeddedSettings,
    ProfileBase,
    ProfileSettings,
)
from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore

IDLE = 100.0
STOPPED = 50.0
T0 = 1_800_000_000.0
PROFILES = {
    "hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60.0),
    "echo": ProfileSettings(base=ProfileBase.ECHO),
}


class Clock:
    """A clock the test moves (epoch seconds)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings(**overrides: object) -> EmbeddedSettings:
    values: dict[str, object] = {
        "idle_stop_seconds": IDLE,
        "stopped_delete_seconds": STOPPED,
        "profiles": PROFILES,
        "max_workers": 5000,
    }
    values.update(overrides)
    return EmbeddedSettings(**values)  # type: ignore[arg-type]


StoreFactory = Callable[[], LocalStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A new store each call; SQLite ones on the same real file (a second one is a restart)."""
    if request.param == "memory":
        return MemoryStore
    return lambda: SQLiteStore(tmp_path / "state" / "culling.db", durability=Durability.ACKNOWLEDGED)


async def runtime_on(store: LocalStore, clock: Clock, **overrides: object) -> EmbeddedRuntime:
    store.clock = clock  # type: ignore[method-assign]
    runtime = EmbeddedRuntime(settings(**overrides), store=store)
    await runtime.start()
    # The tests sweep by hand, at the clock they set: the runtime's own task stays out of the way.
    if runtime.culler is not None:
        await runtime.culler.stop()
    return runtime


def events_of(runtime: EmbeddedRuntime, worker_id: str | None = None) -> list[tuple[str, dict[str, object]]]:
    page = runtime.read_events(cursor=None, limit=1000)
    return [(e.type, dict(e.data)) for e in page.events if worker_id is None or e.worker_id == worker_id]


async def test_an_idle_worker_is_stopped_at_its_deadline_and_not_before(make_store: StoreFactory) -> None:
    clock = Clock()
    runtime = await runtime_on(make_store(), clock)
    try:
        worker_id = (await runtime.create_worker()).worker.worker_id
        clock.now = T0 + IDLE - 0.001
        assert (await runtime.cull()).stopped == ()
        assert runtime.get_worker(worker_id).status == "idle"
        clock.now = T0 + IDLE
        assert (await runtime.cull()).stopped == (worker_id,)
        assert runtime.get_worker(worker_id).status == "stopped"
        assert events_of(runtime, worker_id)[-1] == ("worker.stopped", {"reason": "idle"})
        with pytest.raises(WorkerStopped):
            await runtime.send_input(worker_id, "too late")
    finally:
        await runtime.close()


async def test_a_busy_worker_is_never_stopped_and_idle_counts_from_the_end_of_its_turn(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    runtime = await runtime_on(make_store(), clock)
    try:
        worker_id = (await runtime.create_worker(profile="hold")).worker.worker_id
        clock.now = T0 + 10
        await runtime.send_input(worker_id, "a long turn")
        clock.now = T0 + 10 * IDLE  # busy far past the allowance
        assert (await runtime.cull()).stopped == ()
        assert runtime.get_worker(worker_id).status == "busy"
        await runtime.cancel(worker_id)  # idle from now on
        clock.now += IDLE - 1
        assert (await runtime.cull()).stopped == ()
        clock.now += 1
        assert (await runtime.cull()).stopped == (worker_id,)
    finally:
        await runtime.close()


async def test_a_completed_turn_restarts_the_idle_time(make_store: StoreFactory) -> None:
    clock = Clock()
    runtime = await runtime_on(make_store(), clock)
    try:
        worker_id = (await runtime.create_worker(profile="echo")).worker.worker_id
        clock.now = T0 + IDLE / 2
        await runtime.send_input(worker_id, "hello")
        async with asyncio.timeout(10):
            while runtime.get_worker(worker_id).status != "idle":
                await asyncio.sleep(0.005)
        clock.now = T0 + IDLE + 1  # past the creation's deadline, not the turn's
        assert (await runtime.cull()).stopped == ()
        clock.now = T0 + IDLE / 2 + IDLE
        assert (await runtime.cull()).stopped == (worker_id,)
    finally:
        await runtime.close()


async def test_stopped_workers_are_deleted_when_they_expire_and_free_their_slot(make_store: StoreFactory) -> None:
    clock = Clock()
    runtime = await runtime_on(make_store(), clock, max_workers=2, idle_stop_seconds=None)
    try:
        by_client = (await runtime.create_worker()).worker.worker_id
        clock.now = T0 + 1
        await runtime.stop(by_client)
        kept = (await runtime.create_worker()).worker.worker_id
        with pytest.raises(CapacityExceeded):
            await runtime.create_worker()
        clock.now = T0 + 1 + STOPPED
        result = await runtime.cull()
        assert result.deleted == (by_client,)
        assert result.stopped == ()  # idle culling is off
        assert [w.worker_id for w in runtime.list_workers(limit=10)[0]] == [kept]
        assert events_of(runtime)[-1] == ("worker.deleted", {"reason": "expired"})
        # The client's stop carries no reason; the slot is free again.
        assert ("worker.stopped", {}) in events_of(runtime)
        await runtime.create_worker()
    finally:
        await runtime.close()


async def test_idle_then_expired_and_the_events_keep_the_contract(make_store: StoreFactory) -> None:
    clock = Clock()
    runtime = await runtime_on(make_store(), clock)
    try:
        worker_id = (await runtime.create_worker(profile="echo")).worker.worker_id
        await runtime.send_input(worker_id, "hello")
        async with asyncio.timeout(10):
            while runtime.get_worker(worker_id).status != "idle":
                await asyncio.sleep(0.005)
        clock.now = T0 + IDLE
        assert (await runtime.cull()).stopped == (worker_id,)
        # Stopped at T0 + IDLE: not due for deletion in the same sweep, due STOPPED later.
        clock.now = T0 + IDLE + STOPPED - 0.5
        assert (await runtime.cull()).deleted == ()
        clock.now = T0 + IDLE + STOPPED
        assert (await runtime.cull()).deleted == (worker_id,)
        events = [e for e in runtime.read_events(cursor=None, limit=1000).events if e.worker_id == worker_id]
        assert [problem for event in events for problem in data_problems(event)] == []
        assert order_problems(events) == []
        assert [e.type for e in events][-2:] == ["worker.stopped", "worker.deleted"]
    finally:
        await runtime.close()


async def test_a_sweep_takes_at_most_its_limit_and_the_next_one_the_rest(make_store: StoreFactory) -> None:
    clock = Clock()
    runtime = await runtime_on(make_store(), clock, stopped_delete_seconds=None)
    try:
        ids = [(await runtime.create_worker()).worker.worker_id for _ in range(SWEEP_LIMIT + 20)]
        clock.now = T0 + IDLE
        first = await runtime.cull()
        assert first.full and first.stopped == tuple(ids[:SWEEP_LIMIT])
        second = await runtime.cull()
        assert second.stopped == tuple(ids[SWEEP_LIMIT:]) and not second.full
        assert (await runtime.cull()).stopped == ()
    finally:
        await runtime.close()


async def test_culling_is_off_by_default() -> None:
    clock = Clock()
    store = MemoryStore()
    store.clock = clock  # type: ignore[method-assign]
    runtime = EmbeddedRuntime(EmbeddedSettings(), store=store)
    await runtime.start()
    try:
        assert runtime.culler is None
        worker_id = (await runtime.create_worker()).worker.worker_id
        await runtime.stop((await runtime.create_worker()).worker.worker_id)
        clock.now = T0 + 10**9
        result = await runtime.cull()
        assert result.stopped == () and result.deleted == ()
        assert runtime.get_worker(worker_id).status == "idle" and len(runtime) == 2
    finally:
        await runtime.close()


async def test_the_runtime_sweeps_by_itself_on_the_real_clock(make_store: StoreFactory) -> None:
    runtime = EmbeddedRuntime(settings(idle_stop_seconds=0.3, stopped_delete_seconds=0.3), store=make_store())
    await runtime.start()
    try:
        assert runtime.culler is not None and runtime.culler.interval == 0.25
        worker_id = (await runtime.create_worker()).worker.worker_id
        async with asyncio.timeout(15):
            # Readers see the deletion once it is committed (acknowledged SQLite: a watermark).
            # The culler counts a sweep once its commit is acknowledged, a step after readers see it.
            while (
                len(runtime) or events_of(runtime, worker_id)[-1][0] != "worker.deleted" or runtime.culler.deleted < 1
            ):
                await asyncio.sleep(0.02)
        assert [t for t, _ in events_of(runtime, worker_id)] == ["worker.created", "worker.stopped", "worker.deleted"]
        assert runtime.culler.stopped == 1 and runtime.culler.deleted == 1
    finally:
        await runtime.close()
    assert runtime.culler.stopped == 1  # closing stopped the task; nothing ran after


async def test_sqlite_deadlines_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "culling.db"
    clock = Clock()
    first = await runtime_on(SQLiteStore(path, durability=Durability.ACKNOWLEDGED), clock)
    idle_id = (await first.create_worker()).worker.worker_id  # idle from T0: stopped at T0 + IDLE
    clock.now = T0 + 60
    stopped_id = (await first.create_worker()).worker.worker_id
    await first.stop(stopped_id)  # stopped at T0 + 60: deleted at T0 + 60 + STOPPED
    await first.close()

    # Restarted before either deadline: nothing is due (the times were not reset to the restart's)...
    clock.now = T0 + IDLE - 1
    second = await runtime_on(SQLiteStore(path, durability=Durability.ACKNOWLEDGED), clock)
    try:
        assert second.get_worker(idle_id).status_since == T0
        assert second.get_worker(stopped_id).status_since == T0 + 60
        result = await second.cull()
        assert result.stopped == () and result.deleted == ()
        clock.now = T0 + IDLE  # ...and each is due at its original deadline.
        assert (await second.cull()).stopped == (idle_id,)
        clock.now = T0 + 60 + STOPPED - 1
        assert (await second.cull()).deleted == ()
        clock.now = T0 + 60 + STOPPED
        assert (await second.cull()).deleted == (stopped_id,)
    finally:
        await second.close()

    # A restart long after the idle worker's stop: it is deleted by the first sweep.
    clock.now = T0 + 10 * IDLE
    third = await runtime_on(SQLiteStore(path, durability=Durability.ACKNOWLEDGED), clock)
    try:
        assert third.get_worker(idle_id).status_since == T0 + IDLE
        assert (await third.cull()).deleted == (idle_id,)
        assert len(third) == 0
    finally:
        await third.close()
    fourth = await runtime_on(SQLiteStore(path, durability=Durability.ACKNOWLEDGED), clock)
    try:
        assert len(fourth) == 0  # the deletions were committed to the file
    finally:
        await fourth.close()


async def test_a_worker_busy_when_the_process_died_is_idle_from_the_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "culling.db"
    clock = Clock()
    first = await runtime_on(SQLiteStore(path, durability=Durability.ACKNOWLEDGED), clock)
    worker_id = (await first.create_worker(profile="hold")).worker.worker_id
    await first.send_input(worker_id, "a long turn")
    await first.close()  # the turn is abandoned: the next run interrupts it
    clock.now = T0 + 5 * IDLE
    second = await runtime_on(SQLiteStore(path, durability=Durability.ACKNOWLEDGED), clock)
    try:
        assert second.get_worker(worker_id).status == "idle"
        assert (await second.cull()).stopped == ()  # idle since the restart, not since before
        clock.now += IDLE
        assert (await second.cull()).stopped == (worker_id,)
    finally:
        await second.close()


def test_the_expiry_index_reads_only_what_is_due() -> None:
    index = ExpiryIndex()
    for n in range(1000):
        index.enter(f"w{n}", float(n))
    index.enter("w0", 2000.0)  # entered again: to the end
    index.leave("w1")
    assert list(index.due(3.0, limit=10)) == ["w2", "w3"]
    assert list(index.due(10_000.0, limit=2)) == ["w4", "w5"]
    assert len(index) == 1000 - 1 - 2 - 2
    assert "w0" in index and "w1" not in index


def test_the_sweep_interval_follows_the_shorter_allowance() -> None:
    assert sweep_interval(CullPolicy(idle_seconds=3600)) == 30.0
    assert sweep_interval(CullPolicy(idle_seconds=60, stopped_seconds=20)) == 2.0
    assert sweep_interval(CullPolicy(stopped_seconds=0.5)) == 0.25


@pytest.mark.parametrize(
    "line, path",
    [
        ("idle_stop_seconds = 0", "runtimes[0].settings.idle_stop_seconds"),
        ("stopped_delete_seconds = -1", "runtimes[0].settings.stopped_delete_seconds"),
        ('idle_stop_seconds = "soon"', "runtimes[0].settings.idle_stop_seconds"),
        ("stopped_delete_seconds = 1e12", "runtimes[0].settings.stopped_delete_seconds"),
    ],
)
def test_bad_culling_settings_are_config_errors_at_their_path(line: str, path: str) -> None:
    text = f'[[runtimes]]\nid = "culled"\nkind = "embedded"\n[runtimes.settings]\n{line}\n'
    embedded = tuple(p for p in discover_plugins() if p.name == "embedded")
    with pytest.raises(ConfigError) as raised:
        assemble(parse_config(text), discovered=embedded, strict=True)
    assert raised.value.problems[0].path.startswith(path)


def test_culling_settings_from_a_file() -> None:
    text = (
        '[[runtimes]]\nid = "culled"\nkind = "embedded"\n[runtimes.settings]\n'
        "idle_stop_seconds = 3600\nstopped_delete_seconds = 86400.5\n"
        '[runtimes.settings.store]\nbackend = "memory"\n'
    )
    embedded = tuple(p for p in discover_plugins() if p.name == "embedded")
    assembly = assemble(parse_config(text), discovered=embedded, strict=True)
    provider = assembly.registry.built_provider("culled")
    assert provider.runtime.cull_policy.idle_seconds == 3600  # type: ignore[attr-defined]
    assert provider.runtime.cull_policy.stopped_seconds == 86400.5  # type: ignore[attr-defined]
