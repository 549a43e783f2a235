"""A complete, correct in-memory provider, and the proof that it passes the whole conformance suite.

The breach tests (``test_conformance_breaches.py``) break this provider one
rule at a time; because this one passes every check, each of their failures
is caused by the one rule they broke.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime

import attrs

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    CursorExpired,
    Diagnostic,
    Event,
    EventPage,
    InputAccepted,
    InputRequest,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    TranscriptEntry,
    TranscriptPage,
    UnknownWorker,
    Worker,
    WorkerActionResult,
    WorkerBusy,
    WorkerPage,
    WorkerStopped,
)
from runtime_registry.testing.conformance import RUNTIME_IDS, RuntimeConformance

#: How long a turn of a "slow" worker lasts.
SLOW_TURN_SECONDS = 0.25


def now() -> datetime:
    return datetime.now(UTC)


class ReferenceWorker:
    """One worker: transcript, the running turn, and whether it is stopped."""

    def __init__(self, worker_id: str, label: str | None, slow: bool) -> None:
        self.worker_id = worker_id
        self.label = label
        self.slow = slow
        self.created_at = now()
        self.transcript: list[TranscriptEntry] = []
        self.turn: asyncio.Task[None] | None = None
        self.turns = 0
        self.stopped = False

    @property
    def status(self) -> str:
        return "stopped" if self.stopped else "busy" if self.turn is not None else "idle"


class ReferenceProvider(RuntimeProvider):
    """Every operation, done the way the contract says. Workers created with profile ``slow`` take 0.25 s a turn."""

    kind = "reference"
    limits = RuntimeLimits(worker_page_max=50, transcript_page_max=50, event_page_max=50, max_workers=20)

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.workers: dict[str, ReferenceWorker] = {}
        self.events: list[Event] = []
        self.arrived = asyncio.Event()
        self.closed = False
        self.ids = itertools.count(1)
        # Each run numbers its events from the clock in microseconds, so no id
        # is ever reused across restarts and an earlier run's cursor is expired.
        self.first_event_id = time.time_ns() // 1000

    # -- helpers the breach tests override -------------------------------------

    def new_worker_id(self, request: CreateWorkerRequest) -> str:
        return f"ref-{next(self.ids)}"

    def emit(self, type_: str, worker_id: str | None, **data: object) -> Event:
        event = Event(self.first_event_id + len(self.events), type_, worker_id, data, now())
        self.events.append(event)
        self.arrived.set()
        self.arrived = asyncio.Event()
        return event

    @property
    def last_event_id(self) -> int:
        """The newest event's id (``first_event_id - 1`` before the first)."""
        return self.first_event_id + len(self.events) - 1

    def model(self, worker: ReferenceWorker) -> Worker:
        return Worker(
            self.runtime_id,
            worker.worker_id,
            self.kind,
            worker.label,
            worker.status,
            "default",
            None,
            worker.created_at,
            len(worker.transcript),
        )

    def worker(self, worker_id: str) -> ReferenceWorker:
        try:
            return self.workers[worker_id]
        except KeyError:
            raise UnknownWorker("no such worker in this runtime") from None

    def record(
        self, worker: ReferenceWorker, role: str, content: str, event_type: str, **data: object
    ) -> TranscriptEntry:
        """Emit the event announcing a transcript entry (with the event contract's data), then add the entry."""
        sequence = len(worker.transcript) + 1
        if event_type in ("worker.input_accepted", "worker.output"):
            data = {"transcript_sequence": sequence, "role": role, "content": content, **data}
        event = self.emit(event_type, worker.worker_id, **data)
        entry = TranscriptEntry(sequence, role, content, event.id, now())
        worker.transcript.append(entry)
        return entry

    # -- lifecycle ---------------------------------------------------------------

    async def close(self) -> None:
        for worker in self.workers.values():
            if worker.turn is not None:
                worker.turn.cancel()
        self.closed = True
        self.arrived.set()

    # -- workers -------------------------------------------------------------------

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        order = list(self.workers)
        if cursor is not None and cursor not in self.workers:
            raise InvalidRequest("unknown cursor", details=({"path": "cursor", "message": "unknown cursor"},))
        start = order.index(cursor) + 1 if cursor is not None else 0
        chosen = order[start : start + limit]
        more = start + limit < len(order)
        return WorkerPage(
            self.runtime_id, tuple(self.model(self.workers[i]) for i in chosen), chosen[-1] if more else None
        )

    async def get_worker(self, worker_id: str) -> Worker:
        return self.model(self.worker(worker_id))

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        if len(self.workers) >= self.limits.max_workers:  # type: ignore[operator]
            raise CapacityExceeded("this runtime holds at most 20 workers")
        worker = ReferenceWorker(self.new_worker_id(request), request.label, slow=request.profile == "slow")
        self.workers[worker.worker_id] = worker
        self.emit("worker.created", worker.worker_id)
        if request.profile in (None, "default", "slow"):
            return self.model(worker)
        return attrs.evolve(
            self.model(worker), diagnostics=(Diagnostic.warning("profile_fallback", "no such profile: 'default'"),)
        )

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        worker = self.worker(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped")
        if worker.turn is not None:
            raise WorkerBusy("the worker is in a turn")
        entry = self.record(worker, request.kind.value, request.content, "worker.input_accepted")
        worker.turns += 1
        self.emit("worker.turn_started", worker_id, turn=worker.turns)
        worker.turn = asyncio.ensure_future(self.run_turn(worker, request.content))
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, entry.event_id, "busy")

    async def run_turn(self, worker: ReferenceWorker, content: str) -> None:
        try:
            await asyncio.sleep(SLOW_TURN_SECONDS if worker.slow else 0)
            self.record(worker, "assistant", content.upper(), "worker.output")
            self.emit("worker.turn_completed", worker.worker_id, turn=worker.turns)
        finally:
            worker.turn = None

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        worker = self.worker(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped")
        changed = await self.end_turn(worker, "cancel")
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", changed, worker.status)

    async def stop_worker(self, worker_id: str, reason: str = "stop") -> WorkerActionResult:
        worker = self.worker(worker_id)
        if worker.stopped:
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, "stopped")
        worker.stopped = True
        await self.end_turn(worker, reason)
        self.emit("worker.stopped", worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, "stopped")

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        worker = self.worker(worker_id)
        if not worker.stopped:
            await self.stop_worker(worker_id, "delete")
        del self.workers[worker_id]
        self.emit("worker.deleted", worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")

    async def end_turn(self, worker: ReferenceWorker, reason: str) -> bool:
        turn = worker.turn
        if turn is None:
            return False
        turn.cancel()
        await asyncio.wait([turn])
        # A task cancelled before its first step never runs its finally.
        worker.turn = None
        self.record(
            worker, "system", "the turn was cancelled", "worker.turn_cancelled", turn=worker.turns, reason=reason
        )
        return True

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        transcript = self.worker(worker_id).transcript
        items = tuple(transcript[start - 1 : start - 1 + limit])
        end = start + len(items)
        next_start = end if items and end <= len(transcript) else None
        return TranscriptPage(self.runtime_id, worker_id, items, start, limit, len(transcript), next_start)

    # -- events ----------------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if worker_id is not None:
            self.worker(worker_id)
        # None and 0 both mean "before this run's first event".
        after = cursor if cursor else self.first_event_id - 1
        if after < self.first_event_id - 1:
            raise CursorExpired("this cursor is from before a restart")
        if after > self.last_event_id:
            raise CursorExpired("this cursor is newer than any event")
        selected: list[Event] = []
        next_cursor, has_more = after, False
        for event in self.events[after - self.first_event_id + 1 :]:
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
        cursor = cursor or self.first_event_id - 1
        if self.last_event_id > cursor:
            return True
        if self.closed:
            return False
        arrived = self.arrived
        try:
            async with asyncio.timeout(timeout):
                await arrived.wait()
        except TimeoutError:
            pass
        return self.last_event_id > cursor


class ReferenceConformance(RuntimeConformance):
    """The suite, pointed at :class:`ReferenceProvider` (or a subclass named by ``provider_type``)."""

    contract_version = "0.3"

    provider_type: type[ReferenceProvider] = ReferenceProvider

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        return self.provider_type(runtime_id)

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile="slow")


