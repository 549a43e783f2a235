"""The ``template-kind`` runtime kind: workers whose turns take time (as generated: they wait, then repeat the input).

What a turn does is :meth:`TemplateKindProvider.turn`; everything else — status,
the busy rule, cancel/stop/delete/shutdown with their events, ``max_workers``,
profile fallback, input length — is the ``WorkerLifecycle`` block's.
"""

from __future__ import annotations

import asyncio

from registry_core import (
    CreateWorkerRequest,
    EventPage,
    InputAccepted,
    InputRequest,
    RuntimeLimits,
    RuntimeProvider,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerPage,
)
from registry_core.blocks import EventLog, TurnInput, WorkerLifecycle

from template_kind_runtime.settings import TemplateKindSettings

__all__ = ["KIND", "TemplateKindProvider"]

#: The kind name: as registered, and in every Worker this provider returns.
KIND = "template-kind"


class TemplateKindProvider(RuntimeProvider):
    """One ``template-kind`` runtime."""

    kind = KIND

    def __init__(self, runtime_id: str, settings: TemplateKindSettings) -> None:
        super().__init__(runtime_id)
        self.settings = settings
        self.limits = RuntimeLimits(
            worker_page_max=settings.page_max,
            transcript_page_max=settings.page_max,
            event_page_max=settings.page_max,
            max_workers=settings.max_workers,
            max_transcript_entries=settings.max_transcript_entries,
            max_input_chars=settings.max_input_chars,
            event_retention=settings.event_retention,
        )
        self.events = EventLog(settings.event_retention)
        self.workers = WorkerLifecycle(
            runtime_id,
            KIND,
            self.events,
            turn=self.turn,
            max_workers=settings.max_workers,
            max_input_chars=settings.max_input_chars,
            max_entries=settings.max_transcript_entries,
            id_prefix="template-kind-",
        )

    async def turn(self, turn: TurnInput) -> str | None:
        """What a turn does: the reply to ``turn.content`` (``None`` for none). Replace this with your work.

        Cancel, stop, delete and shutdown cancel the task running it; what it
        does afterwards takes no effect. If it raises, the turn fails.
        """
        await asyncio.sleep(self.settings.turn_seconds)
        return turn.content

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        return await self.workers.list_workers(limit=limit, cursor=cursor)

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        return await self.workers.filter_workers(worker_filter, limit=limit, cursor=cursor)

    async def get_worker(self, worker_id: str) -> Worker:
        return await self.workers.get_worker(worker_id)

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        return await self.workers.create_worker(request)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        return await self.workers.send_input(worker_id, request)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        return await self.workers.cancel_worker(worker_id)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        return await self.workers.stop_worker(worker_id)

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        return await self.workers.delete_worker(worker_id)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        return await self.workers.read_transcript(worker_id, start=start, limit=limit)

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if worker_id is not None:
            self.workers.model(worker_id)  # UnknownWorker for a worker this runtime does not have
        return self.events.page(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        return await self.events.wait(cursor=cursor, timeout=timeout)

    async def close(self) -> None:
        await self.workers.close()  # ends running turns (reason shutdown) and wakes every waiter
