"""Providers that misbehave in the ways the embedded runtime never does, to reach every error path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from registry_core import (
    CreateWorkerRequest,
    InputAccepted,
    InputRequest,
    RegistryError,
    RuntimeProvider,
    UnknownWorker,
    Worker,
    WorkerPage,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
#: What the misbehaving providers put in their exceptions; no response may show it.
SECRET = "/var/lib/secret-store/state.db token=s3cr3t-from-exception"


class ReadOnlyProvider(RuntimeProvider):
    """Lists and gets one worker; every other operation is unsupported (405)."""

    kind = "read-only"

    def _worker(self) -> Worker:
        return Worker(self.runtime_id, "w1", self.kind, None, "idle", None, None, NOW, 0)

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        return WorkerPage(self.runtime_id, (self._worker(),))

    async def get_worker(self, worker_id: str) -> Worker:
        if worker_id != "w1":
            raise UnknownWorker("no such worker")
        return self._worker()


class HangingProvider(ReadOnlyProvider):
    """Never answers get_worker (504 after the call timeout)."""

    kind = "hanging"

    async def get_worker(self, worker_id: str) -> Worker:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class RaisingProvider(ReadOnlyProvider):
    """Raises plain exceptions carrying secrets (503, generic message)."""

    kind = "raising"

    async def get_worker(self, worker_id: str) -> Worker:
        raise OSError(SECRET)

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        raise RuntimeError(SECRET)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        raise ValueError(SECRET)


class StrangeCodeError(RegistryError):
    """A plugin's own error class with a code the contract does not have."""

    code = "quota_exploded"


class StrangeCodeProvider(ReadOnlyProvider):
    """Raises a typed error whose code has no HTTP status (a plugin bug: 500)."""

    kind = "strange-code"

    async def get_worker(self, worker_id: str) -> Worker:
        raise StrangeCodeError(SECRET)


class FailingStartProvider(ReadOnlyProvider):
    """Cannot start (503 on every operation)."""

    kind = "failing-start"

    async def start(self) -> None:
        raise ConnectionError(SECRET)
