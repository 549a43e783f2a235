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
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from registry_core.errors import UnknownWorker, WorkerBusy
from registry_core.models import Intent, IntentKind
from runtime_registry.runtimes.embedded.postgres_store import PgStore, TurnLost, connect_kwargs

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
    worker, _ = await store.create_worker(
        make_id=lambda serial: f"w-{serial:013x}abcd1234",
        label=None,
        intent=Intent(IntentKind.ASSISTANT),
        profile="builtin:echo",
        tools=(),
        created_at=datetime.now(UTC),
        max_workers=1000,
        event_data={"profile": "builtin:echo", "intent": "assistant"},
    )
    return worker.worker_id


async def _accept(store: PgStore, worker_id: str) -> Any:
    return await store.accept_input(worker_id, content="hi", role="user", max_entries=10**6, entries_per_turn=2)


async def _complete(store: PgStore, worker_id: str, turn: int) -> Any:
    return await store.complete_turn(worker_id, turn, reply="ok", max_entries=10**6, completed={})


async def test_a_refused_decision_leaves_the_others_of_its_batch_alone(replicas: Callable[..., Any]) -> None:
    (a,) = [await replicas()]
    good = await _create(a)
    busy = await _create(a)
    await _accept(a, busy)
    # Sent together, so decided in one batch: one unknown worker, one busy, one accepted.
    results = await asyncio.gather(_accept(a, "w-nobody"), _accept(a, busy), _accept(a, good), return_exceptions=True)
    assert isinstance(results[0], UnknownWorker)
    assert isinstance(results[1], WorkerBusy)
    accepted = results[2]
    assert not isinstance(accepted, BaseException)
    events = await a.read_events(after=0, limit=100, worker_id=good)
    assert [e.type for e in events] == ["worker.created", "worker.input_accepted", "worker.turn_started"]
    assert accepted.event_id == events[1].id


async def test_a_turn_end_and_the_next_input_in_one_batch_end_the_turn_first(replicas: Callable[..., Any]) -> None:
    (a,) = [await replicas()]
    worker_id = await _create(a)
    first = await _accept(a, worker_id)
    # The next input arrives with the turn's end: in one batch the end is decided first.
    ended, second = await asyncio.gather(_complete(a, worker_id, first.worker.turn_number), _accept(a, worker_id))
    assert [e.type for e in ended] == ["worker.output", "worker.turn_completed"]
    assert second.worker.turn_number == first.worker.turn_number + 1
    types = [e.type for e in await a.read_events(after=0, limit=100, worker_id=worker_id)]
    assert types == [
        "worker.created",
        *("worker.input_accepted", "worker.turn_started", "worker.output", "worker.turn_completed"),
        *("worker.input_accepted", "worker.turn_started"),
    ]


async def test_a_turn_no_longer_ours_writes_nothing_in_a_batch(replicas: Callable[..., Any]) -> None:
    a, b = [await replicas() for _ in range(2)]
    worker_id, other = await _create(a), await _create(a)
    turn = (await _accept(a, worker_id)).worker.turn_number
    await b.cancel(worker_id)
    # With another worker's input in the same batch, which is accepted.
    results = await asyncio.gather(_complete(a, worker_id, turn), _accept(a, other), return_exceptions=True)
    assert isinstance(results[0], TurnLost)
    assert not isinstance(results[1], BaseException)
    types = [e.type for e in await a.read_events(after=0, limit=100, worker_id=worker_id)]
    assert types[-1] == "worker.turn_cancelled"


async def test_batches_of_three_replicas_keep_the_busy_rule_and_each_workers_order(
    replicas: Callable[..., Any],
) -> None:
    """Racing inputs and turn ends on 12 workers from three replicas, in random order, for 3 s: no
    deadlock or error, every accepted turn is ended exactly once, ids are gapless, and each worker's
    events follow accept, start, output, end, turn after turn."""
    stores = [await replicas() for _ in range(3)]
    workers = [await _create(stores[n % 3]) for n in range(12)]
    accepted: dict[str, list[int]] = {w: [] for w in workers}
    stop = asyncio.Event()
    rng = random.Random(18)

    async def client(index: int) -> None:
        while not stop.is_set():
            store = stores[rng.randrange(3)]
            worker_id = rng.choice(workers)
            try:
                result = await _accept(store, worker_id)
            except WorkerBusy:
                await asyncio.sleep(0)
                continue
            turn = result.worker.turn_number
            accepted[worker_id].append(turn)
            # The turn ends from the replica that accepted it, now or a moment later.
            if rng.random() < 0.5:
                await asyncio.sleep(0.001)
            await _complete(store, worker_id, turn)

    clients = [asyncio.create_task(client(n)) for n in range(24)]
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*clients)

    events = await stores[0].read_events(after=0, limit=100_000)
    assert [e.id for e in events] == list(range(FIRST_EVENT, FIRST_EVENT + len(events)))
    for worker_id, turns in accepted.items():
        assert turns == list(range(1, len(turns) + 1)), "a turn number was given twice or skipped"
        mine = [e for e in events if e.worker_id == worker_id]
        types = [e.type for e in mine[1:]]
        assert types == [
            "worker.input_accepted",
            "worker.turn_started",
            "worker.output",
            "worker.turn_completed",
        ] * len(turns)
        started = [e.data["turn"] for e in mine if e.type == "worker.turn_started"]
        assert started == turns
    assert sum(len(turns) for turns in accepted.values()) > 50


async def test_the_batch_commits_at_the_servers_durability_setting(pg_dsn: str, replicas: Callable[..., Any]) -> None:
    """``accept_input`` alone commits without waiting for its flush; ``decide()`` answers clients, so it
    sets that back before its commit (decision 0234): what a replica acknowledges is durable."""
    a = await replicas()
    worker_id = await _create(a)
    # The session's setting is "on" (the test server's default is off, for speed).
    settings = {"search_path": f'"{a.schema}"', "synchronous_commit": "on"}
    connection = await asyncpg.connect(**connect_kwargs(pg_dsn), server_settings=settings)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.fetch(
            "SELECT * FROM accept_input($1, $2, 'user', 'hi', 100, 2, 64)", worker_id, a.replica_id
        )
        alone = await connection.fetchval("SHOW synchronous_commit")
        await transaction.rollback()
        async with connection.transaction():
            rows = await connection.fetch(
                "SELECT r_call, r_outcome FROM decide($1, $2, $3, $4::text[], $5::text[], $6::text[], $7::text[], "
                "$8::integer[], $9::integer[], $10::integer[], $11::jsonb[], $12::bigint[], $13::bigint[], $14::integer[])",
                a.replica_id,
                a.channel,
                "full",
                ["a"],
                [worker_id],
                ["user"],
                ["hi"],
                [100],
                [2],
                [0],
                [None],
                [0],
                [0],
                [64],
            )
            batched = await connection.fetchval("SHOW synchronous_commit")
    finally:
        await connection.close()
    assert [tuple(r) for r in rows if r[0] is not None] == [(1, "accepted")]
    assert alone == "off"
    assert batched == "on"
