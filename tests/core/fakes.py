"""Small providers for registry tests: a memory provider and ones that misbehave."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from registry_core import (
    CreateWorkerRequest,
    InputAccepted,
    InputRequest,
    RuntimeProvider,
    UnknownWorker,
    Worker,
    WorkerPage,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryProvider(RuntimeProvider):
    """Workers in a dict; lists, gets, creates and takes input. Nothing else."""

    kind = "memory"

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.workers: dict[str, Worker] = {}
        self.calls: list[tuple[str, object]] = []

    def add(self, worker_id: str) -> Worker:
        worker = Worker(self.runtime_id, worker_id, self.kind, None, "idle", None, None, NOW, 0)
        self.workers[worker_id] = worker
        return worker

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        self.calls.append(("list_workers", (limit, cursor)))
        ids = sorted(self.workers)
        start = ids.index(cursor) + 1 if cursor else 0
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        return WorkerPage(self.runtime_id, tuple(self.workers[i] for i in page), page[-1] if more and page else None)

    async def get_worker(self, worker_id: str) -> Worker:
        self.calls.append(("get_worker", worker_id))
        try:
            return self.workers[worker_id]
        except KeyError:
            raise UnknownWorker("no such worker") from None

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        return self.add(f"w{len(self.workers) + 1}")

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        await self.get_worker(worker_id)
        return InputAccepted(self.runtime_id, worker_id, 1, 1, "busy")


class RaisingProvider(MemoryProvider):
    """Every operation raises an exception that carries a secret path."""

    kind = "raising"

    async def get_worker(self, worker_id: str) -> Worker:
        raise OSError("/secret/path/state.db is corrupt")

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        raise RuntimeError("token=abc123 leaked")


class HangingProvider(MemoryProvider):
    """Operations never answer."""

    kind = "hanging"

    async def get_worker(self, worker_id: str) -> Worker:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class MalformedProvider(MemoryProvider):
    """Answers with the wrong shapes or the wrong identity."""

    kind = "malformed"

    async def get_worker(self, worker_id: str):  # type: ignore[override]
        return {"worker_id": worker_id}

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        other = Worker("someone-else", "w1", self.kind, None, "idle", None, None, NOW, 0)
        return WorkerPage(self.runtime_id, (other,), None)


class FailingStartProvider(MemoryProvider):
    """Cannot start."""

    kind = "failing-start"

    async def start(self) -> None:
        raise ConnectionError("cannot reach /var/run/thing.sock")
