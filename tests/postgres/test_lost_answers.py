"""A ``decide()`` batch whose answer is lost after the server committed it (decision 0235).

The server commits a statement, then answers; a connection that dies in
between leaves the replica not knowing whether its accepts were taken. One
that was is a turn the database gives this replica (its lease covers it, so
no other replica ends it) while no task runs it: the worker would stay busy
for good. The replica finds out before its next batch or on its maintenance
tick, and fails such a turn (``store_unreachable``, as 0232 fails a turn it
could not confirm); a turn one of its tasks runs is left alone.

Real PostgreSQL and a real commit; the lost answer is made in the replica's
own call, which runs the statement and then raises the outage a dead
connection raises (no relay can cut a connection between a commit and its
answer on request).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from registry_core import TurnEngine, TurnResult
from registry_core.errors import RuntimeUnavailable
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.postgres import PostgresStore
from runtime_registry.runtimes.embedded.postgres_store import StoreUnreachable, connect_kwargs


def held_engine(release: asyncio.Event) -> TurnEngine:
    """Replies once ``release`` is set."""

    async def run(turn):  # type: ignore[no-untyped-def]
        await release.wait()
        return TurnResult("done")

    return TurnEngine("held", run)


def replica(dsn: str, release: asyncio.Event) -> EmbeddedRuntime:
    engine = held_engine(release)
    settings = EmbeddedSettings(profiles={"held": ProfileSettings(engine=engine.name)}, default_profile="held")
    return EmbeddedRuntime(
        settings,
        store=PostgresStore(dsn, "backend-internal", lease_seconds=3),
        engines={**BUILTIN_ENGINES, engine.name: engine},
    )


def lose_next_answer(runtime: EmbeddedRuntime, *, committed: bool = True) -> list[Any]:
    """The replica's next ``decide()`` runs (and commits) on the server, then its answer is lost. The
    lost answer's rows are appended to the returned list. ``committed=False``: the connection died
    before the statement reached the server (nothing ran; the replica cannot tell the two apart)."""
    decisions = runtime.store.db._decide  # type: ignore[attr-defined]
    real = decisions._fetch
    lost: list[Any] = []

    async def answer_lost(sql: str, *args: Any) -> list[Any]:
        if not lost and not committed:
            lost.append(None)
            raise StoreUnreachable()
        rows = await real(sql, *args)
        if not lost:
            lost.append(rows)
            raise StoreUnreachable()
        return rows

    decisions._fetch = answer_lost
    return lost


async def turn_events(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, Any]]:
    events = await runtime.store.db.read_events(after=0, limit=100, worker_id=worker_id)  # type: ignore[attr-defined]
    return [(e.type, e.data.get("code")) for e in events if e.type.startswith("worker.turn_")]


async def owner_in_database(dsn: str, runtime: EmbeddedRuntime, worker_id: str) -> tuple[str, str | None]:
    db = runtime.store.db  # type: ignore[attr-defined]
    connection = await asyncpg.connect(**connect_kwargs(dsn), server_settings={"search_path": f'"{db.schema}"'})
    try:
        row = await connection.fetchrow("SELECT status, owner FROM workers WHERE worker_id = $1", worker_id)
    finally:
        await connection.close()
    return row["status"], row["owner"]


async def until_idle(runtime: EmbeddedRuntime, worker_id: str) -> None:
    async with asyncio.timeout(20):
        while runtime.get_worker(worker_id).status != "idle":
            await asyncio.sleep(0.05)
            await runtime.refresh()


async def test_an_accept_committed_whose_answer_was_lost_fails_its_turn_and_the_worker_takes_input_again(
    pg_dsn: str,
) -> None:
    release = asyncio.Event()
    runtime = replica(pg_dsn, release)
    await runtime.start()
    try:
        worker_id = (await runtime.create_worker()).worker.worker_id
        lost = lose_next_answer(runtime)
        with pytest.raises(RuntimeUnavailable):
            await runtime.send_input(worker_id, "lost")
        (rows,) = lost
        assert [row[1] for row in rows if row[0] is not None] == ["accepted"]
        # Committed: the turn is this replica's in the database, and no task runs it.
        assert await owner_in_database(pg_dsn, runtime, worker_id) == ("busy", runtime.store.db.replica_id)  # type: ignore[attr-defined]
        # The maintenance tick finds it out: the turn fails, the worker is idle and takes input.
        # (This replica's cache never saw the turn start: the database is what to watch.)
        async with asyncio.timeout(20):
            while await owner_in_database(pg_dsn, runtime, worker_id) != ("idle", None):
                await asyncio.sleep(0.05)
            # The failure's event is committed with the row, and read once numbered (just after).
            while len(await turn_events(runtime, worker_id)) < 2:
                await asyncio.sleep(0.05)
        assert await turn_events(runtime, worker_id) == [
            ("worker.turn_started", None),
            ("worker.turn_failed", "store_unreachable"),
        ]
        await runtime.refresh()
        release.set()
        await runtime.send_input(worker_id, "again")
        await until_idle(runtime, worker_id)
        assert [t for t, _ in await turn_events(runtime, worker_id)][-2:] == [
            "worker.turn_started",
            "worker.turn_completed",
        ]
    finally:
        release.set()
        await runtime.close()


async def test_a_turn_a_task_runs_is_not_failed_when_a_lost_answer_named_its_worker(pg_dsn: str) -> None:
    """The lost batch was refused (the worker is busy with a turn this replica runs): that turn is this
    replica's and busy in the database, as a lost accept's would be, but a task runs it: it ends as usual."""
    release = asyncio.Event()
    runtime = replica(pg_dsn, release)
    await runtime.start()
    try:
        worker_id = (await runtime.create_worker()).worker.worker_id
        await runtime.send_input(worker_id, "running")
        lost = lose_next_answer(runtime)
        with pytest.raises(RuntimeUnavailable):
            await runtime.send_input(worker_id, "refused")
        (rows,) = lost
        assert [row[1] for row in rows if row[0] is not None] == ["busy"]
        # The maintenance tick settles the doubt (in_doubt -> orphaned, at once) and writes what it owes
        # (orphaned -> owed -> written); the running turn is untouched.
        store = runtime.store
        async with asyncio.timeout(20):
            while store.db.in_doubt or store.db.orphaned or store._owed:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
        assert await owner_in_database(pg_dsn, runtime, worker_id) == ("busy", runtime.store.db.replica_id)  # type: ignore[attr-defined]
        release.set()
        await until_idle(runtime, worker_id)
        assert await turn_events(runtime, worker_id) == [("worker.turn_started", None), ("worker.turn_completed", None)]
    finally:
        release.set()
        await runtime.close()


@pytest.mark.parametrize(
    ("if_busy", "lost_accept_committed", "turns"),
    [
        # The lost accept's turn 1 is ended by the interrupt, which starts turn 2.
        ("interrupt", True, ["worker.turn_started", "worker.turn_cancelled", "worker.turn_started"]),
        # The lost accept never ran: the enqueue finds the worker idle and starts turn 1.
        ("enqueue", False, ["worker.turn_started"]),
    ],
)
async def test_a_turn_a_control_decision_started_is_not_failed_by_the_settlement_its_answer_raced(
    pg_dsn: str, if_busy: str, lost_accept_committed: bool, turns: list[str]
) -> None:
    """An ``interrupt`` or ``enqueue`` of this replica started a turn, and the settlement of an earlier
    lost answer on the same worker ran between that decision's commit and its answer (when no task runs
    the new turn yet). The new turn is the decision's: it runs and completes."""
    release = asyncio.Event()
    runtime = replica(pg_dsn, release)
    await runtime.start()
    store = runtime.store
    try:
        worker_id = (await runtime.create_worker()).worker.worker_id
        lose_next_answer(runtime, committed=lost_accept_committed)
        with pytest.raises(RuntimeUnavailable):
            await runtime.send_input(worker_id, "lost")
        db = store.db  # type: ignore[attr-defined]
        assert db.in_doubt == {worker_id}
        committed, answered = asyncio.Event(), asyncio.Event()
        # The settlement comes after the decision's commit: the maintenance's lease tick settles, and a
        # tick woken by a notification only catches up and ends the 503s (as here).
        real_settle = db.settle_in_doubt

        async def settle_after_the_commit() -> None:
            if committed.is_set():
                await real_settle()

        db.settle_in_doubt = settle_after_the_commit
        store._unreachable = False  # type: ignore[attr-defined]
        # The decision commits; its answer is held until the settlement has run.
        real_fetchrow = db._fetchrow

        async def answer_held(sql: str, *args: Any) -> Any:
            row = await real_fetchrow(sql, *args)
            if if_busy in sql and not committed.is_set():
                committed.set()
                await answered.wait()
            return row

        db._fetchrow = answer_held
        deciding = asyncio.create_task(runtime.send_input(worker_id, "now", if_busy=if_busy))
        async with asyncio.timeout(20):
            await committed.wait()
        # The database says: this replica's turn, and no task of it runs yet.
        assert await owner_in_database(pg_dsn, runtime, worker_id) == ("busy", db.replica_id)
        await store._write_owed()  # type: ignore[attr-defined]  # what the maintenance tick does
        assert not db.in_doubt
        answered.set()
        outcome = await deciding
        assert outcome.status == "busy"
        # Settled later: the turn has its task now and is left alone.
        await store._write_owed()  # type: ignore[attr-defined]
        assert not db.orphaned and not store._owed  # type: ignore[attr-defined]
        release.set()
        await until_idle(runtime, worker_id)
        assert [kind for kind, _ in await turn_events(runtime, worker_id)] == [*turns, "worker.turn_completed"]
    finally:
        release.set()
        await runtime.close()
