"""A replica's transcript cache is bounded by ``max_store_bytes``; what it dropped is read again on demand
(decision 0233). Two replicas' runtimes on a real PostgreSQL, in this process."""

from __future__ import annotations

import asyncio

from registry_core import TurnEngine, TurnResult
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.postgres import PostgresStore

#: The smallest budget the settings take.
BUDGET = 65_536
#: Each input (and its echo) is this long: ten workers' transcripts are about four budgets.
TEXT = 12_000


def history_engine(seen: list[list[str]]) -> TurnEngine:
    """Replies with how many entries of history it was given, and keeps their contents."""

    async def run(turn):  # type: ignore[no-untyped-def]
        seen.append([entry.content for entry in turn.history])
        return TurnResult(f"history of {len(turn.history)}")

    return TurnEngine("history", run, reads_history=True)


def replica(dsn: str, seen: list[list[str]]) -> EmbeddedRuntime:
    engine = history_engine(seen)
    settings = EmbeddedSettings(
        profiles={"history": ProfileSettings(engine=engine.name)},
        default_profile="builtin:echo",
        max_store_bytes=BUDGET,
    )
    store = PostgresStore(dsn, "backend-internal", lease_seconds=5)
    return EmbeddedRuntime(settings, store=store, engines={**BUILTIN_ENGINES, engine.name: engine})


async def until_idle(runtime: EmbeddedRuntime, worker_id: str) -> None:
    async with asyncio.timeout(20):
        while runtime.get_worker(worker_id).status != "idle":
            await asyncio.sleep(0.02)
            await runtime.refresh()


async def page(runtime: EmbeddedRuntime, worker_id: str) -> list[str]:
    found: list[str] = []
    start: int | None = 1
    while start is not None:
        slice_ = await runtime.read_transcript_bounded(worker_id, start=start, limit=500)
        found += [entry.content for entry in slice_.items]
        start = slice_.next_start
    return found


async def test_a_replica_keeps_at_most_max_store_bytes_of_transcripts_and_reads_the_rest_again(pg_dsn: str) -> None:
    seen: list[list[str]] = []
    a, b = replica(pg_dsn, seen), replica(pg_dsn, seen)
    await a.start()
    await b.start()
    try:
        workers = [(await a.create_worker()).worker.worker_id for _ in range(10)]
        expected: dict[str, list[str]] = {}
        for n, worker_id in enumerate(workers):
            text = f"{n:02d}" + "x" * TEXT
            await a.send_input(worker_id, text)
            await until_idle(a, worker_id)
            expected[worker_id] = [text, text]
        for runtime in (a, b):
            await runtime.refresh()
            cache = runtime.store._transcripts  # type: ignore[attr-defined]
            # Every transcript read back whole, on both replicas, in any order: the ones
            # dropped are read again from the database.
            for worker_id in reversed(workers):
                assert await page(runtime, worker_id) == expected[worker_id]
                assert cache.bytes <= BUDGET
            assert cache.loads >= 10 - BUDGET // (2 * TEXT)
            # Lengths are always known, entries or not.
            assert [len(runtime.get_worker(w).transcript) for w in workers] == [2] * 10
    finally:
        await a.close()
        await b.close()


async def test_a_turn_on_a_worker_whose_transcript_was_dropped_gets_its_whole_history(pg_dsn: str) -> None:
    seen: list[list[str]] = []
    a = replica(pg_dsn, seen)
    await a.start()
    try:
        reader = (await a.create_worker(profile="history")).worker.worker_id
        await a.send_input(reader, "first " + "y" * TEXT)
        await until_idle(a, reader)
        # Other workers' transcripts push the reader's out of the cache.
        for _ in range(8):
            other = (await a.create_worker()).worker.worker_id
            await a.send_input(other, "z" * TEXT)
            await until_idle(a, other)
        assert not a.get_worker(reader).transcript.loaded  # type: ignore[attr-defined]
        await a.send_input(reader, "second")
        await until_idle(a, reader)
        assert seen[-1] == ["first " + "y" * TEXT, "history of 0"]
        assert (await page(a, reader))[-1] == "history of 2"
    finally:
        await a.close()


async def test_a_replica_started_later_holds_no_entries_until_they_are_read(pg_dsn: str) -> None:
    seen: list[list[str]] = []
    a = replica(pg_dsn, seen)
    await a.start()
    worker_id = (await a.create_worker()).worker.worker_id
    await a.send_input(worker_id, "kept")
    await until_idle(a, worker_id)
    late = replica(pg_dsn, seen)
    await late.start()
    try:
        cache = late.store._transcripts  # type: ignore[attr-defined]
        assert cache.bytes == 0 and len(late.get_worker(worker_id).transcript) == 2
        assert await page(late, worker_id) == ["kept", "kept"]
        assert cache.loads == 1 and cache.bytes > 0
        # A deleted worker's entries leave the cache.
        await late.delete(worker_id)
        assert cache.bytes == 0
    finally:
        await a.close()
        await late.close()
