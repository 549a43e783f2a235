"""What a turn that waited costs against one that started at once, in one run (decisions 0190, 0191).

Run: python tests/benchmarks/bench_turn_control.py [--rounds 7] [--turns 2000]

An embedded runtime over the memory store, instant turns (the builtin echo
engine), in this process. Per round, alternating, the CPU time per turn of:

- ``direct``: one input at a time to an idle worker (``if_busy`` reject), the
  turn awaited — the baseline;
- ``enqueued``: the same number of inputs, all but the first queued behind
  the turn before (``if_busy: "enqueue"``), started by the store when that
  turn ends;
- ``interrupted``: inputs each interrupting the turn before (every turn but
  the last cancelled);
- ``admitted``: one input to each of as many workers with
  ``max_concurrent_turns = 1``: every turn but the first waits for the slot.

It prints the median of each and its ratio to ``direct``. Not collected by
pytest; the figures are in docs/performance.md and the control notes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings

QUEUE = 8


async def _idle(runtime: EmbeddedRuntime, worker_ids: list[str]) -> None:
    # One worker at a time, in the order their turns start: the wait costs O(workers + loop steps).
    for worker_id in worker_ids:
        while runtime.get_worker(worker_id).status != "idle":
            await asyncio.sleep(0)


async def direct(turns: int) -> float:
    runtime = EmbeddedRuntime(EmbeddedSettings(max_transcript_entries=4 * turns))
    worker_id = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    started = time.process_time()
    for n in range(turns):
        await runtime.send_input(worker_id, f"n{n}")
        await _idle(runtime, [worker_id])
    spent = time.process_time() - started
    await runtime.close()
    return spent / turns


async def enqueued(turns: int) -> float:
    runtime = EmbeddedRuntime(EmbeddedSettings(max_transcript_entries=4 * turns, max_queued_inputs=QUEUE))
    worker_id = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    started = time.process_time()
    for n in range(0, turns, QUEUE + 1):
        await runtime.send_input(worker_id, f"n{n}")
        for k in range(1, QUEUE + 1):
            await runtime.send_input(worker_id, f"n{n}-{k}", if_busy="enqueue")
        await _idle(runtime, [worker_id])
    spent = time.process_time() - started
    await runtime.close()
    return spent / (turns // (QUEUE + 1) * (QUEUE + 1) or 1)


async def interrupted(turns: int) -> float:
    runtime = EmbeddedRuntime(EmbeddedSettings(max_transcript_entries=4 * turns))
    worker_id = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    started = time.process_time()
    for n in range(turns):
        await runtime.send_input(worker_id, f"n{n}", if_busy="interrupt")
    await _idle(runtime, [worker_id])
    spent = time.process_time() - started
    await runtime.close()
    return spent / turns


async def admitted(turns: int) -> float:
    runtime = EmbeddedRuntime(EmbeddedSettings(max_concurrent_turns=1, max_workers=turns))
    worker_ids = [(await runtime.create_worker(profile="builtin:echo")).worker.worker_id for _ in range(turns)]
    started = time.process_time()
    for worker_id in worker_ids:
        await runtime.send_input(worker_id, "hello")
    await _idle(runtime, worker_ids)
    spent = time.process_time() - started
    await runtime.close()
    return spent / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--turns", type=int, default=2000)
    options = parser.parse_args()
    cases = {"direct": direct, "enqueued": enqueued, "interrupted": interrupted, "admitted": admitted}
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.rounds):
        for name, case in cases.items():
            figures[name].append(asyncio.run(case(options.turns)))
    base = statistics.median(figures["direct"])
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"{name:12} {median * 1e6:8.1f} µs CPU per turn  {median / base:5.2f}x direct")


if __name__ == "__main__":
    main()
