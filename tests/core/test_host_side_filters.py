"""A kind written against 0.3 has no ``filter_workers``: the registry filters its plain pages (decision 0200).

The kind is the 0.3 tutorial's, kept verbatim in tests/compat/kinds/v0_3: it
must never be called with an argument it does not take, and its filtered
lists must be exact, page after page, with its own cursors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from registry_core import CreateWorkerRequest, InvalidCursor, RuntimeProvider, WorkerFilter, WorkerPage
from registry_core.provider import filters_natively
from runtime_registry.host import RuntimeRegistry
from runtime_registry.host.registry import HOST_FILTER_CALLS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compat" / "kinds" / "v0_3" / "src"))
from acme_wordcount.provider import WordcountProvider
from acme_wordcount.settings import WordcountSettings

RUNTIME = "counter"


class Recording(WordcountProvider):
    """The 0.3 kind, with every list call's arguments recorded (nothing else changed)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[dict] = []

    async def list_workers(self, **arguments) -> WorkerPage:  # type: ignore[override]
        self.calls.append(arguments)
        return await super().list_workers(**arguments)


@pytest.fixture
async def kind() -> Recording:
    provider = Recording(RUNTIME, WordcountSettings(page_max=5, max_workers=1000))
    return provider


@pytest.fixture
async def registry(kind):
    registry = RuntimeRegistry()
    registry.register(kind)
    await registry.start()
    yield registry
    await registry.close()


async def every_page(registry: RuntimeRegistry, worker_filter: WorkerFilter, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor = None
    for pages in range(1, 1000):
        page = await registry.list_workers(RUNTIME, limit=limit, cursor=cursor, worker_filter=worker_filter)
        assert len(page.items) <= limit
        assert all(worker_filter.matches(worker) for worker in page.items)
        seen.extend(worker.worker_id for worker in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages
    raise AssertionError("the list never ended")


def test_the_0_3_kind_does_not_filter_itself():
    assert not filters_natively(WordcountProvider)
    assert "filter_workers" not in vars(WordcountProvider)
    assert issubclass(WordcountProvider, RuntimeProvider)


@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_the_host_filters_a_0_3_kind_exactly_and_calls_it_only_with_limit_and_cursor(registry, kind, limit):
    made = []
    for n in range(23):
        worker = await registry.create_worker(RUNTIME, CreateWorkerRequest(label=("a", "b", "c")[n % 3]))
        made.append((worker.worker_id, worker.label))
    for worker_id, _ in made[::4]:
        await registry.stop_worker(RUNTIME, worker_id)
    stopped = {worker_id for worker_id, _ in made[::4]}

    seen, _ = await every_page(registry, WorkerFilter(label=("b",)), limit)
    assert seen == [worker_id for worker_id, label in made if label == "b"]
    seen, _ = await every_page(registry, WorkerFilter(label=("a", "c"), status=("idle",)), limit)
    assert seen == [wid for wid, label in made if label in ("a", "c") and wid not in stopped]
    seen, _ = await every_page(registry, WorkerFilter(status=("stopped",), profile=("default",)), limit)
    assert seen == [worker_id for worker_id, _ in made if worker_id in stopped]
    seen, _ = await every_page(registry, WorkerFilter(profile=("builtin:echo",)), limit)
    assert seen == []
    assert kind.calls and all(set(call) == {"limit", "cursor"} for call in kind.calls)
    assert all(call["limit"] <= 5 for call in kind.calls)


async def test_a_host_filtered_page_is_cut_short_with_its_cursor_when_matches_are_rare(registry, kind):
    for _ in range(HOST_FILTER_CALLS * 5 + 7):
        await registry.create_worker(RUNTIME, CreateWorkerRequest(label="hay"))
    needle = await registry.create_worker(RUNTIME, CreateWorkerRequest(label="needle"))
    kind.calls.clear()
    first = await registry.list_workers(RUNTIME, limit=5, worker_filter=WorkerFilter(label=("needle",)))
    assert first.items == () and first.next_cursor is not None
    assert len(kind.calls) == HOST_FILTER_CALLS
    seen, pages = await every_page(registry, WorkerFilter(label=("needle",)), 5)
    assert seen == [needle.worker_id] and pages == 2


async def test_a_host_filtered_cursor_is_the_kinds_own_and_a_forged_one_is_refused(registry):
    for _ in range(6):
        await registry.create_worker(RUNTIME, CreateWorkerRequest(label="x"))
    page = await registry.list_workers(RUNTIME, limit=2, worker_filter=WorkerFilter(label=("x",)))
    plain = await registry.list_workers(RUNTIME, limit=2, cursor=page.next_cursor)
    filtered = await registry.list_workers(
        RUNTIME, limit=2, cursor=page.next_cursor, worker_filter=WorkerFilter(status=("idle",))
    )
    assert [w.worker_id for w in plain.items] == [w.worker_id for w in filtered.items]
    with pytest.raises(InvalidCursor):
        await registry.list_workers(RUNTIME, limit=2, cursor="forged", worker_filter=WorkerFilter(label=("x",)))


class Lying(WordcountProvider):
    """Says it filters, and returns workers its filter does not match."""

    async def filter_workers(self, worker_filter, *, limit, cursor):
        return await self.list_workers(limit=limit, cursor=cursor)


async def test_a_kind_that_filters_wrongly_is_a_runtime_failure_not_a_wrong_answer():
    from registry_core import RuntimeUnavailable

    registry = RuntimeRegistry()
    registry.register(Lying(RUNTIME, WordcountSettings()))
    await registry.start()
    try:
        await registry.create_worker(RUNTIME, CreateWorkerRequest(label="a"))
        with pytest.raises(RuntimeUnavailable):
            await registry.list_workers(RUNTIME, limit=5, worker_filter=WorkerFilter(label=("b",)))
        listed = await registry.list_workers(RUNTIME, limit=5, worker_filter=WorkerFilter(label=("a",)))
        assert len(listed.items) == 1
    finally:
        await registry.close()
