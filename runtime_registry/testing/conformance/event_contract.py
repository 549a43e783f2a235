"""Checks of the event contract (``registry_core.event_contract``): types and data, order, and ``cursor=0``."""

from __future__ import annotations

from collections import defaultdict

from registry_core.event_contract import data_problems, order_problems
from registry_core.models import Event

from .contract import require, succeeds
from .driving import RuntimeUnderTest
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["EventContractChecks"]

#: How many problems a violation's message shows.
SHOWN = 5


class EventContractChecks(ConformanceHarness):
    """What events carry and in which order, as ``registry_core.event_contract`` and docs/api.md define it."""

    @conformance_check(needs=("read_events", "create_worker"), since="0.3")
    async def test_event_data_follows_the_event_contract(self, run: CheckRun) -> None:
        """Every event's type is the contract's (or `KIND.something`), with the contract's data fields and types."""
        await live_a_life(run)
        kind = (await run.describe()).kind
        problems = [problem for event in await run.all_events() for problem in data_problems(event, kind=kind)]
        require(not problems, f"events must follow the event contract (docs/api.md): {'; '.join(problems[:SHOWN])}")

    @conformance_check(needs=("read_events", "create_worker", "send_input"), since="0.3")
    async def test_a_turns_events_come_in_the_contracts_order(self, run: CheckRun) -> None:
        """A turn is `worker.input_accepted`, `worker.turn_started`, its output, then one end; `worker.created` comes first."""
        created = await live_a_life(run)
        by_worker: dict[str, list[Event]] = defaultdict(list)
        for event in await run.all_events():
            if event.worker_id in created:
                by_worker[event.worker_id].append(event)
        problems = [
            f"worker {worker_id!r}: {problem}"
            for worker_id in created
            for problem in order_problems(by_worker[worker_id], finished=True)
        ]
        require(
            not problems, f"a worker's events must come in the event contract's order: {'; '.join(problems[:SHOWN])}"
        )

    @conformance_check(needs=("read_events", "create_worker"))
    async def test_cursor_zero_means_before_the_first_event(self, run: CheckRun) -> None:
        """`cursor=0` reads from the runtime's first event (as no cursor does while that event is retained)."""
        await run.make_some_events()
        oldest = await run.all_events()
        require(oldest, "a runtime that created workers must have events to read")
        limit = min((await run.describe()).limits.event_page_max, 100)
        page = await succeeds(
            "read_events(cursor=0), before the runtime's first event",
            run.registry.read_events(run.runtime_id, cursor=0, limit=limit),
        )
        expected = [event.id for event in oldest[:limit]]
        require(
            [event.id for event in page.events] == expected,
            f"read_events(cursor=0) must start at the runtime's first event, as reading without a cursor does "
            f"while it is retained: expected ids {expected[:10]}, got {[e.id for e in page.events][:10]}",
        )


async def live_a_life(run: RuntimeUnderTest) -> list[str]:
    """Create workers and take them through what the kind can do: turns, stop, delete. Return their ids."""
    capabilities = run.capabilities
    workers = [(await run.create_worker()).worker_id for _ in range(3)]
    if capabilities.send_input:
        for worker_id in workers:
            for text in ("conformance contract one", "conformance contract two"):
                await run.send_when_idle(worker_id, text)
                await run.settle(worker_id)
    if capabilities.stop_worker:
        await succeeds("stop_worker", run.registry.stop_worker(run.runtime_id, workers[1]))
    if capabilities.delete_worker:
        await succeeds("delete_worker", run.registry.delete_worker(run.runtime_id, workers[2]))
    return workers
