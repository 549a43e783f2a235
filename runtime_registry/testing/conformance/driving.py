"""Driving a runtime through the registry: workers to check against, inputs, turns waited out, events issued.

:class:`RuntimeUnderTest` is what a check holds: the runtime as the server
sees it (a :class:`~.reading.RuntimeReader`), plus the actions checks take
on it. An action a check relies on must succeed; when it does not, that is
itself a :class:`~.contract.ContractViolation`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from registry_core.errors import CapacityExceeded, RegistryError, WorkerBusy
from registry_core.models import Capabilities, CreateWorkerRequest, InputAccepted, InputContent, InputRequest, Worker
from registry_core.provider import RuntimeProvider
from runtime_registry.host.registry import RuntimeRegistry

from .contract import ContractViolation, describe_error, succeeds
from .reading import RuntimeReader

__all__ = ["TURN_SETTLE_SECONDS", "RuntimeUnderTest"]

#: How long a turn may take to end before a check gives up on it.
TURN_SETTLE_SECONDS = 10.0

#: The suite's hook that names a worker of a kind that cannot create workers.
ExistingWorker = Callable[[RuntimeProvider], "str | None"]


class RuntimeUnderTest(RuntimeReader):
    """A runtime of the registry that a check reads and drives."""

    def __init__(
        self, registry: RuntimeRegistry, runtime_id: str, capabilities: Capabilities, existing_worker_id: ExistingWorker
    ) -> None:
        super().__init__(registry, runtime_id, capabilities)
        self._existing_worker_id = existing_worker_id

    @classmethod
    async def of(
        cls, registry: RuntimeRegistry, runtime_id: str, existing_worker_id: ExistingWorker
    ) -> RuntimeUnderTest:
        """The runtime ``runtime_id`` of a started ``registry``, with the capabilities it describes."""
        capabilities = (await registry.describe_runtime(runtime_id)).capabilities
        return cls(registry, runtime_id, capabilities, existing_worker_id)

    async def create_worker(self, request: CreateWorkerRequest | None = None) -> Worker:
        """A new worker; the create must succeed."""
        return await succeeds(
            "create_worker", self.registry.create_worker(self.runtime_id, request or CreateWorkerRequest())
        )

    async def a_worker(self, request: CreateWorkerRequest | None = None) -> str | None:
        """A worker to check against: a new one if the kind creates workers, else one it already has (or ``None``)."""
        if self.capabilities.create_worker:
            return (await self.create_worker(request)).worker_id
        worker_id = self._existing_worker_id(self.registry.provider(self.runtime_id))
        if worker_id is None and self.capabilities.list_workers:
            page = await succeeds("list_workers", self.registry.list_workers(self.runtime_id, limit=1))
            worker_id = page.items[0].worker_id if page.items else None
        return worker_id

    async def the_worker(self, request: CreateWorkerRequest | None = None) -> str:
        """:meth:`a_worker` for a check that cannot go on without one: it skips when the kind has none."""
        worker_id = await self.a_worker(request)
        if worker_id is None:
            pytest.skip("the kind cannot create workers and has none to list (override existing_worker_id)")
        return worker_id

    def worker_operations(self, worker_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
        """Every operation on one worker, by capability name, ready to call."""
        registry, runtime_id = self.registry, self.runtime_id
        return {
            "get_worker": lambda: registry.get_worker(runtime_id, worker_id),
            "send_input": lambda: registry.send_input(runtime_id, worker_id, InputRequest(InputContent("conformance"))),
            "cancel_worker": lambda: registry.cancel_worker(runtime_id, worker_id),
            "stop_worker": lambda: registry.stop_worker(runtime_id, worker_id),
            "delete_worker": lambda: registry.delete_worker(runtime_id, worker_id),
            "read_transcript": lambda: registry.read_transcript(runtime_id, worker_id, limit=1),
            "read_events": lambda: registry.read_events(runtime_id, worker_id=worker_id, limit=1),
        }

    def supported_worker_operations(self, worker_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
        """:meth:`worker_operations` whose capability is true."""
        return {
            name: call for name, call in self.worker_operations(worker_id).items() if getattr(self.capabilities, name)
        }

    async def settle(self, worker_id: str) -> None:
        """Wait until the worker's turn (if any) has ended: its status is no longer ``busy``."""
        if not self.capabilities.get_worker:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TURN_SETTLE_SECONDS
        while (await succeeds("get_worker", self.registry.get_worker(self.runtime_id, worker_id))).status == "busy":
            if loop.time() > deadline:
                raise ContractViolation(
                    f"worker {worker_id!r} stayed busy for {TURN_SETTLE_SECONDS:g} s after one input"
                )
            await asyncio.sleep(0.01)

    async def send_when_idle(self, worker_id: str, content: str) -> InputAccepted:
        """Send input, waiting out a running turn (up to :data:`TURN_SETTLE_SECONDS`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TURN_SETTLE_SECONDS
        while True:
            try:
                return await self.registry.send_input(self.runtime_id, worker_id, InputRequest(InputContent(content)))
            except WorkerBusy:
                if loop.time() > deadline:
                    raise ContractViolation(f"worker {worker_id!r} stayed busy for {TURN_SETTLE_SECONDS:g} s") from None
                await asyncio.sleep(0.01)
            except RegistryError as exc:
                raise ContractViolation(
                    f"send_input must succeed on an idle worker; it raised {describe_error(exc)}"
                ) from exc

    async def issue_events(self) -> bool:
        """One action that issues events: create a worker, or else send input to one. ``False`` at capacity."""
        if self.capabilities.create_worker:
            try:
                await self.registry.create_worker(self.runtime_id, CreateWorkerRequest())
            except CapacityExceeded:
                return False
            except RegistryError as exc:
                raise ContractViolation(f"create_worker must succeed; it raised {describe_error(exc)}") from exc
            return True
        worker_id = await self.the_worker()
        await self.send_when_idle(worker_id, "conformance restart")
        await self.settle(worker_id)
        return True

    async def make_some_events(self) -> None:
        """Do what the kind can do so that it has events to read: create two workers, send one an input."""
        if not self.capabilities.create_worker:
            return
        workers = [await self.create_worker() for _ in range(2)]
        if self.capabilities.send_input:
            await self.send_when_idle(workers[-1].worker_id, "conformance events")
            await self.settle(workers[-1].worker_id)
