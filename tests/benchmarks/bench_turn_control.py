"""What a turn that waited costs against one that started at once, in one run (decisions 0190, 0191).

Run: python tests/benchmarks/bench_turn_control.py [--rounds 7] [--turns 2000] [--pg]

An embedded runtime over the memory store, instant turns (the builtin echo
engine), in this process. With ``--pg``, the same cases on one PostgreSQL
replica (a throwaway server, durability at the defaults, a fresh database
per case; decision 0184): the database decides every policy, so wall time
per turn is reported beside this process's CPU. Per round, alternating, the
time per turn of:

- ``direct``: one input at a time to an idle worker (``if_busy`` reject), the
  turn awaited — the baseline;
- ``enqueued``: the same number of inputs, all but the first queued behind
  the turn before (``if_busy: "enqueue"``), started by the store when that
  turn ends;
- ``interrupted``: inputs each interrupting the turn before (every turn but
  the last cancelled);
- ``admitted``: one input to each of as many workers with
  ``max_concurrent_turns = 1``: every turn but the first waits for the slot.

It prints the median of each and its ratio to ``direct`` of the same store. Not collected by
pytest; the figures are in docs/performance.md and the control notes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings

QUEUE = 8

#: Builds a started runtime over the store measured.
Make = Callable[[EmbeddedSettings], Awaitable[EmbeddedRuntime]]
#: CPU seconds of this process and wall seconds, per turn.
Figures = tuple[float, float]


async def _memory(settings: EmbeddedSettings) -> EmbeddedRuntime:
    return EmbeddedRuntime(settings)


async def _idle(runtime: EmbeddedRuntime, worker_ids: list[str], pause: float) -> None:
    # One worker at a time, in the order their turns start: the wait costs O(workers + loop steps).
    # A PostgreSQL replica's turns end by round trips: poll with a pause so the poll does not take
    # the core the server needs.
    for worker_id in worker_ids:
        while runtime.get_worker(worker_id).status != "idle":
            await asyncio.sleep(pause)


class _Clock:
    """CPU and wall time from a start."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def per(self, turns: int) -> Figures:
        return (time.process_time() - self.cpu) / turns, (time.perf_counter() - self.wall) / turns


async def direct(make: Make, turns: int, pause: float) -> Figures:
    runtime = await make(EmbeddedSettings(max_transcript_entries=4 * turns))
    worker_id = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    clock = _Clock()
    for n in range(turns):
        await runtime.send_input(worker_id, f"n{n}")
        await _idle(runtime, [worker_id], pause)
    spent = clock.per(turns)
    await runtime.close()
    return spent


async def enqueued(make: Make, turns: int, pause: float) -> Figures:
    runtime = await make(EmbeddedSettings(max_transcript_entries=4 * turns, max_queued_inputs=QUEUE))
    worker_id = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    clock = _Clock()
    for n in range(0, turns, QUEUE + 1):
        await runtime.send_input(worker_id, f"n{n}")
        for k in range(1, QUEUE + 1):
            await runtime.send_input(worker_id, f"n{n}-{k}", if_busy="enqueue")
        await _idle(runtime, [worker_id], pause)
    spent = clock.per(turns // (QUEUE + 1) * (QUEUE + 1) or 1)
    await runtime.close()
    return spent


async def interrupted(make: Make, turns: int, pause: float) -> Figures:
    runtime = await make(EmbeddedSettings(max_transcript_entries=4 * turns))
    worker_id = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    clock = _Clock()
    for n in range(turns):
        await runtime.send_input(worker_id, f"n{n}", if_busy="interrupt")
    await _idle(runtime, [worker_id], pause)
    spent = clock.per(turns)
    await runtime.close()
    return spent


async def admitted(make: Make, turns: int, pause: float) -> Figures:
    runtime = await make(EmbeddedSettings(max_concurrent_turns=1, max_workers=turns))
    worker_ids = [(await runtime.create_worker(profile="builtin:echo")).worker.worker_id for _ in range(turns)]
    clock = _Clock()
    for worker_id in worker_ids:
        await runtime.send_input(worker_id, "hello")
    await _idle(runtime, worker_ids, pause)
    spent = clock.per(turns)
    await runtime.close()
    return spent


CASES = {"direct": direct, "enqueued": enqueued, "interrupted": interrupted, "admitted": admitted}


def measure(label: str, make: Callable[[], Make], rounds: int, turns: int, pause: float) -> None:
    """Each case ``rounds`` times, alternating; medians and ratios to ``direct`` of the same store."""
    figures: dict[str, list[Figures]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, case in CASES.items():
            figures[name].append(asyncio.run(case(make(), turns, pause)))
    cpu_base = statistics.median(cpu for cpu, _ in figures["direct"])
    wall_base = statistics.median(wall for _, wall in figures["direct"])
    for name, values in figures.items():
        cpu = statistics.median(c for c, _ in values)
        wall = statistics.median(w for _, w in values)
        print(
            f"{label:8} {name:12} {cpu * 1e6:8.1f} µs CPU per turn  {cpu / cpu_base:5.2f}x direct"
            f"   {wall * 1e6:9.1f} µs wall  {wall / wall_base:5.2f}x direct"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--pg", action="store_true", help="also one PostgreSQL replica (a throwaway server)")
    parser.add_argument("--pg-turns", type=int, default=450, help="turns per case on PostgreSQL")
    options = parser.parse_args()
    measure("memory", lambda: _memory, options.rounds, options.turns, 0)
    if not options.pg:
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_replicas import BENCH_PG_SETTINGS

    from runtime_registry.runtimes.embedded.postgres import PostgresStore
    from tests.support.pg_server import throwaway_server

    with throwaway_server(BENCH_PG_SETTINGS) as server:

        def fresh() -> Make:
            # A database of its own per case: no case reads another's rows or events.
            dsn = server.dsn(server.create_database())

            async def make(settings: EmbeddedSettings) -> EmbeddedRuntime:
                runtime = EmbeddedRuntime(settings, store=PostgresStore(dsn, "bench", lease_seconds=30))
                await runtime.start()
                return runtime

            return make

        measure("postgres", fresh, options.rounds, options.pg_turns, 0.0005)


if __name__ == "__main__":
    main()
