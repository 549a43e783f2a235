"""Send-input decisions batched per replica (decision 0234), against a real server.

The accepts and turn ends a replica has waiting at once go to the database
in one ``decide()`` call: one transaction that decides each alone, numbers
the events before its commit and commits at the server's durability
setting. These tests hold what that must not change: a refusal touches only
its own decision, batches of several replicas never deadlock and keep the
busy rule, each worker's events stay in causal order without gaps, and the
transaction that answers the client does not commit asynchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from registry_core.errors import WorkerBusy
from runtime_registry.runtimes.embedded.postgres_control import NewInput, WaitingInput
from runtime_registry.runtimes.embedded.postgres_schema import SCHEMA_VERSION, schema_name
from runtime_registry.runtimes.embedded.postgres_store import PgStore, TurnLost, connect_kwargs
from tests.support.pg_runtime import create_worker, never_overlap, old_runtime

RUNTIME = "backend-internal"
FIRST_EVENT = 1_000


@pytest.fixture
async def replicas(pg_dsn: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[PgStore] = []

    async def make() -> PgStore:
        store = PgStore(pg_dsn, RUNTIME, lease_seconds=10, pool_size=6)
        await store.open(first_serial=1, first_event_id=FIRST_EVENT, cursor_tag="tag0")
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def _create(store: PgStore) -> str:
    return await create_worker(store, max_workers=1000)


async def _accept(store: PgStore, worker_id: str, max_turns: int = 64, content: str = "hi") -> Any:
    return await store.accept_input(
        worker_id, content=content, role="user", max_entries=10**6, entries_per_turn=2, max_turns=max_turns
    )


async def _complete(store: PgStore, worker_id: str, turn: int, max_turns: int = 64) -> Any:
    return await store.complete_turn(worker_id, turn, reply="ok", max_entries=10**6, completed={}, max_turns=max_turns)


async def _turn_control(dsn: str, store: PgStore) -> tuple[int, list[Any], list[Any]]:
    """The database's running-turns counter, its busy workers that run a turn, and its waiting inputs."""
    connection = await asyncpg.connect(**connect_kwargs(dsn), server_settings={"search_path": f'"{store.schema}"'})
    try:
        counted = await connection.fetchval("SELECT value FROM counters WHERE name = 'turns'")
        running = await connection.fetch(
            "SELECT worker_id, turn_number FROM workers WHERE status = 'busy' AND NOT waiting ORDER BY worker_id"
        )
        waiting = await connection.fetch(
            "SELECT w.worker_id, q.reason FROM waiting_inputs q JOIN workers w USING (serial) ORDER BY q.place"
        )
    finally:
        await connection.close()
    return int(counted), [tuple(r) for r in running], [tuple(r) for r in waiting]


async def _connect(pg_dsn: str, schema: str) -> Any:
    """A connection of its own to ``schema`` (as a replica's pool sees it)."""
    return await asyncpg.connect(**connect_kwargs(pg_dsn), server_settings={"search_path": f'"{schema}"'})


@contextlib.asynccontextmanager
async def _replica_with_connections(pg_dsn: str) -> AsyncIterator[tuple[PgStore, Any, Any]]:
    """A replica of ``RUNTIME`` and two connections of their own to its schema (one to hold locks with)."""
    store = PgStore(pg_dsn, RUNTIME, lease_seconds=10, pool_size=2)
    await store.open(first_serial=1, first_event_id=FIRST_EVENT, cursor_tag="t")
    try:
        holder = await _connect(pg_dsn, store.schema)
        try:
            connection = await _connect(pg_dsn, store.schema)
            try:
                yield store, holder, connection
            finally:
                await connection.close()
        finally:
            await holder.close()
    finally:
        await store.close()


_ROWS = (
    "SELECT * FROM workers ORDER BY serial",
    "SELECT * FROM events ORDER BY seq",
    "SELECT * FROM entries ORDER BY serial, sequence",
)


async def _rows(connection: Any) -> list[list[Any]]:
    """Every worker, event and transcript entry of the connection's schema."""
    return [list(await connection.fetch(query)) for query in _ROWS]


async def _open_migrated(pg_dsn: str, runtime: str, before: list[list[Any]]) -> PgStore:
    """A replica of this code opened on a runtime an older version wrote: it is at this code's version,
    every version applied once, and no worker, event or entry changed."""
    store = PgStore(pg_dsn, runtime, lease_seconds=10, pool_size=4)
    await store.open(first_serial=1, first_event_id=1, cursor_tag="t")
    try:
        connection = await _connect(pg_dsn, schema_name(runtime))
        try:
            versions = [r[0] for r in await connection.fetch("SELECT version FROM schema_migrations ORDER BY version")]
            assert versions == list(range(1, SCHEMA_VERSION + 1))
            assert await _rows(connection) == before
        finally:
            await connection.close()
    except BaseException:
        await store.close()
        raise
    return store


# -- with turn control (schema 6 on version 5's functions, decision 0184) -------------------------------


