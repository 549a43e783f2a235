"""Regression: one worker's event poll carries only that worker's events.

The registry used to swallow ``worker_id`` (its error-locating keyword) instead
of passing it on, so ``/workers/{id}/events`` served every worker's events.
Found by the embedded state machine (test_embedded_state_machine.py).
"""

from __future__ import annotations

from registry_core import CreateWorkerRequest
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider


async def test_a_worker_event_poll_holds_only_that_workers_events():
    registry = RuntimeRegistry()
    registry.register(EmbeddedProvider("filter"))
    async with registry:
        first = await registry.create_worker("filter", CreateWorkerRequest())
        second = await registry.create_worker("filter", CreateWorkerRequest())
        page = await registry.read_events("filter", worker_id=second.worker_id)
    assert [event.worker_id for event in page.events] == [second.worker_id]
    assert first.worker_id != second.worker_id
