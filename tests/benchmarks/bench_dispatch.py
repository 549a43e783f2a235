"""Registry dispatch overhead per call versus calling the provider directly, in one run.

Run: python tests/benchmarks/bench_dispatch.py
Goal: under 5 µs of overhead per call (issue 2).

Two providers: the cheapest possible one (a dict lookup, so what is timed is
the registry), and the real embedded provider's ``get_worker`` (which builds a
``Worker`` model per call), each called directly and through the registry.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

from registry_core import CreateWorkerRequest, RuntimeProvider, UnknownWorker, Worker
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider

CALLS = 100_000
ROUNDS = 7


class DictProvider(RuntimeProvider):
    """The cheapest possible provider, so that what we time is the registry."""

    kind = "bench"

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.worker = Worker(runtime_id, "w-1", self.kind, None, "idle", None, None, datetime.now(UTC), 0)

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


def report(name: str, direct: tuple[float, float], routed: tuple[float, float]) -> bool:
    (direct_best, direct_median), (routed_best, routed_median) = direct, routed
    overhead = routed_best - direct_best
    met = overhead < 5e-6
    print(f"\n{name}")
    print(f"  direct provider call : best {direct_best * 1e6:6.2f} µs  median {direct_median * 1e6:6.2f} µs")
    print(f"  through the registry : best {routed_best * 1e6:6.2f} µs  median {routed_median * 1e6:6.2f} µs")
    print(f"  dispatch overhead    : {overhead * 1e6:6.2f} µs per call (goal < 5 µs) -> {'MET' if met else 'MISSED'}")
    print(f"  ratio routed/direct  : {routed_best / direct_best:.2f}x")
    return met


async def main() -> None:
    provider = DictProvider("backend-internal")
    embedded = EmbeddedProvider("embedded-bench")
    registry = RuntimeRegistry()
    registry.register(provider)
    registry.register(embedded)
    async with registry:
        worker_id = (await embedded.create_worker(CreateWorkerRequest())).worker_id
        print(f"calls per round: {CALLS}, rounds: {ROUNDS}")
        met = report(
            "dict provider get_worker",
            await time_calls(lambda: provider.get_worker("w-1")),
            await time_calls(lambda: registry.get_worker("backend-internal", "w-1")),
        )
        met &= report(
            "embedded provider get_worker",
            await time_calls(lambda: embedded.get_worker(worker_id)),
            await time_calls(lambda: registry.get_worker("embedded-bench", worker_id)),
        )
    print(f"\nall dispatch goals {'MET' if met else 'NOT all met'}")


if __name__ == "__main__":
    asyncio.run(main())
