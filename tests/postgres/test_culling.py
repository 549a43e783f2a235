"""Culling on PostgreSQL (issue 20; decision 0220): replicas sweep, exactly one acts, busy is never stopped.

Two runtimes on one database are two replicas (each its own pool, its own
cache). The database's clock decides deadlines, so "idle for an hour" is
made by moving a row's ``status_since`` back with plain SQL (the trigger
stamps it only when ``status`` changes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from registry_core.errors import WorkerStopped
from runtime_registry.runtimes.embedded.postgres import PostgresStore
from runtime_registry.runtimes.embedded.postgres_schema import schema_name
from runtime_registry.runtimes.embedded.runtime import EmbeddedRuntime
from runtime_registry.runtimes.embedded.settings import EmbeddedSettings, ProfileBase, ProfileSettings

RUNTIME = "backend-internal"
IDLE = 3600.0
STOPPED = 7200.0
PROFILES = {"hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60.0)}


def settings(**overrides: object) -> EmbeddedSettings:
    values: dict[str, object] = {"idle_stop_seconds": IDLE, "stopped_delete_seconds": STOPPED, "profiles": PROFILES}
    values.update(overrides)
    return EmbeddedSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def replica(pg_dsn: str) -> AsyncIterator[Callable[..., Any]]:
    """Start replicas of one runtime on the test's database; the sweeping task is stopped (tests sweep by hand)."""
    started: list[EmbeddedRuntime] = []

    async def make(**overrides: object) -> EmbeddedRuntime:
        runtime = EmbeddedRuntime(settings(**overrides), store=PostgresStore(pg_dsn, RUNTIME, lease_seconds=10))
        await runtime.start()
        if runtime.culler is not None:
            await runtime.culler.stop()
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        await runtime.close()


