# src/acme_wordcount/provider.py
"""The ``wordcount`` runtime kind: every input gets a reply saying how many words and characters it has."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from datetime import datetime, timezone

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    CursorExpired,
    Diagnostic,
    Event,
    EventPage,
    InputAccepted,
    InputRequest,
    Intent,
    InvalidCursor,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    TranscriptEntry,
    TranscriptPage,
    UnknownWorker,
    Worker,
    WorkerActionResult,
    WorkerPage,
    WorkerStopped,
)

from acme_wordcount.settings import WordcountSettings

#: The kind name: as registered, and in every Worker this provider returns.
KIND = "wordcount"


def now() -> datetime:
    return datetime.now(timezone.utc)


class WordcountWorker:
    """One worker's state."""

    def __init__(self, worker_id: str, label: str | None, intent: Intent | None) -> None:
        self.worker_id = worker_id
        self.label = label
        self.intent = intent
        self.created_at = now()
        self.transcript: list[TranscriptEntry] = []
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
        self.workers: dict[str, WordcountWorker] = {}  # in creation order
        self.events: deque[Event] = deque(maxlen=settings.event_retention)
        # Event ids are never reused, not even after a restart: each run starts
        # at the clock in microseconds, above every id an earlier run issued.
        self.first_event_id = time.time_ns() // 1000
        self.last_event_id = self.first_event_id - 1
        self.new_event = asyncio.Event()
        self.closed = False

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

    def find(self, worker_id: str) -> WordcountWorker:
        try:
            return self.workers[worker_id]
        except KeyError:
            raise UnknownWorker("no such worker in this runtime") from None

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
        worker = WordcountWorker(f"wc-{secrets.token_hex(6)}", request.label, request.intent)
        self.workers[worker.worker_id] = worker
        self.emit("worker.created", worker.worker_id, {})
        return self.model(worker, diagnostics)

    async def get_worker(self, worker_id: str) -> Worker:
        return self.model(self.find(worker_id))

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        ids = list(self.workers)
        start = 0
        if cursor is not None:
            if cursor not in self.workers:
                raise InvalidCursor("not a cursor of this runtime")
            start = ids.index(cursor) + 1
        chosen = ids[start : start + limit]
        more = start + limit < len(ids)
        return WorkerPage(self.runtime_id, tuple(self.model(self.workers[i]) for i in chosen), chosen[-1] if more else None)

    def append(self, worker: WordcountWorker, role: str, content: str, event_id: int) -> TranscriptEntry:
        entry = TranscriptEntry(len(worker.transcript) + 1, role, content, event_id, now())
        worker.transcript.append(entry)
        return entry

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        worker = self.find(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input")
        if len(request.content) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.settings.max_input_chars} characters",
                details=[{"path": "content", "message": f"must be at most {self.settings.max_input_chars} characters"}],
            )
        accepted = self.emit("worker.input_accepted", worker_id, {"transcript_sequence": len(worker.transcript) + 1})
        entry = self.append(worker, request.kind.value, request.content, accepted.id)
        # The turn: count, and answer.
        reply = f"{len(request.content.split())} words, {len(request.content)} characters"
        output = self.emit("worker.output", worker_id, {"transcript_sequence": len(worker.transcript) + 1})
        self.append(worker, "assistant", reply, output.id)
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, accepted.id, "idle")

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        transcript = self.find(worker_id).transcript
        items = tuple(transcript[start - 1 : start - 1 + limit])
        end = start + len(items)
        next_start = end if items and end <= len(transcript) else None
        return TranscriptPage(self.runtime_id, worker_id, items, start, limit, len(transcript), next_start)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        worker = self.find(worker_id)
        if worker.stopped:
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, "stopped")
        worker.stopped = True
        self.emit("worker.stopped", worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, "stopped")

    def emit(self, type_: str, worker_id: str | None, data: dict) -> Event:
        self.last_event_id += 1
        event = Event(self.last_event_id, type_, worker_id, data, now())
        self.events.append(event)  # the deque drops the oldest beyond event_retention
        # Wake every waiter once; the next wait starts on a fresh asyncio.Event.
        self.new_event.set()
        self.new_event = asyncio.Event()
        return event

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if worker_id is not None:
            self.find(worker_id)
        oldest = self.events[0].id if self.events else self.last_event_id + 1
        # None: from the oldest retained event; 0: from this run's first event.
        after = oldest - 1 if cursor is None else self.first_event_id - 1 if cursor == 0 else cursor
        if after < oldest - 1:
            # Dropped, or a cursor of an earlier run: every one is below this run's ids.
            raise CursorExpired("events after this cursor are no longer retained; read again without a cursor")
        if after > self.last_event_id:
            raise CursorExpired("this cursor is newer than any event of this runtime; read again without a cursor")
        selected: list[Event] = []
        next_cursor, has_more = after, False
        for event in self.events:
            if event.id <= after:
                continue
            if worker_id is not None and event.worker_id != worker_id:
                next_cursor = event.id
                continue
            if len(selected) == limit:
                has_more = True
                break
            selected.append(event)
            next_cursor = event.id
        return EventPage(self.runtime_id, tuple(selected), next_cursor, has_more)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        if cursor == 0:
            cursor = self.first_event_id - 1
        if self.last_event_id > cursor:
            return True
        if self.closed:
            return False
        new_event = self.new_event
        try:
            async with asyncio.timeout(timeout):
                await new_event.wait()
        except TimeoutError:
            pass
        return self.last_event_id > cursor

    async def close(self) -> None:
        self.closed = True
        self.new_event.set()
