# src/acme_wordcount/provider.py
"""The ``wordcount`` runtime kind: every input gets a reply saying how many words and characters it has."""

from __future__ import annotations

from datetime import datetime, timezone

from registry_core import (
    WORKER_CREATED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_STARTED,
    CapacityExceeded,
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    Intent,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerPage,
    WorkerStopped,
)
from registry_core.blocks import EventLog, Roster, Transcript

from acme_wordcount.settings import WordcountSettings

#: The kind name: as registered, and in every Worker this provider returns.
KIND = "wordcount"


class WordcountWorker:
    """One worker's state."""

    def __init__(self, worker_id: str, label: str | None, intent: Intent | None) -> None:
        self.worker_id = worker_id
        self.label = label
        self.intent = intent
        self.created_at = datetime.now(timezone.utc)
        self.transcript = Transcript()
        self.turns = 0
        self.stopped = False


class WordcountProvider(RuntimeProvider):
    """One ``wordcount`` runtime."""

    kind = KIND

    def __init__(self, runtime_id: str, settings: WordcountSettings) -> None:
        super().__init__(runtime_id)  # sets self.runtime_id
        self.settings = settings
        # The registry refuses page limits above these maxima (400
        # limit_too_large) before it calls you, and shows them to clients.
        self.limits = RuntimeLimits(
            worker_page_max=settings.page_max,
            transcript_page_max=settings.page_max,
            event_page_max=settings.page_max,
            max_workers=settings.max_workers,
            max_input_chars=settings.max_input_chars,
            event_retention=settings.event_retention,
        )
        self.workers: Roster[WordcountWorker] = Roster(id_prefix="wc-")
        self.events = EventLog(settings.event_retention)

    def model(self, worker: WordcountWorker, diagnostics: tuple[Diagnostic, ...] = ()) -> Worker:
        """The worker as clients see it."""
        return Worker(
            runtime_id=self.runtime_id,
            worker_id=worker.worker_id,
            kind=KIND,
            label=worker.label,
            status="stopped" if worker.stopped else "idle",
            profile="default",
            intent=worker.intent,
            created_at=worker.created_at,
            transcript_length=len(worker.transcript),
            diagnostics=diagnostics,
        )

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        if request.capabilities:
            raise InvalidRequest(
                "wordcount workers have no capabilities to grant",
                details=[
                    {"path": f"capabilities[{index}]", "message": "not available in this runtime"}
                    for index in range(len(request.capabilities))
                ],
            )
        if len(self.workers) >= self.settings.max_workers:
            raise CapacityExceeded(f"this runtime holds at most {self.settings.max_workers} workers")
        diagnostics: tuple[Diagnostic, ...] = ()
        if request.profile not in (None, "default"):
            diagnostics = (Diagnostic.warning("profile_fallback", "wordcount has one profile, 'default'"),)
        worker = self.workers.add(lambda worker_id: WordcountWorker(worker_id, request.label, request.intent))
        self.events.append(WORKER_CREATED, worker.worker_id, {"profile": "default"})
        return self.model(worker, diagnostics)

    async def get_worker(self, worker_id: str) -> Worker:
        return self.model(self.workers.get(worker_id))  # UnknownWorker if there is none

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        workers, next_cursor = self.workers.page(cursor=cursor, limit=limit)
        return WorkerPage(self.runtime_id, tuple(map(self.model, workers)), next_cursor)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        worker = self.workers.get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input")
        if len(request.content) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.settings.max_input_chars} characters",
                details=[{"path": "content", "message": f"must be at most {self.settings.max_input_chars} characters"}],
            )
        entry = self.record(worker, WORKER_INPUT_ACCEPTED, request.kind.value, request.content)
        worker.turns += 1
        self.events.append(WORKER_TURN_STARTED, worker_id, {"turn": worker.turns})
        reply = f"{len(request.content.split())} words, {len(request.content)} characters"
        self.record(worker, WORKER_OUTPUT, "assistant", reply)
        self.events.append(WORKER_TURN_COMPLETED, worker_id, {"turn": worker.turns})
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, entry.event_id, "idle")

    def record(self, worker: WordcountWorker, event_type: str, role: str, content: str):
        """Announce a transcript entry with its event, then append it."""
        data = {"transcript_sequence": worker.transcript.next_sequence, "role": role, "content": content}
        event = self.events.append(event_type, worker.worker_id, data)
        return worker.transcript.append(role, content, event.id)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        return self.workers.get(worker_id).transcript.page(self.runtime_id, worker_id, start=start, limit=limit)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        worker = self.workers.get(worker_id)
        if worker.stopped:
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, "stopped")
        worker.stopped = True
        self.events.append(WORKER_STOPPED, worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, "stopped")

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if worker_id is not None:
            self.workers.get(worker_id)  # UnknownWorker for a worker this runtime does not have
        return self.events.page(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        return await self.events.wait(cursor=cursor, timeout=timeout)

    async def close(self) -> None:
        self.events.close()  # wakes every waiter: open streams must not hold up shutdown
