"""CPU per filtered worker page, against an unfiltered page of the same size, in one process and one run.

Run: python tests/benchmarks/bench_worker_filters.py [--workers N]

Through the registry (no HTTP), the embedded kind over a memory store with
``N`` workers (default 2,000) — labels ``dense`` on every other worker and
``sparse`` on one in a hundred — and the 0.3 tutorial kind (tests/compat,
filtered by the host) with the same workers. Each figure is CPU time per
page of 50 (best of 5 interleaved rounds of 200 pages), and the ratio to the
unfiltered page of the same kind: what a filter costs, and how it grows with
how rare matches are (decision 0200).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from registry_core import CreateWorkerRequest, WorkerFilter
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compat" / "kinds" / "v0_3" / "src"))
from acme_wordcount.provider import WordcountProvider
from acme_wordcount.settings import WordcountSettings

PAGE, PAGES, ROUNDS = 50, 200, 5
FILTERS = {
    "none": WorkerFilter(),
    "label dense (1 in 2)": WorkerFilter(label=("dense",)),
    "label sparse (1 in 100)": WorkerFilter(label=("sparse",)),
    "status idle (all)": WorkerFilter(status=("idle",)),
}


async def fill(registry: RuntimeRegistry, runtime_id: str, workers: int) -> None:
    for n in range(workers):
        label = "sparse" if n % 100 == 0 else ("dense" if n % 2 == 0 else "plain")
        await registry.create_worker(runtime_id, CreateWorkerRequest(label=label))


async def pages(registry: RuntimeRegistry, runtime_id: str, worker_filter: WorkerFilter) -> float:
    """CPU seconds per page, walking the list from its start again whenever it ends."""
    cursor = None
    started = time.process_time()
    for _ in range(PAGES):
        page = await registry.list_workers(runtime_id, limit=PAGE, cursor=cursor, worker_filter=worker_filter)
        cursor = page.next_cursor
    return (time.process_time() - started) / PAGES


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2000)
    workers = parser.parse_args().workers
    registry = RuntimeRegistry(call_timeout=60)
    memory = StoreSettings(backend=StoreBackend.MEMORY)
    registry.register(EmbeddedProvider("embedded", EmbeddedSettings(store=memory, max_workers=workers)))
    registry.register(WordcountProvider("host-filtered", WordcountSettings(page_max=PAGE, max_workers=workers)))
    await registry.start()
    try:
        for runtime_id in ("embedded", "host-filtered"):
            await fill(registry, runtime_id, workers)
        best: dict[tuple[str, str], float] = {}
        for _ in range(ROUNDS):
            for runtime_id in ("embedded", "host-filtered"):
                for name, worker_filter in FILTERS.items():
                    took = await pages(registry, runtime_id, worker_filter)
                    key = (runtime_id, name)
                    best[key] = min(best.get(key, took), took)
        print(f"{workers} workers, pages of {PAGE}, CPU per page (best of {ROUNDS} rounds of {PAGES} pages)")
        for runtime_id in ("embedded", "host-filtered"):
            base = best[(runtime_id, "none")]
            for name in FILTERS:
                took = best[(runtime_id, name)]
                print(f"  {runtime_id:14} {name:26} {took * 1e6:9.1f} µs  {took / base:6.2f}x")
    finally:
        await registry.close()


if __name__ == "__main__":
    asyncio.run(main())
