"""Turn control on PostgreSQL (decision 0184): ``if_busy`` enqueue and interrupt, ``max_queued_inputs``
and ``max_concurrent_turns``, decided in the database for every replica, with the events memory writes.

Replicas here are providers of one runtime in this process, each with its own
registry and pool, on one real database; tests/postgres/test_replica_queues.py
does the same with ``serve`` processes and SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from registry_core import BusyPolicy, CreateWorkerRequest, InputRequest, QueueFull, RuntimeContext, WorkerBusy
from registry_core.models import Event, ProfileSelector
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings, postgres_schema
from runtime_registry.runtimes.embedded.postgres_control import WaitingInput
from runtime_registry.runtimes.embedded.postgres_schema import schema_name
from runtime_registry.runtimes.embedded.postgres_store import PgStore, connect_kwargs
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings
from tests.support.pg_runtime import never_overlap, old_runtime
from tests.support.pg_server import PgServer

DSN_ENV = "RR_TEST_POLICIES_PG_DSN"
RUNTIME = "pg"
#: Turns that end only when the test ends them (cancel, interrupt, stop, delete).
PROFILES = {"hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60.0)}
HOLD = CreateWorkerRequest(profile=ProfileSelector("hold"))
ENQUEUE, INTERRUPT = BusyPolicy.ENQUEUE, BusyPolicy.INTERRUPT


def settings(store: StoreSettings | None, **limits: Any) -> EmbeddedSettings:
    if store is None:
        return EmbeddedSettings(profiles=PROFILES, **limits)
    return EmbeddedSettings(profiles=PROFILES, store=store, **limits)


@contextlib.asynccontextmanager
async def replicas(
    count: int, tmp_path: Path, store: StoreSettings | None, **limits: Any
) -> AsyncIterator[list[tuple[RuntimeRegistry, EmbeddedProvider]]]:
    """``count`` providers of one runtime (replicas when ``store`` is PostgreSQL), each in its own registry."""
    async with contextlib.AsyncExitStack() as stack:
        made = []
        for n in range(count):
            folder = tmp_path / f"replica-{n}"
            folder.mkdir(parents=True)
            # No context for the memory runtime (with one, the default store is a SQLite file).
            context = RuntimeContext(folder) if store is not None else None
            provider = EmbeddedProvider(RUNTIME, settings(store, **limits), context=context)
            registry = RuntimeRegistry()
            registry.register(provider)
            await stack.enter_async_context(registry)
            made.append((registry, provider))
        yield made


@pytest.fixture
def store(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> StoreSettings:
    monkeypatch.setenv(DSN_ENV, pg_server.dsn(pg_server.create_database("policies")))
    return StoreSettings(backend=StoreBackend.POSTGRES, dsn_env=DSN_ENV, lease_seconds=2)


def send(registry: RuntimeRegistry, worker_id: str, content: str, policy: BusyPolicy = BusyPolicy.REJECT) -> Any:
    return registry.send_input(RUNTIME, worker_id, InputRequest(content, if_busy=policy))


async def all_events(registry: RuntimeRegistry) -> list[Event]:
    page = await registry.read_events(RUNTIME, cursor=0, limit=1000)
    return list(page.events)


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


# -- every policy, claimed ---------------------------------------------------------------------------


async def test_a_postgres_runtime_takes_every_busy_policy(store: StoreSettings, tmp_path: Path) -> None:
    async with replicas(1, tmp_path, store) as [(registry, _)]:
        summary = await registry.describe_runtime(RUNTIME)
        assert summary.capabilities.busy_policies == ("reject", "enqueue", "interrupt")


# -- the same events as memory -----------------------------------------------------------------------


async def _scenario(made: list[tuple[RuntimeRegistry, EmbeddedProvider]]) -> tuple[list[Any], list[Event], list[str]]:
    """Queues, admission, interrupts, cancel with and without the queue, stop and delete, each call on the
    next replica (one replica for memory). Every turn is held, so only the calls end turns."""
    calls = iter(range(1000))

    def on() -> RuntimeRegistry:
        return made[next(calls) % len(made)][0]

    answers: list[Any] = []

    async def note(call: Any) -> None:
        try:
            done = await call
        except (QueueFull, WorkerBusy) as exc:
            answers.append(exc.code)
            return
        answers.append((done.status, getattr(done, "queue_position", None), getattr(done, "changed", None)))

    w1 = (await on().create_worker(RUNTIME, HOLD)).worker_id
    w2 = (await on().create_worker(RUNTIME, HOLD)).worker_id
    await note(send(on(), w1, "a"))  # runs: the only slot
    await note(send(on(), w2, "b"))  # waits for the slot (admission)
    await note(send(on(), w2, "b-again"))  # worker_busy: it is claimed
    await note(send(on(), w1, "c", ENQUEUE))  # queued behind a
    await note(send(on(), w1, "d", ENQUEUE))
    await note(send(on(), w1, "e", ENQUEUE))  # queue_full (2)
    await note(send(on(), w2, "b2", INTERRUPT))  # replaces b in its place in the line
    await note(on().cancel_worker(RUNTIME, w1, queued="keep"))  # a ends; b2 starts; c waits for the slot
    await note(send(on(), w1, "f", INTERRUPT))  # replaces c (waiting)
    await note(on().cancel_worker(RUNTIME, w2))  # b2 ends; f starts; d stays queued
    await note(send(on(), w1, "g", INTERRUPT))  # f ends; g starts with its slot
    await note(send(on(), w2, "h", ENQUEUE))  # w2 idle, no slot: waits (admission)
    await note(on().stop_worker(RUNTIME, w1))  # g ends; d dropped; h starts
    await note(on().delete_worker(RUNTIME, w2))  # h ends; deleted
    return answers, await all_events(on()), [w1, w2]


def _normalized(events: list[Event], workers: list[str]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """Events with ids as positions and workers as w1/w2 (ids differ between runs, nothing else may)."""
    position = {event.id: n for n, event in enumerate(events)}
    names = {worker_id: f"w{n + 1}" for n, worker_id in enumerate(workers)}
    shown = []
    for event in events:
        data = dict(event.data)
        if "queued_event_id" in data:
            data["queued_event_id"] = position[data["queued_event_id"]]
        shown.append((event.type, names.get(event.worker_id or ""), data))
    return shown


async def test_the_events_and_answers_are_the_memory_stores_with_calls_alternating_over_two_replicas(
    store: StoreSettings, tmp_path: Path
) -> None:
    limits = {"max_concurrent_turns": 1, "max_queued_inputs": 2}
    async with replicas(1, tmp_path / "memory", None, **limits) as memory:
        expected_answers, expected_events, expected_workers = await _scenario(memory)
    async with replicas(2, tmp_path / "pg", store, **limits) as made:
        answers, events, workers = await _scenario(made)
        assert answers == expected_answers
        assert _normalized(events, workers) == _normalized(expected_events, expected_workers)
        # Both replicas serve the same feed, and the database counts no turn running.
        assert [e.id for e in await all_events(made[1][0])] == [e.id for e in events]
        connection = await asyncpg.connect(**connect_kwargs(os.environ[DSN_ENV]))
        try:
            schema = schema_name(RUNTIME)
            running = await connection.fetchval(f"SELECT value FROM \"{schema}\".counters WHERE name = 'turns'")
            waiting = await connection.fetchval(f'SELECT count(*) FROM "{schema}".waiting_inputs')
        finally:
            await connection.close()
        assert (running, waiting) == (0, 0)
    # The answers say what happened (spot checks; the whole list is memory's).
    assert expected_answers[:6] == [
        ("busy", None, None),
        ("queued", 1, None),
        "worker_busy",
        ("queued", 1, None),
        ("queued", 2, None),
        "queue_full",
    ]
    kinds = [e.type for e in expected_events]
    assert kinds.count("worker.input_dropped") == 3 and kinds[-1] == "worker.deleted"


# -- racing, across three replicas ---------------------------------------------------------------------


async def test_racing_enqueues_on_three_replicas_fill_the_queue_exactly_and_start_in_place_order(
    store: StoreSettings, tmp_path: Path
) -> None:
    async with replicas(3, tmp_path, store, max_queued_inputs=8) as made:
        registries = [registry for registry, _ in made]
        worker_id = (await registries[0].create_worker(RUNTIME, HOLD)).worker_id
        assert (await send(registries[1], worker_id, "first")).status == "busy"
        racing = [send(registries[n % 3], worker_id, f"q{n}", ENQUEUE) for n in range(24)]
        results = await asyncio.gather(*racing, return_exceptions=True)
        content = {r.event_id: f"q{n}" for n, r in enumerate(results) if not isinstance(r, BaseException)}
        queued = [r for r in results if not isinstance(r, BaseException)]
        assert sorted(r.queue_position for r in queued) == list(range(1, 9))
        assert all(r.status == "queued" and r.transcript_sequence is None for r in queued)
        assert all(isinstance(r, QueueFull) for r in results if isinstance(r, BaseException))
        by_place = [r.event_id for r in sorted(queued, key=lambda r: r.queue_position)]
        # Each cancel keeping the queue, on any replica, starts the next input in place order.
        for n in range(8):
            await registries[n % 3].cancel_worker(RUNTIME, worker_id, queued="keep")
        events = await all_events(registries[2])
        accepted = [e.data.get("queued_event_id") for e in events if e.type == "worker.input_accepted"]
        assert accepted == [None, *by_place]
        assert len(never_overlap(events, worker_id)) == 9
        # A queued input enters the transcript when its turn starts: in place order.
        transcript = await registries[0].read_transcript(RUNTIME, worker_id, start=1, limit=50)
        assert [e.content for e in transcript.items] == ["first", *(content[i] for i in by_place)]


async def test_racing_interrupts_on_three_replicas_each_end_the_turn_before_and_never_overlap(
    store: StoreSettings, tmp_path: Path
) -> None:
    async with replicas(3, tmp_path, store) as made:
        registries = [registry for registry, _ in made]
        worker_id = (await registries[0].create_worker(RUNTIME, HOLD)).worker_id
        assert (await send(registries[0], worker_id, "first")).status == "busy"
        results = await asyncio.gather(*(send(registries[n % 3], worker_id, f"i{n}", INTERRUPT) for n in range(36)))
        assert [r.status for r in results] == ["busy"] * 36
        events = await all_events(registries[1])
        cancelled = [e for e in events if e.type == "worker.turn_cancelled"]
        assert [e.data["reason"] for e in cancelled] == ["interrupt"] * 36
        assert len(never_overlap(events, worker_id)) == 37

        # Exactly one replica runs the last turn; the others' tasks were cancelled when they replayed the ends.
        async def one_task() -> bool:
            for registry in registries:
                await registry.get_worker(RUNTIME, worker_id)  # catch each replica up
            tasks = [provider.runtime.get_worker(worker_id).turn for _, provider in made]
            return sum(task is not None and not task.done() for task in tasks) == 1

        await until(one_task, 5.0)


async def test_queued_inputs_behind_instant_turns_all_run_none_fails(store: StoreSettings, tmp_path: Path) -> None:
    """Each turn's end starts the next queued input in its transaction; the replica's other catch-ups
    (the maintenance, other workers' decisions) must not take that start before it is replayed and fail
    it: every input runs, in order, and no turn fails."""
    echo = CreateWorkerRequest(profile=ProfileSelector("builtin:echo"))
    async with replicas(1, tmp_path, store, max_queued_inputs=7) as made:
        registry = made[0][0]
        workers = [(await registry.create_worker(RUNTIME, echo)).worker_id for _ in range(4)]

        async def feed(worker_id: str) -> None:
            for r in range(4):
                while (await registry.get_worker(RUNTIME, worker_id)).status != "idle":
                    await asyncio.sleep(0.01)
                await send(registry, worker_id, f"{r}-0")
                for k in range(1, 8):
                    await send(registry, worker_id, f"{r}-{k}", ENQUEUE)

        await asyncio.gather(*(feed(w) for w in workers))

        async def all_idle() -> bool:
            return all([(await registry.get_worker(RUNTIME, w)).status == "idle" for w in workers])

        await until(all_idle, 30.0)
        events = await all_events(registry)
        assert [e.data.get("code") for e in events if e.type == "worker.turn_failed"] == []
        for worker_id in workers:
            ended = [
                e.type
                for e in events
                if e.worker_id == worker_id and e.type.startswith("worker.turn_") and e.type != "worker.turn_started"
            ]
            assert ended == ["worker.turn_completed"] * 32
            entries: list[Any] = []
            start: int | None = 1
            while start is not None:
                page = await registry.read_transcript(RUNTIME, worker_id, start=start)
                entries.extend(page.items)
                start = page.next_start
            inputs = [entry.content for entry in entries if entry.role == "user"]
            assert inputs == [f"{r}-{k}" for r in range(4) for k in range(8)]


async def test_admission_holds_for_the_runtime_as_a_whole_and_hands_slots_out_first_come_first_served(
    store: StoreSettings, tmp_path: Path
) -> None:
    async with replicas(3, tmp_path, store, max_concurrent_turns=3) as made:
        registries = [registry for registry, _ in made]
        workers = [(await registries[n % 3].create_worker(RUNTIME, HOLD)).worker_id for n in range(12)]
        results = await asyncio.gather(*(send(registries[n % 3], w, f"in {n}") for n, w in enumerate(workers)))
        running = [w for w, r in zip(workers, results, strict=True) if r.status == "busy"]
        waiting = sorted(
            (r.queue_position, w, r.event_id) for w, r in zip(workers, results, strict=True) if r.status == "queued"
        )
        assert len(running) == 3
        assert [place for place, _, _ in waiting] == list(range(1, 10))
        # Every replica shows the waiting workers busy (claimed), as memory does.
        for registry in registries:
            for _, worker_id, _ in waiting:
                assert (await registry.get_worker(RUNTIME, worker_id)).status == "busy"
        # Turns end on any replica: each freed slot goes to the worker that waited longest.
        for n, worker_id in enumerate(running):
            await registries[(n + 1) % 3].cancel_worker(RUNTIME, worker_id)
        await registries[0].stop_worker(RUNTIME, waiting[0][1])
        events = await all_events(registries[2])
        starts = [
            e.data["queued_event_id"]
            for e in events
            if e.type == "worker.input_accepted" and "queued_event_id" in e.data
        ]
        assert starts == [event_id for _, _, event_id in waiting[:4]]
        # Never more than three turns at once, by the feed.
        now = peak = 0
        for event in events:
            now += {"worker.turn_started": 1, "worker.turn_cancelled": -1}.get(event.type, 0)
            peak = max(peak, now)
        assert peak == 3 and now == 3


# -- the migration from version 4, with data -----------------------------------------------------------


async def test_a_version_4_runtime_with_a_turn_running_migrates_to_5_and_its_turn_counts(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime written by version-4 code (a worker in a turn, one idle) is migrated in place: the
    running turn counts against ``max_concurrent_turns``, and the version-5 functions decide on it."""
    runtime = "migrated"
    schema = schema_name(runtime)
    connection = await asyncpg.connect(**connect_kwargs(pg_dsn))
    try:
        await old_runtime(connection, monkeypatch, schema, version=4, profile="hold")
        # Version 4's own function (six arguments): w-1 is in a turn of replica 'old'.
        assert (await connection.fetchrow("SELECT * FROM accept_input('w-1', 'old', 'user', 'x', 100, 2)"))[
            0
        ] == "accepted"
        await connection.execute("SELECT sequence_events('c')")
        monkeypatch.undo()
        await connection.execute("RESET search_path")
        assert await postgres_schema.migrate(connection, schema, first_serial=1, first_event_id=1, cursor_tag="t") == 4
        counted = await connection.fetchval(f"SELECT value FROM \"{schema}\".counters WHERE name = 'turns'")
        row = await connection.fetchrow(f'SELECT status, owner, waiting FROM "{schema}".workers WHERE serial = 1')
        assert (counted, tuple(row)) == (1, ("busy", "old", False))
    finally:
        await connection.close()
    store = PgStore(pg_dsn, runtime, lease_seconds=10, pool_size=4)
    await store.open(first_serial=1, first_event_id=1, cursor_tag="t")
    try:
        limits = {"max_entries": 100, "entries_per_turn": 2, "max_turns": 1}
        # The old turn holds the only slot: w-2's input waits for it.
        waiting = await store.accept_input("w-2", content="y", role="user", **limits)
        assert isinstance(waiting, WaitingInput) and waiting.place == 1
        ended = await store.control.end_worker("w-1", reason="cancel", max_entries=100, max_turns=1)
        assert (ended.changed, ended.owner) == (True, "old")
        # Its slot went to w-2, whose turn this replica now runs.
        assert [(t.worker_id, t.turn, t.content) for t in store.started] == [("w-2", 1, "y")]
        assert (await store.get_worker("w-2")).owner == store.replica_id
    finally:
        await store.close()