async def test_a_turn_end_in_a_batch_hands_its_slot_out_and_an_accept_beyond_the_slots_waits(
    pg_dsn: str,
    replicas: Callable[..., Any],
) -> None:
    a = await replicas()
    first, second, third = [await _create(a) for _ in range(3)]
    running = await _accept(a, first, max_turns=1)
    waiting = await _accept(a, second, max_turns=1)
    assert isinstance(waiting, WaitingInput) and waiting.place == 1
    # One batch (sorted: first's turn end, then third's accept): the slot goes to second, who waited.
    ended, third_waits = await asyncio.gather(
        _complete(a, first, running.worker.turn_number, max_turns=1), _accept(a, third, max_turns=1)
    )
    assert isinstance(third_waits, WaitingInput) and third_waits.place == 1
    (started,) = a.started
    assert (started.worker_id, started.turn, started.content) == (second, 1, "hi")
    by_id = {event.id: event for event in ended}
    accepted = by_id[started.event_id]
    assert accepted.type == "worker.input_accepted"
    assert accepted.data["queued_event_id"] == waiting.event_id
    assert await _turn_control(pg_dsn, a) == (1, [(second, 1)], [(third, "admission")])


async def test_a_queued_input_numbered_inside_the_batch_comes_back_numbered(
    pg_dsn: str, replicas: Callable[..., Any]
) -> None:
    """A turn's end that starts an input queued behind it numbers that input's ``worker.input_queued``
    first if no pass has yet (``ctl_queued_id``): a pass inside the batch. The batch's events it
    numbered come back with the rest, and the feed stays gapless."""
    a = await replicas()
    worker_id = await _create(a)
    turn = (await _accept(a, worker_id)).worker.turn_number
    # Queued by a call that commits and leaves its event without an id (a replica that died
    # before numbering it, or whose numbering has not run yet).
    connection = await _connect(pg_dsn, a.schema)
    try:
        row = await connection.fetchrow(
            "SELECT outcome, main_seq FROM enqueue_input($1, $2, 'user', 'next', 1000000, 2, 64, 8)",
            worker_id,
            a.replica_id,
        )
        assert row["outcome"] == "queued"
        assert await connection.fetchval("SELECT id FROM events WHERE seq = $1", row["main_seq"]) is None
    finally:
        await connection.close()
    ended = await _complete(a, worker_id, turn)
    assert [e.type for e in ended] == [
        "worker.output",
        "worker.turn_completed",
        "worker.input_accepted",
        "worker.turn_started",
    ]
    assert all(e.id for e in ended)
    (started,) = a.started
    assert (started.turn, started.content) == (turn + 1, "next")
    events = await a.read_events(after=0, limit=100)
    assert [e.id for e in events] == list(range(FIRST_EVENT, FIRST_EVENT + len(events)))
    queued = next(e for e in events if e.type == "worker.input_queued")
    assert next(e for e in ended if e.id == started.event_id).data["queued_event_id"] == queued.id
    # Everything the batch numbered is there for the cache's replay, the queued event included.
    assert {e.id for e in ended} | {queued.id} <= set(a.fresh)


async def test_batches_and_turn_control_racing_on_three_replicas_never_deadlock_and_keep_the_count(
    pg_dsn: str,
    replicas: Callable[..., Any],
) -> None:
    """Batched accepts and turn ends racing with enqueues, interrupts and cancels (kept or dropped
    queues) on 8 workers from three replicas, 3 turn slots, for 3 s: no deadlock or unexpected
    error; every turn started is run by the replica that started it; once all is quiet the
    counter is 0, nothing waits, the feed is gapless and no worker's turns overlap."""
    stores = [await replicas() for _ in range(3)]
    workers = [await _create(stores[n % 3]) for n in range(8)]
    slots = 3
    stop = asyncio.Event()
    rng = random.Random(184)
    turns: set[asyncio.Task[None]] = set()
    ops = {"accepted": 0, "queued": 0, "refused": 0, "lost": 0, "interrupts": 0, "cancels": 0}

    async def run(store: PgStore, worker_id: str, turn: int) -> None:
        if rng.random() < 0.5:
            await asyncio.sleep(0.002)
        try:
            await _complete(store, worker_id, turn, max_turns=slots)
        except TurnLost:
            ops["lost"] += 1
        hand_out(store)

    def spawn(store: PgStore, worker_id: str, turn: int) -> None:
        task = asyncio.create_task(run(store, worker_id, turn))
        turns.add(task)
        task.add_done_callback(turns.discard)

    def hand_out(store: PgStore) -> None:
        # The turns this replica's decisions started from waiting inputs: it runs them.
        started, store.started = store.started, []
        for item in started:
            spawn(store, item.worker_id, item.turn)

    async def client() -> None:
        while not stop.is_set():
            store = stores[rng.randrange(3)]
            worker_id = rng.choice(workers)
            pick = rng.random()
            new = NewInput("user", "x", max_entries=10**6, per_turn=2, max_turns=slots)
            if pick < 0.6:
                try:
                    taken = await _accept(store, worker_id, max_turns=slots)
                except WorkerBusy:
                    ops["refused"] += 1
                else:
                    if isinstance(taken, WaitingInput):
                        ops["queued"] += 1
                    else:
                        ops["accepted"] += 1
                        spawn(store, worker_id, taken.worker.turn_number)
            elif pick < 0.75:
                answer = await store.control.enqueue(worker_id, new, max_queued=2)
                ops[answer.outcome if answer.outcome in ops else "refused"] += 1
                if answer.outcome == "accepted":
                    spawn(store, worker_id, answer.turn)
            elif pick < 0.85:
                answer = await store.control.interrupt(worker_id, new)
                ops["interrupts"] += 1
                if answer.outcome == "accepted":
                    spawn(store, worker_id, answer.turn)
            else:
                await store.control.end_worker(
                    worker_id, reason="cancel", keep=rng.random() < 0.5, max_entries=10**6, max_turns=slots
                )
                ops["cancels"] += 1
            hand_out(store)

    clients = [asyncio.create_task(client()) for _ in range(16)]
    await asyncio.sleep(3)
    # Enough of each kind to check, however slow the machine (a loaded one decides fewer in 3 s).
    async with asyncio.timeout(60):
        while not (
            ops["accepted"] + ops["queued"] > 60 and ops["queued"] > 20 and ops["interrupts"] > 5 and ops["cancels"] > 5
        ):
            await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*clients)
    # Quiet: every turn ends, and each end hands its slot to what still waits.
    for _ in range(200):
        for store in stores:
            hand_out(store)
        if not turns:
            break
        await asyncio.gather(*list(turns))
    assert not turns and not any(store.started for store in stores)

    assert await _turn_control(pg_dsn, stores[0]) == (0, [], [])
    events = await stores[0].read_events(after=0, limit=100_000)
    assert [e.id for e in events] == list(range(FIRST_EVENT, FIRST_EVENT + len(events)))
    started = 0
    for worker_id in workers:
        numbers = never_overlap(events, worker_id)
        assert numbers == list(range(1, len(numbers) + 1))
        started += len(numbers)
    # Most inputs wait for one of the 3 slots and start from a turn's end (in a batch) or a cancel.
    assert started > 50 and ops["queued"] > 20 and ops["interrupts"] > 5 and ops["cancels"] > 5, (started, ops)


