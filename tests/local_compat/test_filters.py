"""local-compat filters the entries it reads (decision 0200): status, profile and label, within its scan budget."""

from __future__ import annotations

from registry_core import RuntimeProvider, WorkerFilter
from registry_core.provider import filters_natively
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.local_compat import LocalCompatProvider

from .conftest import PodTree

RUNTIME = "local"


async def every_page(registry: RuntimeRegistry, worker_filter: WorkerFilter, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await registry.list_workers(RUNTIME, limit=limit, cursor=cursor, worker_filter=worker_filter)
        seen.extend(worker.worker_id for worker in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen


async def test_local_workers_are_filtered_as_they_are_read(tree: PodTree) -> None:
    assert filters_natively(LocalCompatProvider) and issubclass(LocalCompatProvider, RuntimeProvider)
    active = [tree.add(f"busy-{n}") for n in range(4)]
    idle = [tree.add(f"rest-{n}", active=None) for n in range(5)]
    tree.settle()
    registry = RuntimeRegistry()
    registry.register(LocalCompatProvider(RUNTIME, tree.settings(scan_budget=3)))
    await registry.start()
    try:
        everyone = await every_page(registry, WorkerFilter(), 50)
        in_order = list(everyone)
        assert sorted(in_order) == sorted(active + idle)
        for limit in (1, 2, 50):
            assert await every_page(registry, WorkerFilter(status=("inactive",)), limit) == [
                w for w in in_order if w in idle
            ]
            assert await every_page(registry, WorkerFilter(status=("active",), label=("busy-2",)), limit) == [active[2]]
        assert await every_page(registry, WorkerFilter(profile=("builtin:coder",)), 2) == in_order
        assert await every_page(registry, WorkerFilter(profile=("builtin:echo",)), 2) == []
        short = await registry.list_workers(RUNTIME, limit=5, worker_filter=WorkerFilter(label=("rest-4",)))
        assert len(short.items) <= 1 and short.next_cursor is not None  # the scan budget (3) bounds the work
        assert "local_scan_budget_reached" in {d.code for d in short.diagnostics}
    finally:
        await registry.close()
