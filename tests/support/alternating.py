"""A provider that sends each call to the next of several providers of one runtime: replicas, alternating.

Used to run the conformance suite against a runtime served by two replicas
(in this process, or ``remote`` providers fronting two server processes):
every check then sees each request answered by another replica than the
one before, as behind a round-robin load balancer.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import attrs

from registry_core import RuntimeProvider
from registry_core.live import LiveSubscription
from registry_core.models import (
    CreateWorkerRequest,
    EventPage,
    InputAccepted,
    InputRequest,
    RuntimeState,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerPage,
)

__all__ = ["Alternating"]


class Alternating(RuntimeProvider):
    """Each call goes to the next of ``replicas`` (all providers of the same runtime id)."""

    # Every policy; narrowed at start to what the replicas claim.
    busy_policies = ("reject", "enqueue", "interrupt")

    def __init__(self, replicas: Sequence[RuntimeProvider]) -> None:
        super().__init__(replicas[0].runtime_id)
        self.replicas = tuple(replicas)
        self.kind = replicas[0].kind  # type: ignore[misc]
        self.limits = replicas[0].limits
        self._turn = itertools.cycle(self.replicas)

    def _next(self) -> RuntimeProvider:
        return next(self._turn)

    async def start(self) -> None:
        for replica in self.replicas:
            await replica.start()
        # The replicas' busy policies (a remote provider learns them at start); every other capability as before.
        policies = self.replicas[0].capabilities.busy_policies
        self.offer_capabilities(attrs.evolve(self.capabilities, busy_policies=policies))

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.close()

    async def describe(self) -> RuntimeState:
        return await self._next().describe()

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        return await self._next().list_workers(limit=limit, cursor=cursor)

    async def get_worker(self, worker_id: str) -> Worker:
        return await self._next().get_worker(worker_id)

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        return await self._next().create_worker(request)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        return await self._next().send_input(worker_id, request)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        return await self._next().cancel_worker(worker_id)

    async def cancel_worker_keeping_queue(self, worker_id: str) -> WorkerActionResult:
        return await self._next().cancel_worker_keeping_queue(worker_id)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        return await self._next().stop_worker(worker_id)

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        return await self._next().delete_worker(worker_id)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        return await self._next().read_transcript(worker_id, start=start, limit=limit)

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        return await self._next().read_events(cursor=cursor, limit=limit, worker_id=worker_id)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        return await self._next().wait_for_events(cursor=cursor, timeout=timeout)

    def open_live_events(self) -> LiveSubscription | None:
        return self._next().open_live_events()