# -- the migration from version 5, with data -------------------------------------------------------------


async def test_a_version_5_runtime_with_turns_running_and_inputs_waiting_migrates_to_6(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written by version-5 code: w-1 in a turn of a replica that is gone, w-2 waiting for the only slot,
    an input queued behind w-1's turn. A version-6 replica migrates it (a function added, no data
    changed), ends the lost turn, and its batched turn ends hand the slots out as version 5 would."""
    runtime = "migrated"
    schema = schema_name(runtime)
    connection = await asyncpg.connect(**connect_kwargs(pg_dsn))
    try:
        await old_runtime(connection, monkeypatch, schema, version=5, profile="echo")
        # Version 5's own functions, one slot: w-1 runs, w-2 waits for the slot, one input queued behind w-1.
        assert (await connection.fetchrow("SELECT * FROM accept_input('w-1', 'old', 'user', 'a', 100, 2, 1)"))[
            "outcome"
        ] == "accepted"
        assert (await connection.fetchrow("SELECT * FROM accept_input('w-2', 'old', 'user', 'b', 100, 2, 1)"))[
            "outcome"
        ] == "queued"
        assert (await connection.fetchrow("SELECT * FROM enqueue_input('w-1', 'old', 'user', 'c', 100, 2, 1, 8)"))[
            "outcome"
        ] == "queued"
        await connection.execute("SELECT sequence_events('c')")
        # The old replica is gone (its lease ran out).
        await connection.execute("UPDATE replicas SET expires_at = clock_timestamp() - interval '1 second'")
        before = await _rows(connection)
        monkeypatch.undo()
        await connection.execute("RESET search_path")
    finally:
        await connection.close()
    store = await _open_migrated(pg_dsn, runtime, before)
    try:
        # The lost turn ends; its slot goes to w-2 (the line first), w-1's queued input joins the line.
        await store.control.end_lost_turns(max_entries=100, max_turns=1)
        (took,) = store.started
        store.started.clear()
        assert (took.worker_id, took.turn, took.content) == ("w-2", 1, "b")
        assert await _turn_control(pg_dsn, store) == (1, [("w-2", 1)], [("w-1", "admission")])
        # w-2's turn ends through decide(): the slot goes to w-1's queued input, run here.
        ended = await _complete(store, "w-2", 1, max_turns=1)
        (took,) = store.started
        assert (took.worker_id, took.turn, took.content) == ("w-1", 2, "c")
        assert [e.type for e in ended] == [
            "worker.output",
            "worker.turn_completed",
            "worker.input_accepted",
            "worker.turn_started",
        ]
        await _complete(store, "w-1", 2, max_turns=1)
        assert await _turn_control(pg_dsn, store) == (0, [], [])
        events = await store.read_events(after=0, limit=100)
        assert [e.id for e in events] == list(range(1, len(events) + 1))
    finally:
        await store.close()


# -- a batch's events written once, with their ids (schema 7, decision 0235) ---------------------------

_DECIDE_SQL = (
    "SELECT * FROM decide($1, $2, 'full', $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[], "
    "$8::integer[], $9::integer[], $10::jsonb[], $11::bigint[], $12::bigint[], $13::integer[])"
)


async def _decide_sql(connection: Any, owner: str, decisions: list[tuple[str, str, str, int]]) -> list[Any]:
    """``decide()`` called as a replica calls it: ``(kind, worker, content, turn)`` each, 64 slots."""
    count = len(decisions)
    return list(
        await connection.fetch(
            _DECIDE_SQL,
            owner,
            "c",
            [kind for kind, _, _, _ in decisions],
            [worker for _, worker, _, _ in decisions],
            ["user" if kind == "a" else None for kind, _, _, _ in decisions],
            [content for _, _, content, _ in decisions],
            [100] * count,
            [2] * count,
            [turn for _, _, _, turn in decisions],
            ["{}"] * count,
            [0] * count,
            [0] * count,
            [64] * count,
        )
    )


async def _written_by_version(
    pg_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    runtime: str,
    version: int,
    then: Callable[[Any], Awaitable[Any]] | None = None,
) -> tuple[list[list[Any]], Any]:
    """``runtime`` written by schema ``version``'s own ``decide()``: w-1 in a turn of replica ``old``, w-2
    with a whole turn behind it, then what ``then(connection)`` does; its rows, and what ``then`` answered."""
    connection = await asyncpg.connect(**connect_kwargs(pg_dsn))
    try:
        await old_runtime(connection, monkeypatch, schema_name(runtime), version=version, profile="echo")
        await _decide_sql(connection, "old", [("a", "w-1", "a", 0), ("a", "w-2", "b", 0)])
        await _decide_sql(connection, "old", [("c", "w-2", "reply b", 1)])
        answer = None if then is None else await then(connection)
        before = await _rows(connection)
        monkeypatch.undo()
        await connection.execute("RESET search_path")
    finally:
        await connection.close()
    return before, answer


async def _migrated_feed_is_whole(store: PgStore, last: int) -> None:
    """The feed of a runtime :func:`_written_by_version` made, after one more batch: ids 1..``last`` without
    a gap, w-1 and w-2 two turns each that never overlap, the inputs a, b, c, d accepted in that order."""
    events = await store.read_events(after=0, limit=100)
    assert [e.id for e in events] == list(range(1, last + 1))
    for worker_id in ("w-1", "w-2"):
        assert never_overlap(events, worker_id) == [1, 2]
    assert [e.data.get("content") for e in events if e.type == "worker.input_accepted"] == ["a", "b", "c", "d"]


async def _writes(connection: Any, table: str) -> tuple[int, int]:
    """Rows inserted into and updated in ``table`` (of the search path's schema) by this session, not yet
    reported to the statistics: read at a transaction's start and again inside it, the difference is
    that transaction's (reports happen between transactions only)."""
    row = await connection.fetchrow(
        "SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = $1 AND schemaname = current_schema()",
        table,
    )
    return int(row[0]), int(row[1])


async def _decide_counting_writes(
    connection: Any, owner: str, decisions: list[tuple[str, str, str, int]]
) -> tuple[list[Any], dict[str, tuple[int, int]]]:
    """``decide()`` in a transaction of its own, and the rows it inserted and updated in events and entries."""
    async with connection.transaction():
        before = {table: await _writes(connection, table) for table in ("events", "entries")}
        rows = await _decide_sql(connection, owner, decisions)
        after = {table: await _writes(connection, table) for table in ("events", "entries")}
    return rows, {t: (after[t][0] - before[t][0], after[t][1] - before[t][1]) for t in after}


async def test_a_batch_writes_its_events_and_entries_once_with_their_ids(pg_dsn: str) -> None:
    """The batch's own events and entries are inserted numbered (never updated afterwards); only an
    event another transaction committed without an id is numbered by an update, before the batch's."""
    schema = schema_name(RUNTIME)
    store = PgStore(pg_dsn, RUNTIME, lease_seconds=10, pool_size=2)
    await store.open(first_serial=1, first_event_id=FIRST_EVENT, cursor_tag="t")
    try:
        first, second = await _create(store), await _create(store)
        connection = await _connect(pg_dsn, schema)
        try:
            turn = (await _accept(store, first)).worker.turn_number
            # Left without an id by its writer (an input queued behind first's turn).
            queued = await connection.fetchrow(
                "SELECT outcome, main_seq FROM enqueue_input($1, $2, 'user', 'q', 100, 2, 64, 8)",
                first,
                store.replica_id,
            )
            assert queued["outcome"] == "queued"
            last = await store.last_event_id()
            # first's turn ends (the queued input starts), second takes an input: one batch.
            rows, written = await _decide_counting_writes(
                connection, store.replica_id, [("c", first, "ok", turn), ("a", second, "hi", 0)]
            )
            outcomes = [row["r_outcome"] for row in rows if row["r_call"] is not None]
            assert outcomes == ["completed", "accepted"]
            numbered = sorted((row["e_id"], row["e_seq"], row["e_type"]) for row in rows if row["r_call"] is None)
            # The queued event first (committed before the batch), then the batch's six, gapless.
            assert [n[0] for n in numbered] == list(range(last + 1, last + 8))
            assert numbered[0][1] == queued["main_seq"]
            assert [n[2] for n in numbered] == [
                "worker.input_queued",
                "worker.output",
                "worker.turn_completed",
                "worker.input_accepted",
                "worker.turn_started",
                "worker.input_accepted",
                "worker.turn_started",
            ]
            # Six events and three entries inserted; one update each, of the queued event (and of
            # nothing in entries: a queued input has no entry until it starts).
            assert written == {"events": (6, 1), "entries": (3, 0)}
            assert await connection.fetchval("SELECT value FROM counters WHERE name = 'event_id'") == last + 7
            mismatched = await connection.fetchval(
                "SELECT count(*) FROM entries en JOIN events ev ON ev.seq = en.event_seq "
                "WHERE en.event_id IS DISTINCT FROM ev.id"
            )
            assert mismatched == 0
            # Outside decide() nothing is numbered at insert: the setting went with its transaction.
            probe = connection.transaction()
            await probe.start()
            seq = await connection.fetchval(
                "INSERT INTO events (type, worker_id, created_at, data) "
                "VALUES ('worker.probe', NULL, clock_timestamp(), '{}') RETURNING seq"
            )
            assert await connection.fetchval("SELECT id FROM events WHERE seq = $1", seq) is None
            await probe.rollback()
        finally:
            await connection.close()
    finally:
        await store.close()


async def test_a_batch_of_refusals_only_takes_no_lock_and_numbers_nothing(pg_dsn: str) -> None:
    """A batch whose decisions are all refused writes nothing: it neither waits for the sequencing
    lock (held here by another transaction) nor moves the counter."""
    async with _replica_with_connections(pg_dsn) as (store, holder, connection):
        worker_id = await _create(store)
        await _accept(store, worker_id)
        last = await store.last_event_id()
        async with holder.transaction():
            await holder.execute(
                "SELECT pg_advisory_xact_lock(hashtext('runtime-registry sequencing'), hashtext(current_schema()))"
            )
            rows = await asyncio.wait_for(
                _decide_sql(connection, store.replica_id, [("a", worker_id, "x", 0), ("a", "w-none", "y", 0)]), 10
            )
        assert [(row["r_outcome"], row["e_id"]) for row in rows] == [("busy", None), ("unknown", None)]
        assert await store.last_event_id() == last


async def test_a_version_6_runtime_with_unnumbered_events_migrates_to_7(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written by version-6 code: w-1 in a turn of replica ``old`` (decided by version 6's decide()),
    w-2 with a whole turn behind it, and an input queued behind w-1's turn whose event was committed
    without an id (its writer did not live to number it). After the migration (functions, a column
    default and a trigger added, no row changed), version 7's decide() numbers that event first, then
    writes the batch's own numbered; the old events and entries keep their ids and the feed stays gapless."""
    runtime = "migrated"
    schema = schema_name(runtime)

    async def enqueue(connection: Any) -> Any:
        return await connection.fetchrow(
            "SELECT outcome, main_seq FROM enqueue_input('w-1', 'old', 'user', 'c', 100, 2, 64, 8)"
        )

    before, queued = await _written_by_version(pg_dsn, monkeypatch, runtime, 6, then=enqueue)
    assert queued["outcome"] == "queued"
    assert [e["id"] for e in before[1]] == [1, 2, 3, 4, 5, 6, None]
    store = await _open_migrated(pg_dsn, runtime, before)
    try:
        connection = await _connect(pg_dsn, schema)
        try:
            # The old replica's turn ends through version 7 (the queued input starts), w-2 takes another.
            rows, written = await _decide_counting_writes(
                connection, "old", [("c", "w-1", "reply a", 1), ("a", "w-2", "d", 0)]
            )
            assert written == {"events": (6, 1), "entries": (3, 0)}
            assert [row["r_outcome"] for row in rows if row["r_call"] is not None] == ["completed", "accepted"]
            (started,) = json.loads(next(row["r_started"] for row in rows if row["r_call"] == 1))
            assert (started["worker_id"], started["turn"], started["content"]) == ("w-1", 2, "c")
            numbered = {row["e_seq"]: row["e_id"] for row in rows if row["r_call"] is None}
            assert numbered[queued["main_seq"]] == 7 and sorted(numbered.values()) == list(range(7, 14))
            accepted = await connection.fetchval(
                "SELECT data FROM events WHERE worker_id = 'w-1' AND type = 'worker.input_accepted' ORDER BY id DESC LIMIT 1"
            )
            assert json.loads(accepted)["queued_event_id"] == 7
            assert await connection.fetchval("SELECT value FROM counters WHERE name = 'event_id'") == 13
            assert await connection.fetchval("SELECT count(*) FROM entries WHERE event_id IS NULL") == 0
        finally:
            await connection.close()
        await _migrated_feed_is_whole(store, 13)
    finally:
        await store.close()


# -- a batch decided set-wise (schema 8, decision 0236) -------------------------------------------------

#: A decision for :func:`_decide_each_or_set`: kind, worker, content (input or reply), turn, the worker's
#: transcript bound, and the turn's input and output tokens.
Call = tuple[str, str, str | None, int, int, int, int]


async def _decide_as(connection: Any, function: str, owner: str, calls: list[Call]) -> list[Any]:
    """``function`` (``decide`` or version 7's ``decide_each``) on ``calls`` sorted as a replica sorts a
    batch (by worker, a turn's end before an accept), 64 slots."""
    calls = sorted(calls, key=lambda c: (c[1], c[0] != "c"))
    return list(
        await connection.fetch(
            f"SELECT * FROM {function}($1, 'c', 'full', $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::integer[], $7::integer[], $8::integer[], $9::jsonb[], $10::bigint[], $11::bigint[], $12::integer[])",
            owner,
            [c[0] for c in calls],
            [c[1] for c in calls],
            ["user" if c[0] == "a" else None for c in calls],
            [c[2] for c in calls],
            [c[4] for c in calls],
            [2] * len(calls),
            [c[3] for c in calls],
            ['{"stop_reason": "end"}'] * len(calls),
            [c[5] for c in calls],
            [c[6] for c in calls],
            [64] * len(calls),
        )
    )


async def _function_calls(connection: Any, names: tuple[str, ...]) -> dict[str, int]:
    """Calls of the schema's functions ``names`` by this session's open transaction (``track_functions``)."""
    rows = await connection.fetch(
        "SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE schemaname = current_schema() "
        "AND funcname = ANY($1::text[])",
        list(names),
    )
    return dict.fromkeys(names, 0) | {row[0]: int(row[1]) for row in rows}


async def test_a_batch_with_nothing_waiting_is_decided_set_wise_without_a_function_per_decision(pg_dsn: str) -> None:
    """Turn ends, accepts (one for a worker whose turn ends in the same batch) and refusals in one batch
    with no input waiting: decided by the set-based statements — neither ``accept_input``,
    ``complete_turn`` nor version 7's ``decide_each`` runs — with every outcome, row and event a
    decision-by-decision run gives: ids gapless in ``seq`` order, each worker's turn end before its
    next accept, transcript entries with their event's id."""
    schema = schema_name(RUNTIME)
    store = PgStore(pg_dsn, RUNTIME, lease_seconds=10, pool_size=2)
    await store.open(first_serial=1, first_event_id=FIRST_EVENT, cursor_tag="t")
    try:
        w1, w2, w3, w4 = [await _create(store) for _ in range(4)]
        turns = {w: (await _accept(store, w)).worker.turn_number for w in (w1, w2, w3)}
        last = await store.last_event_id()
        connection = await _connect(pg_dsn, schema)
        try:
            await connection.execute("SET track_functions = 'pl'")
            async with connection.transaction():
                rows = await _decide_as(
                    connection,
                    "decide",
                    store.replica_id,
                    [
                        ("c", w1, "reply", turns[w1], 100, 5, 7),
                        ("a", w1, "again", 0, 100, 0, 0),
                        ("c", w2, None, turns[w2] + 1, 100, 0, 0),  # not its turn: lost
                        ("a", w3, "refused", 0, 100, 0, 0),  # busy, seen by the read
                        ("a", w4, "new", 0, 100, 0, 0),
                        ("a", "w-none", "nobody", 0, 100, 0, 0),
                    ],
                )
                calls = await _function_calls(connection, ("accept_input", "complete_turn", "decide_each"))
            assert calls == {"accept_input": 0, "complete_turn": 0, "decide_each": 0}
            outcomes = {
                (row["r_call"], row["r_outcome"], len(row["r_seqs"] or ())) for row in rows if row["r_call"] is not None
            }
            # Sorted by worker: w1's end and accept, w2, w3, w4, then w-none.
            assert outcomes == {
                (1, "completed", 2),
                (2, "accepted", 2),
                (3, "lost", 0),
                (4, "busy", 0),
                (5, "accepted", 2),
                (6, "unknown", 0),
            }
            numbered = sorted(
                (row["e_seq"], row["e_id"], row["e_worker_id"], row["e_type"]) for row in rows if row["r_call"] is None
            )
            assert [n[1] for n in numbered] == list(range(last + 1, last + 7))
            assert [(n[2], n[3]) for n in numbered] == [
                (w1, "worker.output"),
                (w1, "worker.turn_completed"),
                (w1, "worker.input_accepted"),
                (w1, "worker.turn_started"),
                (w4, "worker.input_accepted"),
                (w4, "worker.turn_started"),
            ]
            w1_row = next(row for row in rows if row["r_call"] == 2)
            assert (w1_row["w_status"], w1_row["w_owner"], w1_row["w_turn_number"], w1_row["w_entries"]) == (
                "busy",
                store.replica_id,
                turns[w1] + 1,
                3,
            )
            assert (w1_row["w_turns"], w1_row["w_input_tokens"], w1_row["w_output_tokens"]) == (1, 5, 7)
            data = {
                (r["worker_id"], r["type"]): json.loads(r["data"])
                for r in await connection.fetch("SELECT worker_id, type, data::text FROM events WHERE id > $1", last)
            }
            assert data[(w1, "worker.output")] == {"transcript_sequence": 2, "role": "assistant", "content": "reply"}
            assert data[(w1, "worker.turn_completed")] == {"turn": turns[w1], "stop_reason": "end"}
            assert data[(w1, "worker.input_accepted")] == {"transcript_sequence": 3, "role": "user", "content": "again"}
            assert data[(w4, "worker.turn_started")] == {"turn": 1}
            entries = await connection.fetch(
                "SELECT en.sequence, en.role, en.content, ev.id = en.event_id AS same FROM entries en "
                "JOIN events ev ON ev.seq = en.event_seq WHERE ev.id > $1 ORDER BY ev.id",
                last,
            )
            assert [tuple(e) for e in entries] == [
                (2, "assistant", "reply", True),
                (3, "user", "again", True),
                (1, "user", "new", True),
            ]
            assert await connection.fetchval("SELECT value FROM counters WHERE name = 'event_id'") == last + 6
        finally:
            await connection.close()
        # w1 (again), w2 (its turn goes on), w3, w4.
        assert (await _turn_control(pg_dsn, store))[0] == 4
        events = await store.read_events(after=0, limit=100)
        assert [e.id for e in events] == list(range(FIRST_EVENT, FIRST_EVENT + len(events)))
    finally:
        await store.close()


async def test_inputs_the_set_wise_update_does_not_take_are_decided_alone(pg_dsn: str) -> None:
    """A second input for the same worker in a batch is refused as busy; an accept for a worker whose
    turn end in the batch is lost is refused as busy; an accept whose worker another transaction took
    between the batch's read and its lock on the turns counter is refused as busy — none of them
    accepted twice, the count of running turns exact."""
    async with _replica_with_connections(pg_dsn) as (store, holder, connection):
        w1, w2, w3 = [await _create(store) for _ in range(3)]
        turn = (await _accept(store, w2)).worker.turn_number
        rows = await _decide_as(
            connection,
            "decide",
            store.replica_id,
            [
                ("a", w1, "first", 0, 100, 0, 0),
                ("a", w1, "second", 0, 100, 0, 0),
                ("c", w2, None, turn + 3, 100, 0, 0),
                ("a", w2, "behind a lost end", 0, 100, 0, 0),
            ],
        )
        outcomes = [(row["r_call"], row["r_outcome"]) for row in sorted(rows, key=_by_call) if row["r_call"]]
        assert outcomes == [(1, "accepted"), (2, "busy"), (3, "lost"), (4, "busy")]
        accepted = [row["e_worker_id"] for row in rows if row["e_type"] == "worker.input_accepted"]
        assert accepted == [w1]
        # w3 is idle when the batch reads it; another transaction holding the counter takes it first.
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM counters WHERE name = 'turns' FOR UPDATE")
            racing = asyncio.create_task(
                _decide_as(connection, "decide", store.replica_id, [("a", w3, "late", 0, 100, 0, 0)])
            )
            for _ in range(200):
                waiting = await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%decide(%'"
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting == 1
            taken = await holder.fetchval(
                "SELECT outcome FROM accept_input($1, $2, 'user', 'first come', 100, 2, 64)", w3, store.replica_id
            )
            assert taken == "accepted"
        (late,) = [row for row in await asyncio.wait_for(racing, 10) if row["r_call"]]
        assert late["r_outcome"] == "busy"
        assert (await _turn_control(pg_dsn, store))[0] == 3
        events = await store.read_events(after=0, limit=100)
        assert [e.id for e in events] == list(range(FIRST_EVENT, FIRST_EVENT + len(events)))
        # Taken once, by the other transaction (its events are numbered by a pass after it, as ever).
        contents = await connection.fetch(
            "SELECT data->>'content' FROM events WHERE worker_id = $1 AND type = 'worker.input_accepted'", w3
        )
        assert [row[0] for row in contents] == ["first come"]


def _by_call(row: Any) -> int:
    return int(row["r_call"] or 0)


async def test_set_wise_batches_decide_what_version_7_decides_one_by_one(pg_dsn: str) -> None:
    """Random batches (accepts, turn ends with and without replies, lost ends, second inputs, unknown
    workers, transcripts that fill up) on two runtimes: one decided by ``decide()``, the other by
    version 7's ``decide_each()`` decision by decision. Every outcome, every worker row and each
    worker's events and transcript are the same."""
    rng = random.Random(236)
    sides = ("decide", "decide_each")
    stores = {side: PgStore(pg_dsn, f"rt-{side.replace('_', '-')}", lease_seconds=10, pool_size=2) for side in sides}
    connections: dict[str, Any] = {}
    try:
        for side, store in stores.items():
            await store.open(first_serial=1, first_event_id=1, cursor_tag="t")
            connections[side] = await _connect(pg_dsn, store.schema)
        workers = {side: [await _create(store) for _ in range(6)] for side, store in stores.items()}
        assert workers["decide"] == workers["decide_each"]
        names = workers["decide"] + ["w-none"]
        turn = dict.fromkeys(names, 0)
        entries = dict.fromkeys(names, 0)
        seen: set[str] = set()
        for round_ in range(40):
            calls: list[Call] = []
            for worker_id in rng.sample(names, rng.randint(1, 5)):
                # Tight transcripts now and then: full accepts, transcript_full turn ends.
                bound = rng.choice((100, 100, 100, entries[worker_id], entries[worker_id] + 1))
                if rng.random() < 0.5:
                    reply = rng.choice((None, "", f"reply {round_}"))
                    number = turn[worker_id] if rng.random() < 0.85 else turn[worker_id] + 1
                    calls.append(("c", worker_id, reply, number, bound, rng.randint(0, 9), rng.randint(0, 9)))
                for _ in range(rng.choice((1, 1, 1, 2))):
                    calls.append(("a", worker_id, f"input {round_}", 0, bound, 0, 0))
            answers = {}
            for side in sides:
                rows = await _decide_as(connections[side], side, stores[side].replica_id, calls)
                answers[side] = sorted(
                    (row["r_call"], row["r_outcome"], len(row["r_seqs"] or ()), row["r_started"], row["w_turn_number"])
                    for row in rows
                    if row["r_call"] is not None
                )
            assert answers["decide"] == answers["decide_each"], (round_, calls)
            seen.update(answer[1] for answer in answers["decide"])
            for worker_id in names:
                row = await connections["decide"].fetchrow(
                    "SELECT turn_number, entries FROM workers WHERE worker_id = $1", worker_id
                )
                if row is not None:
                    turn[worker_id], entries[worker_id] = row
        # Every outcome a batch can give without inputs waiting came up.
        assert seen == {"accepted", "busy", "full", "unknown", "completed", "lost", "transcript_full"}, seen
        for query in (
            "SELECT worker_id, status, owner IS NOT NULL, turn_number, entries, turns, input_tokens, output_tokens "
            "FROM workers ORDER BY worker_id",
            "SELECT worker_id, type, data::text FROM events WHERE worker_id IS NOT NULL ORDER BY worker_id, id",
            "SELECT w.worker_id, en.sequence, en.role, en.content, en.event_id IS NOT NULL FROM entries en "
            "JOIN workers w USING (serial) ORDER BY w.worker_id, en.sequence",
            "SELECT value FROM counters WHERE name = 'turns'",
        ):
            assert [tuple(r) for r in await connections["decide"].fetch(query)] == [
                tuple(r) for r in await connections["decide_each"].fetch(query)
            ], query
        for store in stores.values():
            events = await store.read_events(after=0, limit=10_000)
            assert [e.id for e in events] == list(range(1, len(events) + 1))
    finally:
        for connection in connections.values():
            await connection.close()
        for store in stores.values():
            await store.close()


async def test_a_version_7_runtime_with_a_turn_running_migrates_to_8(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written by version-7 code (its own decide()): w-1 in a turn of replica ``old``, w-2 with a whole
    turn behind it. After the migration (decide() replaced, version 7's kept as decide_each; no row
    changed) the old turn ends and both workers take an input in one set-wise batch, numbered after the
    old events without a gap."""
    runtime = "migrated-8"
    schema = schema_name(runtime)
    before, _ = await _written_by_version(pg_dsn, monkeypatch, runtime, 7)
    assert [e["id"] for e in before[1]] == [1, 2, 3, 4, 5, 6]
    store = await _open_migrated(pg_dsn, runtime, before)
    try:
        connection = await _connect(pg_dsn, schema)
        try:
            await connection.execute("SET track_functions = 'pl'")
            async with connection.transaction():
                rows = await _decide_sql(
                    connection, "old", [("c", "w-1", "reply a", 1), ("a", "w-1", "c", 0), ("a", "w-2", "d", 0)]
                )
                calls = await _function_calls(connection, ("accept_input", "complete_turn", "decide_each"))
            assert calls == {"accept_input": 0, "complete_turn": 0, "decide_each": 0}
            assert [row["r_outcome"] for row in sorted(rows, key=_by_call) if row["r_call"]] == [
                "completed",
                "accepted",
                "accepted",
            ]
            assert await connection.fetchval("SELECT value FROM counters WHERE name = 'event_id'") == 12
            assert await connection.fetchval("SELECT value FROM counters WHERE name = 'turns'") == 2
            assert await connection.fetchval("SELECT count(*) FROM entries WHERE event_id IS NULL") == 0
        finally:
            await connection.close()
        await _migrated_feed_is_whole(store, 12)
    finally:
        await store.close()


async def test_a_batch_reads_its_own_workers_rows_not_every_idle_one(pg_dsn: str) -> None:
    """On a new runtime (no statistics yet) with 300 idle workers, a batch of 8 accepts reads about 8
    worker rows per statement, not every idle worker: its plans look workers up by id (a plan that
    scans the idle workers' index is cached for the connection and costs O(idle workers) per batch)."""
    async with _replica_with_connections(pg_dsn) as (store, _, connection):
        await connection.execute(
            "INSERT INTO workers (serial, worker_id, intent, profile, created_at, status) "
            "SELECT 1000 + n, 'w-idle-' || n, '{\"kind\": \"assistant\"}', 'builtin:echo', clock_timestamp(), 'idle' "
            "FROM generate_series(1, 300) AS n"
        )
        for first in (1, 9, 17):
            async with connection.transaction():
                before = await connection.fetchrow(
                    "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'workers' AND schemaname = current_schema()"
                )
                batch = [("a", f"w-idle-{n}", "hi", 0, 100, 0, 0) for n in range(first, first + 8)]
                rows = await _decide_as(connection, "decide", store.replica_id, batch)
                after = await connection.fetchrow(
                    "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'workers' AND schemaname = current_schema()"
                )
            assert [row["r_outcome"] for row in rows if row["r_call"]] == ["accepted"] * 8
            # The read, the lock and the update: 8 rows each (and a few more for the foreign keys).
            assert after[0] - before[0] < 60, after[0] - before[0]
