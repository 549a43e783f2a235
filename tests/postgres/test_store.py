"""The PostgreSQL store's decisions against a real server, with several replicas' handles at once.

Each ``PgStore`` here is what one replica holds (its own pool of
connections), so concurrency between them is real concurrency in the
database: the busy rule, capacity, event order and leases are decided there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from registry_core.errors import CapacityExceeded, UnknownWorker, WorkerBusy, WorkerStopped
from runtime_registry.runtimes.embedded.postgres_schema import SCHEMA_VERSION, schema_name
from runtime_registry.runtimes.embedded.postgres_store import PgStore, StoreUnreachable, TurnLost
from runtime_registry.runtimes.embedded.store import StoreUnusable, turn_failed_data
from tests.support.pg_runtime import create_worker
from tests.support.pg_server import PgServer

RUNTIME = "backend-internal"
#: The limits the turn-control functions decide under (transcript entries, running turns).
LIMITS = {"max_entries": 100, "max_turns": 64}
FIRST_EVENT = 1_700_000_000_000_000


async def _store(dsn: str, *, lease_seconds: float = 10.0, runtime: str = RUNTIME) -> PgStore:
    store = PgStore(dsn, runtime, lease_seconds=lease_seconds, pool_size=6)
    await store.open(first_serial=1000, first_event_id=FIRST_EVENT, cursor_tag="tag0")
    return store


@pytest.fixture
async def replicas(pg_dsn: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[PgStore] = []

    async def make(**kwargs: Any) -> PgStore:
        store = await _store(pg_dsn, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def _create(store: PgStore, max_workers: int = 100) -> str:
    return await create_worker(store, max_workers)


async def _accept(store: PgStore, worker_id: str, content: str = "hello") -> Any:
    return await store.accept_input(worker_id, content=content, role="user", max_entries=100, entries_per_turn=2)


# -- schema and migrations ---------------------------------------------------------------


async def test_a_new_database_gets_the_current_schema_and_a_second_replica_keeps_it(pg_dsn: str) -> None:
    one = await _store(pg_dsn)
    two = PgStore(pg_dsn, RUNTIME, lease_seconds=10)
    await two.open(first_serial=5, first_event_id=99, cursor_tag="other")
    try:
        # The second replica takes the runtime's ids, not the ones it would have started from.
        assert (two.first_serial, two.first_event_id, two.cursor_tag) == (1000, FIRST_EVENT, "tag0")
        with psycopg.connect(pg_dsn) as connection:
            versions = connection.execute(f'SELECT version FROM "{one.schema}".schema_migrations').fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    finally:
        await one.close()
        await two.close()


async def test_two_replicas_starting_together_migrate_once(pg_dsn: str) -> None:
    stores = await asyncio.gather(*(_store(pg_dsn) for _ in range(4)))
    try:
        assert {s.cursor_tag for s in stores} == {"tag0"}
    finally:
        for store in stores:
            await store.close()


async def test_a_schema_newer_than_the_code_is_refused_and_left_untouched(pg_dsn: str) -> None:
    store = await _store(pg_dsn)
    worker_id = await _create(store)
    await store.close()
    schema = schema_name(RUNTIME)
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute(f'INSERT INTO "{schema}".schema_migrations (version) VALUES (%s)', (SCHEMA_VERSION + 1,))
        before = connection.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()
    newer = PgStore(pg_dsn, RUNTIME, lease_seconds=10)
    with pytest.raises(StoreUnusable, match="newer"):
        await newer.open(first_serial=1, first_event_id=1, cursor_tag="x")
    with psycopg.connect(pg_dsn) as connection:
        assert connection.execute(f'SELECT count(*) FROM "{schema}".events').fetchone() == before
        assert connection.execute(f'SELECT worker_id FROM "{schema}".workers').fetchall() == [(worker_id,)]
        # Not even this replica's lease was written.
        assert connection.execute(f'SELECT replica_id FROM "{schema}".replicas').fetchall() == [(store.replica_id,)]


async def test_a_schema_of_the_same_name_that_is_not_a_runtimes_is_refused(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema_name(RUNTIME)}"')
    with pytest.raises(StoreUnusable, match="not a runtime"):
        await _store(pg_dsn)


async def test_runtimes_in_one_database_keep_apart(replicas: Callable[..., Any]) -> None:
    one = await replicas()
    two = await replicas(runtime="another-runtime")
    await _create(one)
    assert await two.count_workers() == 0
    assert await one.count_workers() == 1


def test_schema_names_are_valid_identifiers_and_unique() -> None:
    long_a, long_b = "a" * 119 + "x", "a" * 119 + "y"
    names = {schema_name(r) for r in ("backend-internal", "Backend.Internal", long_a, long_b)}
    assert len(names) == 4
    assert all(len(n.encode()) <= 63 and n.replace("_", "").isalnum() for n in names)


# -- the busy rule and capacity, decided in the database ----------------------------------------


async def test_of_concurrent_inputs_on_two_replicas_exactly_one_is_accepted(replicas: Callable[..., Any]) -> None:
    a, b = await replicas(), await replicas()
    worker_id = await _create(a)
    results = await asyncio.gather(
        *(_accept(a if n % 2 else b, worker_id, f"input {n}") for n in range(16)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 1
    assert all(isinstance(r, WorkerBusy) for r in results if isinstance(r, BaseException))
    worker = await b.get_worker(worker_id)
    assert (worker.status, worker.turn_number, worker.entries) == ("busy", 1, 1)


async def test_max_workers_holds_for_the_runtime_as_a_whole(replicas: Callable[..., Any]) -> None:
    a, b = await replicas(), await replicas()
    results = await asyncio.gather(
        *(_create(a if n % 2 else b, max_workers=5) for n in range(12)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert all(isinstance(r, CapacityExceeded) for r in results if isinstance(r, BaseException))
    # A delete frees a slot at once, on every replica.
    created = [r for r in results if isinstance(r, str)]
    await a.control.end_worker(created[0], reason="delete", delete=True, **LIMITS)
    await _create(b, max_workers=5)
    assert await a.count_workers() == 5


async def test_inputs_are_refused_by_what_the_worker_is(replicas: Callable[..., Any]) -> None:
    a, b = await replicas(), await replicas()
    worker_id = await _create(a)
    with pytest.raises(UnknownWorker):
        await _accept(a, "w-nope")
    accepted = await _accept(a, worker_id)
    await a.complete_turn(worker_id, accepted.worker.turn_number, reply="hello", max_entries=100, completed={})
    assert (await b.get_worker(worker_id)).status == "idle"
    full = await b.accept_input(worker_id, content="x", role="user", max_entries=4, entries_per_turn=2)
    data = turn_failed_data(full.worker.turn_number, "engine_error", "broke", "kit-calc.bad_input")
    (failed,) = (await b.control.fail_turn(worker_id, full.worker.turn_number, data, **LIMITS)).events
    assert failed.data == {
        "turn": full.worker.turn_number,
        "code": "engine_error",
        "message": "broke",
        "engine_code": "kit-calc.bad_input",
    }
    with pytest.raises(CapacityExceeded, match="transcript is full \\(4"):
        await b.accept_input(worker_id, content="x", role="user", max_entries=4, entries_per_turn=2)
    assert (await b.control.end_worker(worker_id, reason="stop", stop=True, **LIMITS)).changed is True
    with pytest.raises(WorkerStopped):
        await _accept(a, worker_id)
    assert (await a.control.end_worker(worker_id, reason="stop", stop=True, **LIMITS)).changed is False


async def test_a_turn_cancelled_on_another_replica_writes_nothing_more(replicas: Callable[..., Any]) -> None:
    a, b = await replicas(), await replicas()
    worker_id = await _create(a)
    accepted = await _accept(a, worker_id)
    turn = accepted.worker.turn_number
    cancelled = await b.control.end_worker(worker_id, reason="cancel", **LIMITS)
    assert (cancelled.changed, cancelled.owner, cancelled.turn) == (True, a.replica_id, turn)
    with pytest.raises(TurnLost):
        await a.complete_turn(worker_id, turn, reply="late", max_entries=100, completed={})
    with pytest.raises(TurnLost):
        await a.record_in_turn(worker_id, turn, [("tool_call", "{}", "worker.tool_call_started", {"turn": turn})])
    _, entries = await b.read_transcript(worker_id, start=1, limit=10)
    assert [e.content for e in entries] == ["hello"]
    types = [e.type for e in await b.read_events(after=0, limit=100, worker_id=worker_id)]
    assert types == ["worker.created", "worker.input_accepted", "worker.turn_started", "worker.turn_cancelled"]
    # The worker takes input again, on either replica.
    assert (await _accept(b, worker_id)).worker.turn_number == turn + 1


async def test_a_transcript_reads_back_in_order_with_its_event_ids(replicas: Callable[..., Any]) -> None:
    (a,) = [await replicas()]
    worker_id = await _create(a)
    accepted = await _accept(a, worker_id, "question")
    turn = accepted.worker.turn_number
    await a.record_in_turn(
        worker_id,
        turn,
        [
            ("tool_call", '{"call_id": "1"}', "worker.tool_call_started", {"turn": turn, "call_id": "1"}),
            ("tool_result", '{"call_id": "1"}', "worker.tool_call_finished", {"turn": turn, "call_id": "1"}),
        ],
    )
    events = await a.complete_turn(worker_id, turn, reply="answer", max_entries=100, completed={"usage": None})
    assert [e.type for e in events] == ["worker.output", "worker.turn_completed"]
    worker, entries = await a.read_transcript(worker_id, start=1, limit=10)
    assert worker.entries == 4 and [e.sequence for e in entries] == [1, 2, 3, 4]
    assert [e.role for e in entries] == ["user", "tool_call", "tool_result", "assistant"]
    by_id = {e.id: e for e in await a.read_events(after=0, limit=100)}
    for entry in entries:
        assert by_id[entry.event_id].data["transcript_sequence"] == entry.sequence
    assert entries[0].event_id == accepted.event_id


# -- one event feed (decision 0132) ------------------------------------------------------------


async def test_ids_are_gapless_and_a_reader_never_finds_one_below_what_it_passed(replicas: Callable[..., Any]) -> None:
    """Writers on three replicas; a reader on each polls all the while. Every reader sees ids in strict
    order, never an id below one it already passed, and in the end exactly every id, with no gap."""
    stores = [await replicas() for _ in range(3)]
    workers = [await _create(stores[n % 3]) for n in range(9)]
    stop = asyncio.Event()
    written = asyncio.Event()

    async def writer(store: PgStore, worker_id: str) -> None:
        while not stop.is_set():
            try:
                accepted = await _accept(store, worker_id)
            except WorkerBusy:
                continue
            except CapacityExceeded:
                return  # the worker's transcript is full (a fast machine): its writer is done
            await store.complete_turn(
                worker_id, accepted.worker.turn_number, reply="r", max_entries=10**6, completed={}
            )

    async def reader(store: PgStore) -> list[int]:
        seen: list[int] = []
        after = 0
        while True:
            done = written.is_set()
            events = await store.read_events(after=after, limit=50)
            for event in events:
                assert event.id > after, "a reader found an id below one it had passed"
                seen.append(event.id)
                after = event.id
            if done and not events:
                return seen

    writers = [asyncio.create_task(writer(stores[n % 3], w)) for n, w in enumerate(workers)]
    readers = [asyncio.create_task(reader(s)) for s in stores]
    await asyncio.sleep(3)
    # Enough ids to check, however slow the machine (a loaded one writes fewer in 3 s).
    async with asyncio.timeout(60):
        while await stores[0].last_event_id() < FIRST_EVENT + 150:
            await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*writers)
    written.set()
    seen = await asyncio.gather(*readers)
    last = await stores[0].last_event_id()
    everything = list(range(FIRST_EVENT, last + 1))
    assert len(everything) > 100
    for ids in seen:
        assert ids == everything


async def test_retention_drops_the_oldest_events(replicas: Callable[..., Any]) -> None:
    (a,) = [await replicas()]
    for _ in range(5):
        await _create(a)
    assert await a.prune_events(3) == 2
    assert await a.oldest_event_id() == FIRST_EVENT + 2


# -- leases (decision 0133) --------------------------------------------------------------------


async def test_the_turns_of_a_replica_that_went_silent_end_as_replica_lost(replicas: Callable[..., Any]) -> None:
    a = await replicas(lease_seconds=1)
    b = await replicas(lease_seconds=1)
    worker_id = await _create(a)
    accepted = await _accept(a, worker_id)
    turn = accepted.worker.turn_number
    # While A's lease holds, nothing is taken from it.
    assert await b.control.end_lost_turns(**LIMITS) == []
    await a.close(leave=False)  # A goes silent: no renewal, no goodbye
    started = time.monotonic()
    ended: list[Any] = []
    while not ended and time.monotonic() - started < 6:
        await asyncio.sleep(0.2)
        await b.renew_lease()
        ended = await b.control.end_lost_turns(**LIMITS)
    assert [(e.type, e.worker_id, dict(e.data)) for e in ended] == [
        ("worker.turn_interrupted", worker_id, {"turn": turn, "reason": "replica_lost"})
    ]
    assert 0.5 < time.monotonic() - started < 6
    assert (await b.get_worker(worker_id)).status == "idle"
    assert (await _accept(b, worker_id)).worker.turn_number == turn + 1


async def test_a_replica_whose_lease_lapsed_cannot_finish_its_turn(replicas: Callable[..., Any]) -> None:
    a = await replicas(lease_seconds=1)
    b = await replicas(lease_seconds=1)
    worker_id = await _create(a)
    turn = (await _accept(a, worker_id)).worker.turn_number
    await asyncio.sleep(1.3)  # A paused past its lease
    await b.renew_lease()
    assert len(await b.control.end_lost_turns(**LIMITS)) == 1
    assert await a.renew_lease() is False  # A learns it had lapsed
    with pytest.raises(TurnLost):
        await a.complete_turn(worker_id, turn, reply="late", max_entries=100, completed={})


async def test_a_replica_that_leaves_cleanly_hands_its_turns_over_at_once(replicas: Callable[..., Any]) -> None:
    a = await replicas(lease_seconds=30)
    b = await replicas(lease_seconds=30)
    worker_id = await _create(a)
    await _accept(a, worker_id)
    await a.close()
    assert [e.data["reason"] for e in await b.control.end_lost_turns(**LIMITS)] == ["replica_lost"]


# -- the database going away -------------------------------------------------------------------


async def test_the_database_going_away_is_store_unreachable_and_it_recovers_by_itself(
    pg_server: PgServer, replicas: Callable[..., Any]
) -> None:
    a = await replicas()
    worker_id = await _create(a)
    pg_server.stop()
    try:
        with pytest.raises(StoreUnreachable) as caught:
            await a.get_worker(worker_id)
        assert "127.0.0.1" not in str(caught.value) and "port" not in str(caught.value)
        with pytest.raises(StoreUnreachable):
            await _accept(a, worker_id)
    finally:
        pg_server.start()
    # The pool reconnects by itself; nothing acknowledged was lost.
    for _ in range(20):
        try:
            worker = await a.get_worker(worker_id)
            break
        except StoreUnreachable:
            await asyncio.sleep(0.25)
    assert worker.status == "idle"
    assert (await _accept(a, worker_id)).worker.turn_number == 1


async def test_an_unreachable_database_at_open_names_nothing_of_it(pg_server: PgServer) -> None:
    store = PgStore(f"host=127.0.0.1 port={pg_server.port + 1} user=secretuser dbname=x", RUNTIME, lease_seconds=1)
    with pytest.raises(StoreUnreachable) as caught:
        await store.open(first_serial=1, first_event_id=1, cursor_tag="t")
    assert "secretuser" not in str(caught.value) and str(pg_server.port + 1) not in str(caught.value)


async def test_runtime_ids_whose_lock_keys_are_large_migrate(pg_dsn: str) -> None:
    # "back-a" once hashed to a lock key beyond int32 and failed to start.
    for runtime in ("back-a", "back-b", "conformance-0", "x" * 120):
        store = await _store(pg_dsn, runtime=runtime)
        await store.close()
