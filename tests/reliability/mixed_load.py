"""A mixed client load for soak runs: creates, inputs, reads, polls and stops, from many virtual users.

Each virtual user loops until the deadline, picking an operation by weight
with its own seeded random generator (a run is reproducible in what it
*asks*; timing decides the answers). Every answer is checked against what the
contract allows for that operation in a saturated server — ``409
capacity_exceeded`` once the runtime holds ``max_workers`` workers or a
transcript is full, ``409 worker_busy`` while a turn runs, ``410
cursor_expired`` when a poller falls behind the retained events. Anything
else (a 5xx, an unexpected 4xx, a connection error) is recorded as an error.

Used by ``test_soak.py`` (seconds) and ``tests/benchmarks/soak.py`` (minutes).
"""

from __future__ import annotations

import asyncio
import collections
import random
import time

import attrs

from .api_pages import all_worker_ids
from .load_client import LoadClient

__all__ = ["LoadTally", "run_mixed_load", "ALLOWED"]

#: Operation -> the (status, error code) answers the contract allows under saturation.
ALLOWED: dict[str, set[tuple[int, str | None]]] = {
    "create": {(201, None), (409, "capacity_exceeded")},
    "input": {(202, None), (409, "worker_busy"), (409, "worker_stopped"), (409, "capacity_exceeded")},
    "cancel": {(200, None), (409, "worker_stopped")},
    "stop": {(200, None)},
    "worker": {(200, None)},
    "transcript": {(200, None)},
    "events": {(200, None), (410, "cursor_expired")},
    "worker_events": {(200, None), (410, "cursor_expired")},
    "list": {(200, None)},
    "overview": {(200, None)},
}
_WEIGHTS = {
    "input": 34,
    "transcript": 18,
    "events": 14,
    "worker": 9,
    "worker_events": 5,
    "create": 6,
    "cancel": 5,
    "stop": 1,
    "list": 3,
    "overview": 3,
}


@attrs.define
class LoadTally:
    """What a load run did: answers per operation and status, and every answer the contract does not allow."""

    outcomes: collections.Counter = attrs.Factory(collections.Counter)
    errors: list[str] = attrs.Factory(list)

    @property
    def requests(self) -> int:
        """Requests answered (errors included)."""
        return sum(self.outcomes.values())

    def record(self, operation: str, status: int, code: str | None) -> None:
        self.outcomes[(operation, status, code)] += 1
        if (status, code) not in ALLOWED[operation] and len(self.errors) < 100:
            self.errors.append(f"{operation}: {status} {code}")


class _VirtualUser:
    def __init__(self, api: LoadClient, runtime_id: str, seed: int, workers: list[str], tally: LoadTally) -> None:
        self.api = api
        self.base = f"/api/runtimes/{runtime_id}"
        self.random = random.Random(seed)
        self.workers = workers
        self.tally = tally
        self.cursor: int | None = None
        self.counter = 0

    async def run(self, deadline: float) -> None:
        operations, weights = list(_WEIGHTS), list(_WEIGHTS.values())
        while time.monotonic() < deadline:
            operation = self.random.choices(operations, weights)[0]
            if operation != "create" and not self.workers:
                operation = "create"
            try:
                await getattr(self, operation)()
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                self.tally.errors.append(f"{operation}: {type(exc).__name__}")

    def _worker(self) -> str:
        return self.random.choice(self.workers)

    def _record(self, operation: str, reply) -> None:
        self.tally.record(operation, reply.status, reply.error_code)

    async def create(self) -> None:
        reply = await self.api.post(
            f"{self.base}/workers", {"profile": self.random.choice(["echo", "slow-echo", "default"])}
        )
        self._record("create", reply)
        if reply.status == 201:
            self.workers.append(reply.json()["worker_id"])

    async def input(self) -> None:
        self.counter += 1
        content = f"input {self.counter} " + "x" * self.random.randrange(0, 200)
        reply = await self.api.post(f"{self.base}/workers/{self._worker()}/input", {"content": content})
        self._record("input", reply)

    async def cancel(self) -> None:
        self._record("cancel", await self.api.post(f"{self.base}/workers/{self._worker()}/cancel"))

    async def stop(self) -> None:
        self._record("stop", await self.api.post(f"{self.base}/workers/{self._worker()}/stop"))

    async def worker(self) -> None:
        self._record("worker", await self.api.get(f"{self.base}/workers/{self._worker()}"))

    async def transcript(self) -> None:
        params = {"start": self.random.randrange(1, 60), "limit": self.random.randrange(1, 50)}
        self._record("transcript", await self.api.get(f"{self.base}/workers/{self._worker()}/transcript", params))

    async def events(self) -> None:
        params = {"limit": 200} | ({"cursor": self.cursor} if self.cursor is not None else {})
        reply = await self.api.get(f"{self.base}/events", params)
        self._record("events", reply)
        self.cursor = reply.json()["next_cursor"] if reply.status == 200 else None

    async def worker_events(self) -> None:
        self._record("worker_events", await self.api.get(f"{self.base}/workers/{self._worker()}/events", {"limit": 50}))

    async def list(self) -> None:
        self._record("list", await self.api.get(f"{self.base}/workers", {"limit": 100}))

    async def overview(self) -> None:
        self._record("overview", await self.api.get("/api/workers", {"limit": 100}))


async def run_mixed_load(
    base_url: str,
    runtime_id: str,
    *,
    seconds: float,
    users: int = 32,
    seed: int = 0,
    headers: dict[str, str] | None = None,
    tally: LoadTally | None = None,
) -> LoadTally:
    """Drive ``runtime_id`` of the server at ``base_url`` for ``seconds`` with ``users`` virtual users.

    Pass ``tally`` to watch it fill while the load runs (a sampler in the same loop).
    """
    tally = tally if tally is not None else LoadTally()
    deadline = time.monotonic() + seconds
    async with LoadClient(base_url, connections=users, headers=headers) as api:
        # Workers an earlier run created are everyone's too (a full runtime creates no more).
        workers = await all_worker_ids(api, runtime_id)
        virtual_users = [_VirtualUser(api, runtime_id, seed * 10_000 + n, workers, tally) for n in range(users)]
        await asyncio.gather(*(user.run(deadline) for user in virtual_users))
    return tally
