"""Live ``worker.output_delta`` events of a turn on one replica, seen by a subscriber of another replica."""

from __future__ import annotations

import asyncio
import time

from registry_core import TurnEngine, TurnResult
from registry_core.models import Event
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.postgres import PostgresStore

PIECES = 60
BIG = "€" * 6000  # 18,000 bytes of UTF-8: more than one NOTIFY payload


def streaming() -> TurnEngine:
    async def run(turn):  # type: ignore[no-untyped-def]
        for index in range(PIECES):
            turn.emit(f"{index},")
            await asyncio.sleep(0.005)
        turn.emit(BIG)
        return TurnResult("done")

    return TurnEngine("streaming", run)


def replica(dsn: str, rate: float) -> EmbeddedRuntime:
    engine = streaming()
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine=engine.name)}, default_profile="p", output_deltas_per_second=rate
    )
    store = PostgresStore(dsn, "backend-internal", lease_seconds=5)
    return EmbeddedRuntime(settings, store=store, engines={**BUILTIN_ENGINES, engine.name: engine})


async def test_a_subscriber_on_another_replica_sees_the_deltas_in_order_at_the_owners_rate(pg_dsn: str) -> None:
    a, b = replica(pg_dsn, rate=20), replica(pg_dsn, rate=20)
    await a.start()
    await b.start()
    try:
        live_a, live_b = a.events.subscribe(), b.events.subscribe()
        worker_id = (await a.create_worker()).worker.worker_id
        await b.refresh()
        started = time.monotonic()
        await a.send_input(worker_id, "go")
        async with asyncio.timeout(20):
            # The owner's record: busy from the moment send_input returned, idle once the turn ended.
            while a.get_worker(worker_id).status != "idle":
                await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started

        def deltas(subscription) -> list[Event]:  # type: ignore[no-untyped-def]
            return [e for e in subscription.take(up_to=2**62) if e.type == "worker.output_delta"]

        expected = "".join(f"{i}," for i in range(PIECES)) + BIG
        here, there = deltas(live_a), deltas(live_b)
        # Relayed deltas travel on their own connection: they may trail the turn's end a little.
        async with asyncio.timeout(10):
            while "".join(e.data["text"] for e in there) != expected:
                await asyncio.sleep(0.05)
                there += deltas(live_b)
        assert "".join(e.data["text"] for e in there) == expected
        # The same deltas, cut the same way: the coalescing rate is the owner's on every replica.
        assert [e.data["text"] for e in there] == [e.data["text"] for e in here]
        assert len(there) <= elapsed * 20 + 3
        assert {(e.worker_id, e.data["turn"]) for e in there} == {(worker_id, 1)}
    finally:
        await a.close()
        await b.close()
