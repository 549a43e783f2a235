"""The reference kind on the blocks: an ``EventLog`` and a ``WorkerLifecycle`` running a turn function.

Workers of profile ``slow`` take 0.25 s a turn; every turn replies with the
input in capitals. This kind passes the whole conformance suite
(``test_conformance_mutants.py``), and each mutant there breaks one rule.
"""

from __future__ import annotations

import asyncio

from registry_core import RuntimeLimits, RuntimeProvider
from registry_core.blocks import EventLog, TurnInput, WorkerLifecycle

#: How long a turn of a ``slow`` worker lasts.
SLOW_TURN_SECONDS = 0.25
MAX_WORKERS = 20


class LifecycleKind(RuntimeProvider):
    """A slow kind in a few lines: what a turn does is the kind's; the rest is the blocks'."""

    kind = "lifecycle-reference"
    #: The lifecycle class; a mutant substitutes a broken one.
    lifecycle_type: type[WorkerLifecycle] = WorkerLifecycle

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.limits = RuntimeLimits(
            worker_page_max=50, transcript_page_max=50, event_page_max=50, max_workers=MAX_WORKERS, max_input_chars=4000
        )
        self.events = EventLog(10_000)
        self.workers = self.lifecycle_type(
            runtime_id,
            self.kind,
            self.events,
            turn=self.turn,
            profiles=("default", "slow"),
            max_workers=MAX_WORKERS,
            max_input_chars=4000,
            id_prefix="lr-",
        )

    async def turn(self, turn: TurnInput) -> str | None:
        await asyncio.sleep(SLOW_TURN_SECONDS if turn.profile == "slow" else 0)
        return turn.content.upper()

    async def list_workers(self, *, limit, cursor):
        return await self.workers.list_workers(limit=limit, cursor=cursor)

    async def filter_workers(self, worker_filter, *, limit, cursor):
        return await self.workers.filter_workers(worker_filter, limit=limit, cursor=cursor)

    async def get_worker(self, worker_id):
        return await self.workers.get_worker(worker_id)

    async def create_worker(self, request):
        return await self.workers.create_worker(request)

    async def send_input(self, worker_id, request):
        return await self.workers.send_input(worker_id, request)

    async def cancel_worker(self, worker_id):
        return await self.workers.cancel_worker(worker_id)

    async def stop_worker(self, worker_id):
        return await self.workers.stop_worker(worker_id)

    async def delete_worker(self, worker_id):
        return await self.workers.delete_worker(worker_id)

    async def read_transcript(self, worker_id, *, start, limit):
        return await self.workers.read_transcript(worker_id, start=start, limit=limit)

    async def read_events(self, *, cursor, limit, worker_id=None):
        if worker_id is not None:
            self.workers.model(worker_id)  # UnknownWorker for a worker this runtime lacks
        return self.events.page(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    async def wait_for_events(self, *, cursor, timeout):
        return await self.events.wait(cursor=cursor, timeout=timeout)

    async def close(self):
        await self.workers.close()
