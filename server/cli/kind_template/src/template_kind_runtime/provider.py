"""The ``template-kind`` runtime kind: workers that answer each input (as generated: by repeating it)."""

from __future__ import annotations

from datetime import UTC, datetime

from registry_core import (
    WORKER_CREATED,
    WORKER_DELETED,
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
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerPage,
    WorkerStopped,
)
from registry_core.blocks import EventLog, Roster, Transcript

from template_kind_runtime.settings import TemplateKindSettings

__all__ = ["TemplateKindProvider", "KIND"]

#: The kind name: as registered, and in every Worker this provider returns.
KIND = "template-kind"
#: A turn adds the input and one reply to the transcript.
ENTRIES_PER_TURN = 2


class TemplateKindWorker:
    """One worker's state."""

    def __init__(self, worker_id: str, label: str | None, intent: Intent | None, max_entries: int) -> None:
        self.worker_id = worker_id
        self.label = label
        self.intent = intent
        self.created_at = datetime.now(UTC)
        self.transcript = Transcript(max_entries=max_entries)
        self.turns = 0
        self.stopped = False


class TemplateKindProvider(RuntimeProvider):
    """One ``template-kind`` runtime: its workers, their transcripts and its event log."""

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
        # The blocks keep the rules: ids never reused, list cursors that survive
        # deletes, event ids unique across restarts, cursors that expire.
        self.workers: Roster[TemplateKindWorker] = Roster(id_prefix="template-kind-")
        self.events = EventLog(settings.event_retention)

    # -- workers -----------------------------------------------------------------

    def model(self, worker: TemplateKindWorker, diagnostics: tuple[Diagnostic, ...] = ()) -> Worker:
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
        """A new idle worker; it grants no capabilities and has one profile, ``default``."""
        if request.capabilities:
            raise InvalidRequest(
                "workers of this runtime can be granted no capabilities",
                details=tuple(
                    {"path": f"capabilities[{index}]", "message": "not available in this runtime"}
                    for index in range(len(request.capabilities))
                ),
            )
        if len(self.workers) >= self.settings.max_workers:
            raise CapacityExceeded(f"this runtime holds at most {self.settings.max_workers} workers")
        diagnostics: tuple[Diagnostic, ...] = ()
        if request.profile not in (None, "default"):
            diagnostics = (Diagnostic.warning("profile_fallback", "this runtime has one profile, 'default'"),)
        worker = self.workers.add(
            lambda worker_id: TemplateKindWorker(
                worker_id, request.label, request.intent, self.settings.max_transcript_entries
            )
        )
        self.events.append(WORKER_CREATED, worker.worker_id, {"profile": "default"})
        return self.model(worker, diagnostics)

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker; ``UnknownWorker`` if there is none."""
        return self.model(self.workers.get(worker_id))

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """Workers in creation order."""
        workers, next_cursor = self.workers.page(cursor=cursor, limit=limit)
        return WorkerPage(self.runtime_id, tuple(map(self.model, workers)), next_cursor)

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """Only the workers ``worker_filter`` matches; the same cursors as ``list_workers``."""
        workers, next_cursor = self.workers.page(
            cursor=cursor, limit=limit, where=lambda worker: worker_filter.matches(self.model(worker))
        )
        return WorkerPage(self.runtime_id, tuple(map(self.model, workers)), next_cursor)

    # -- turns -------------------------------------------------------------------

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Record the input and run the turn; it ends before this returns (nothing to cancel)."""
        worker = self.workers.get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input")
        if len(request.content) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.settings.max_input_chars} characters",
                details=(
                    {"path": "content", "message": f"must be at most {self.settings.max_input_chars} characters"},
                ),
            )
        worker.transcript.reserve(ENTRIES_PER_TURN, worker_id=worker_id)
        entry = self._record(worker, WORKER_INPUT_ACCEPTED, request.kind.value, request.content)
        worker.turns += 1
        self.events.append(WORKER_TURN_STARTED, worker_id, {"turn": worker.turns})
        self._record(worker, WORKER_OUTPUT, "assistant", self.reply(request.content))
        self.events.append(WORKER_TURN_COMPLETED, worker_id, {"turn": worker.turns})
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, entry.event_id or 0, "idle")

    def reply(self, content: str) -> str:
        """What the worker answers. Replace this with what your kind does."""
        return content

    def _record(self, worker: TemplateKindWorker, event_type: str, role: str, content: str) -> TranscriptEntry:
        """Announce a transcript entry with its event (the event contract's data), then append it."""
        data = {"transcript_sequence": worker.transcript.next_sequence, "role": role, "content": content}
        event = self.events.append(event_type, worker.worker_id, data)
        return worker.transcript.append(role, content, event.id)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """A bounded transcript page."""
        return self.workers.get(worker_id).transcript.page(self.runtime_id, worker_id, start=start, limit=limit)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Stop the worker for good; ``changed`` is ``False`` the second time."""
        worker = self.workers.get(worker_id)
        if worker.stopped:
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, "stopped")
        worker.stopped = True
        self.events.append(WORKER_STOPPED, worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, "stopped")

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """Forget the worker for good: stopped, unlisted, its id never issued again."""
        worker = self.workers.get(worker_id)
        if not worker.stopped:
            worker.stopped = True
            self.events.append(WORKER_STOPPED, worker_id, {})
        self.workers.remove(worker_id)
        self.events.append(WORKER_DELETED, worker_id, {})
        self.events.forget_worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")

    # -- events ------------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events after ``cursor``; ``CursorExpired`` outside what the log retains."""
        if worker_id is not None:
            self.workers.get(worker_id)
        return self.events.page(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait for an event after ``cursor``; ``False`` at once after close."""
        return await self.events.wait(cursor=cursor, timeout=timeout)

    async def close(self) -> None:
        """Wake every waiter: open streams must not hold up shutdown."""
        self.events.close()
