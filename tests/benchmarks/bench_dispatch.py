"""Registry dispatch overhead per call versus calling the provider directly, in one run.

Run: python tests/benchmarks/bench_dispatch.py
Goal: under 5 µs of overhead per call (issue 2).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime, timezone

from registry_core import RuntimeProvider, RuntimeRegistry, UnknownWorker, Worker

CALLS = 100_000
ROUNDS = 7


class DictProvider(RuntimeProvider):
    """The cheapest possible provider, so that what we time is the registry."""

    kind = "bench"

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.worker = Worker(runtime_id, "w-1", self.kind, None, "idle", None, None, datetime.now(timezone.utc), 0)

    async def get_worker(self, worker_id: str) -> Worker:
        if worker_id != "w-1":
            raise UnknownWorker("no such worker")
        return self.worker


async def time_calls(call) -> float:
    """Seconds per call, best of ROUNDS (the least disturbed by other load)."""
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            await call()
        samples.append((time.perf_counter() - started) / CALLS)
    return min(samples), statistics.median(samples)


async def main() -> None:
    provider = DictProvider("backend-internal")
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        direct_best, direct_median = await time_calls(lambda: provider.get_worker("w-1"))
        routed_best, routed_median = await time_calls(lambda: registry.get_worker("backend-internal", "w-1"))
    print(f"calls per round: {CALLS}, rounds: {ROUNDS}")
    print(f"direct provider call : best {direct_best * 1e6:6.2f} µs  median {direct_median * 1e6:6.2f} µs")
    print(f"through the registry : best {routed_best * 1e6:6.2f} µs  median {routed_median * 1e6:6.2f} µs")
    overhead = routed_best - direct_best
    print(f"dispatch overhead    : {overhead * 1e6:6.2f} µs per call (goal < 5 µs) -> {'MET' if overhead < 5e-6 else 'MISSED'}")
    print(f"ratio routed/direct  : {routed_best / direct_best:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
