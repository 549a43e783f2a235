"""Fixtures: a registry with two embedded runtimes, and small helpers to drive turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from registry_core import CreateWorkerRequest, InputRequest
from registry_core.models import ProfileSelector
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings

#: The runtime's semantics are tested over the memory store; the SQLite store
#: has its own tests (test_sqlite_*.py) and runs the conformance suite.
MEMORY = StoreSettings(backend=StoreBackend.MEMORY)

#: The two runtimes of the ``registry`` fixture.
A, B = "rt-a", "rt-b"

#: Profiles every test runtime has: an instant echo and one that holds its turn for a long time.
PROFILES = {
    "echo-now": ProfileSettings(base=ProfileBase.ECHO),
    "hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60.0, description="stays busy until cancelled"),
    "brief": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=0.05),
}


def settings(**overrides: object) -> EmbeddedSettings:
    """Test settings: the defaults, the test profiles, a memory store, and ``overrides``."""
    return EmbeddedSettings(**{"profiles": PROFILES, "store": MEMORY, **overrides})  # type: ignore[arg-type]


async def open_registry(**overrides: object) -> RuntimeRegistry:
    """A started registry: runtime A with ``overrides``, runtime B with the test defaults."""
    registry = RuntimeRegistry(call_timeout=5.0)
    registry.register(EmbeddedProvider(A, settings(**overrides)))
    registry.register(EmbeddedProvider(B, settings()))
    await registry.start()
    return registry


@pytest.fixture
async def registry() -> AsyncIterator[RuntimeRegistry]:
    registry = await open_registry()
    try:
        yield registry
    finally:
        await registry.close()


async def create(registry: RuntimeRegistry, profile: str | None = None, runtime_id: str = A, **fields: object) -> str:
    """Create a worker and return its id."""
    request = CreateWorkerRequest(profile=ProfileSelector(profile) if profile else None, **fields)  # type: ignore[arg-type]
    return (await registry.create_worker(runtime_id, request)).worker_id


async def send(registry: RuntimeRegistry, worker_id: str, content: str = "hello", runtime_id: str = A):
    """Send user input."""
    return await registry.send_input(runtime_id, worker_id, InputRequest(content))  # type: ignore[arg-type]


async def until_idle(registry: RuntimeRegistry, worker_id: str, runtime_id: str = A) -> None:
    """Wait (at most 2 s) for the worker's turn to end."""
    async with asyncio.timeout(2):
        while (await registry.get_worker(runtime_id, worker_id)).status != "idle":
            await asyncio.sleep(0.001)


async def event_types(registry: RuntimeRegistry, worker_id: str, runtime_id: str = A) -> list[str]:
    """The types of every retained event of one worker, oldest first."""
    page = await registry.read_events(runtime_id, worker_id=worker_id, limit=1000)
    return [event.type for event in page.events]