def age(dsn: str, worker_ids: list[str], seconds: float) -> None:
    """Move the workers' ``status_since`` back by ``seconds`` (as if they had been in their status that long)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            f'UPDATE "{schema_name(RUNTIME)}".workers SET status_since = status_since - make_interval(secs => %s) '
            "WHERE worker_id = ANY(%s)",
            (seconds, worker_ids),
        )


def reasons(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, object]]:
    page = runtime.read_events(cursor=None, limit=1000)
    return [(e.type, e.data.get("reason")) for e in page.events if e.worker_id == worker_id]


async def test_an_idle_worker_is_stopped_then_deleted_and_every_replica_sees_it(
    replica: Callable[..., Any], pg_dsn: str
) -> None:
    a, b = await replica(), await replica()
    worker_id = (await a.create_worker()).worker.worker_id
    fresh = (await a.create_worker()).worker.worker_id
    assert (await b.cull()).stopped == ()  # nothing is due yet
    age(pg_dsn, [worker_id], IDLE + 1)
    assert (await b.cull()).stopped == (worker_id,)
    await a.refresh()
    assert a.get_worker(worker_id).status == "stopped"
    assert a.get_worker(fresh).status == "idle"
    with pytest.raises(WorkerStopped):
        await a.send_input(worker_id, "too late")
    age(pg_dsn, [worker_id], STOPPED + 1)
    assert (await a.cull()).deleted == (worker_id,)
    await b.refresh()
    assert [w.worker_id for w in b.list_workers(limit=10)[0]] == [fresh]
    assert reasons(b, worker_id) == [
        ("worker.created", None),
        ("worker.stopped", "idle"),
        ("worker.deleted", "expired"),
    ]
    # The slot count in the database followed: max_workers counts one worker now.
    with psycopg.connect(pg_dsn) as connection:
        counted = connection.execute(f"SELECT value FROM \"{schema_name(RUNTIME)}\".counters WHERE name = 'workers'")
        assert counted.fetchone() == (1,)


async def test_replicas_sweeping_together_act_exactly_once_on_each_worker(
    replica: Callable[..., Any], pg_dsn: str
) -> None:
    replicas = [await replica() for _ in range(3)]
    ids = [(await replicas[0].create_worker()).worker.worker_id for _ in range(60)]
    age(pg_dsn, ids, IDLE + 1)
    results = await asyncio.gather(*(r.cull() for r in replicas), *(r.cull() for r in replicas))
    stopped = [worker_id for result in results for worker_id in result.stopped]
    assert sorted(stopped) == sorted(ids)  # each once, none twice
    await replicas[1].refresh()
    events = replicas[1].read_events(cursor=None, limit=1000).events
    assert sorted(e.worker_id for e in events if e.type == "worker.stopped") == sorted(ids)


async def test_a_busy_worker_is_never_stopped_as_idle(replica: Callable[..., Any], pg_dsn: str) -> None:
    a = await replica()
    worker_id = (await a.create_worker(profile="hold")).worker.worker_id
    await a.send_input(worker_id, "a long turn")
    age(pg_dsn, [worker_id], 100 * IDLE)
    assert (await a.cull()).stopped == ()
    assert a.get_worker(worker_id).status == "busy"
    await a.cancel(worker_id)  # idle from now: the trigger stamped the change
    assert (await a.cull()).stopped == ()
    age(pg_dsn, [worker_id], IDLE + 1)
    assert (await a.cull()).stopped == (worker_id,)


async def test_a_worker_that_takes_input_while_the_sweep_looks_is_not_stopped(
    replica: Callable[..., Any], pg_dsn: str
) -> None:
    a = await replica()
    worker_id = (await a.create_worker(profile="hold")).worker.worker_id
    age(pg_dsn, [worker_id], IDLE + 1)
    schema = schema_name(RUNTIME)
    # Another replica's input is being accepted: its transaction holds the row, busy, not yet committed.
    with psycopg.connect(pg_dsn) as accepting:
        # A live replica (its lease held): the maintenance's end of lost turns leaves its turn alone.
        accepting.execute(
            f"INSERT INTO \"{schema}\".replicas (replica_id, expires_at) VALUES ('another', clock_timestamp() + interval '1 hour')"
        )
        accepting.execute(
            f"UPDATE \"{schema}\".workers SET status = 'busy', owner = 'another', turn_number = turn_number + 1 "
            "WHERE worker_id = %s",
            (worker_id,),
        )
        assert (await a.cull()).stopped == ()  # the held row is passed over, not waited for
        accepting.commit()
    # Committed busy: the sweep's conditional update finds it busy, now and later.
    assert (await a.cull()).stopped == ()
    with psycopg.connect(pg_dsn) as connection:
        row = connection.execute(f'SELECT status FROM "{schema}".workers WHERE worker_id = %s', (worker_id,))
        assert row.fetchone() == ("busy",)


async def test_deadlines_survive_a_restart_of_every_replica(replica: Callable[..., Any], pg_dsn: str) -> None:
    first = await replica(idle_stop_seconds=None, stopped_delete_seconds=None)
    worker_id = (await first.create_worker()).worker.worker_id
    await first.close()
    age(pg_dsn, [worker_id], IDLE + 1)  # idle that long while no replica ran
    second = await replica()
    assert (await second.cull()).stopped == (worker_id,)


async def test_the_sweep_reads_the_partial_index(replica: Callable[..., Any], pg_dsn: str) -> None:
    a = await replica()
    for _ in range(5):
        await a.create_worker()
    schema = schema_name(RUNTIME)
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute(f'ANALYZE "{schema}".workers')
        connection.execute("SET enable_seqscan = off")  # a tiny table: make the planner show what it can use
        plan = connection.execute(
            f"EXPLAIN SELECT serial FROM \"{schema}\".workers WHERE status = 'idle' AND status_since <= now() "
            "ORDER BY status_since LIMIT 500"
        ).fetchall()
    assert any("workers_idle_since" in line[0] for line in plan), plan