class TestTheReferenceProviderPassesEveryCheck(ReferenceConformance):
    """Every check runs and passes (only the false-capability check skips: there is none), so each
    breach test's failure comes from the one rule it broke."""


#: The "disk" of :class:`PersistsItsLastId`: runtime id -> the last event id it issued.
PERSISTED_LAST_IDS: dict[str, int] = {}


class PersistsItsLastId(ReferenceProvider):
    """Continues from the last id the previous run saved (the other way to never reuse an id): small ids, no clock."""

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.first_event_id = PERSISTED_LAST_IDS.get(runtime_id, 0) + 1

    def emit(self, type_: str, worker_id: str | None, **data: object) -> Event:
        event = super().emit(type_, worker_id, **data)
        PERSISTED_LAST_IDS[self.runtime_id] = event.id
        return event


def test_a_kind_that_continues_from_a_persisted_last_id_passes_the_restart_check():
    # Its first run's cursor stays valid after the restart and returns the new
    # run's events: nothing is skipped, so the check must not demand CursorExpired.
    PERSISTED_LAST_IDS.clear()
    suite = ReferenceConformance()
    suite.provider_type = PersistsItsLastId
    suite.test_event_ids_are_not_reused_across_restarts()
    assert PERSISTED_LAST_IDS[RUNTIME_IDS[0]] < 10


class TakesInputButCannotCreate(ReferenceProvider):
    """A kind with one worker of its own and no create_worker: the restart check issues events by input."""

    create_worker = RuntimeProvider.create_worker

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.workers["ref-resident"] = ReferenceWorker("ref-resident", None, slow=False)


def test_a_kind_that_only_takes_input_passes_the_restart_check():
    suite = ReferenceConformance()
    suite.provider_type = TakesInputButCannotCreate
    suite.test_event_ids_are_not_reused_across_restarts()
