"""Stores that decide in this process's memory: :class:`LocalStore`, and :class:`MemoryStore` on it.

A :class:`LocalStore` is the authority for what it holds: its roster and event
log *are* the state, so every decision of the seam is made at once, with no
await — the busy rule is atomic without a lock because nothing else runs
between the check and the change (decision 0006), and a decision costs what a
plain method call costs. What a subclass adds is where the state also goes:

- :class:`MemoryStore` keeps transcripts in memory and bounds what it holds
  by bytes (``max_store_bytes``, :class:`~runtime_registry.runtimes.embedded.store_budget.StoreBudget`);
  nothing outlives the process;
- :class:`~runtime_registry.runtimes.embedded.sqlite_store.SQLiteStore` queues
  every change for its file and moves the event log's committed watermark
  when a commit lands.

Subclasses hook in through the ``_admit_*`` (may refuse, before anything
changes) and ``_*_written`` methods (after the change).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from registry_core.blocks import EventLog, Roster, Transcript
from registry_core.errors import CapacityExceeded, InvalidRequest, QueueFull, WorkerBusy, WorkerStopped
from registry_core.event_contract import (
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_INPUT_DROPPED,
    WORKER_INPUT_QUEUED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_FAILED,
    WORKER_TURN_INTERRUPTED,
    WORKER_TURN_STARTED,
)
from registry_core.models import Event
from registry_core.page_bytes import json_size, text_size
from runtime_registry.runtimes.embedded.admission import Admission
from runtime_registry.runtimes.embedded.culling import (
    EXPIRED,
    IDLE_REASON,
    SWEEP_LIMIT,
    CullPolicy,
    CullResult,
    ExpiryIndex,
)
from runtime_registry.runtimes.embedded.event_sizes import turn_completed_data_size, turn_started_data_size
from runtime_registry.runtimes.embedded.settings import EmbeddedSettings
from runtime_registry.runtimes.embedded.store import (
    COMPLETED,
    Accepted,
    StoreSetup,
    StoreSnapshot,
    WorkerDraft,
    WorkerStore,
    turn_failed_data,
)
from runtime_registry.runtimes.embedded.store_budget import WORKER_RECORD_BYTES, StoreBudget
from runtime_registry.runtimes.embedded.totals import TURN_ENDS, with_event
from runtime_registry.runtimes.embedded.transcript import ASSISTANT, ENTRY_ENVELOPE_BYTES, TranscriptStorage
from runtime_registry.runtimes.embedded.turn_queue import (
    Queued,
    QueuedInput,
    Started,
    TurnQueues,
    ended_turns,
    unstarted_inputs,
)
from runtime_registry.runtimes.embedded.workers import BUSY, IDLE, STOPPED, WorkerRecord

__all__ = ["WORKER_ID_PREFIX", "LocalStore", "MemoryStore", "worker_bytes"]

#: Worker ids are this prefix, the worker's creation serial in 13 hex digits and
#: 8 random hex digits: opaque, never derived from a label, and never reused,
#: since serials are (decision 0065).
WORKER_ID_PREFIX = "w-"
#: An upper bound of the JSON of an input or output event's data besides its content.
CONTENT_EVENT_DATA_BYTES = 80


class LocalStore(WorkerStore):
    """The seam's decisions made in this process's memory, at once (see the module docstring)."""

    settings: EmbeddedSettings
    busy_policies = ("reject", "enqueue", "interrupt")
    # complete_turn and fail_turn change memory only (a durable store commits them later).
    ends_turns_at_once = True
    #: The clock status times are stamped with (epoch seconds); tests move it.
    clock: Callable[[], float] = staticmethod(time.time)
    # The text measured last and its JSON size (see _text_bytes).
    _measured: tuple[str, int] = ("", 2)

    def setup(self, setup: StoreSetup) -> None:
        """Build the roster and the event log for the runtime's settings."""
        self.settings = setup.settings
        self._setup = setup
        # Inputs queued behind a turn, and turns started from them not yet taken by the runtime.
        self.queues = TurnQueues()
        self._started: list[Started] = []
        self.admission = Admission(setup.settings.max_concurrent_turns)
        # Culling's indexes (decision 0220), kept only when culling is on.
        self._culling = setup.settings.idle_stop_seconds is not None or (
            setup.settings.stopped_delete_seconds is not None
        )
        self._idle_index = ExpiryIndex()
        self._stopped_index = ExpiryIndex()
        self.roster = Roster(id_prefix=WORKER_ID_PREFIX, first_serial=setup.first_serial)
        self.events = self._event_log(setup.event_start_id)

    def _event_log(self, start_id: int | None) -> EventLog:
        return EventLog(
            self.settings.event_retention,
            start_id=start_id,
            max_retained_bytes=self.settings.max_store_bytes,
            on_append=self._event_appended,
        )

    def _event_appended(self, event: Event) -> None:
        """Every new event: one that ends a turn counts in its worker's totals (decision 0201).

        From the event, not from the code path that ended the turn, so every
        way a turn ends (completed, failed, cancelled, stopped, deleted,
        interrupted) counts exactly once, with the event.
        """
        if event.type in TURN_ENDS and event.worker_id is not None:
            worker = self.roster.find(event.worker_id)
            if worker is not None:
                worker.totals = with_event(worker.totals, event.type, event.data)

    def _text_bytes(self, text: str) -> int:
        """``text_size(text)``, measured once for the same text in a row (decision 0256).

        An input is measured by its checks, its event and its charge, and an
        echoed reply is the input itself: one measure, not three to five. By
        identity, so an equal text that is another object is measured again.
        """
        measured = self._measured
        if measured[0] is text:
            return measured[1]
        size = text_size(text)
        self._measured = (text, size)
        return size

    def _new_transcript(self, serial: int) -> TranscriptStorage:
        return Transcript()

    def _restored_transcript(self, serial: int, length: int) -> TranscriptStorage:
        raise NotImplementedError("a memory store restores nothing")

    def _restore(self, snapshot: StoreSnapshot) -> None:
        """Take back what a durable store kept: a new roster and event log, then interrupt busy workers.

        :raises ValueError: rows that break the invariants (serials out of
            order, events with gaps): the caller refuses the store as damaged.
        """
        meta = snapshot.meta
        events = self._event_log(meta.first_event_id)
        events.restore(snapshot.events, last_id=meta.last_event_id, worker_ids=(w.worker_id for w in snapshot.workers))
        roster: Roster[WorkerRecord] = Roster(
            id_prefix=WORKER_ID_PREFIX, first_serial=meta.first_serial, cursor_tag=meta.cursor_tag
        )
        records = []
        for stored in snapshot.workers:
            profile = self._setup.profiles.by_name(stored.profile)
            record = WorkerRecord(
                stored.worker_id,
                stored.label,
                stored.intent,
                profile,
                stored.created_at,
                stored.serial,
                self._restored_transcript(stored.serial, stored.entries),
            )
            # Tools come back as the profile grants them now: one it no longer
            # lists is not granted again (as a removed profile falls back).
            grantable = self._setup.profiles.tools(profile)
            record.tools = tuple(tool for name in stored.tools if (tool := grantable.get(name)) is not None)
            # Statuses are compared by identity: take the shared constants.
            record.status = _STATUSES.get(stored.status, IDLE)
            record.turn_number = stored.turn_number
            if stored.status_since is not None:
                record.status_since = stored.status_since.timestamp()
            record.totals = stored.totals
            records.append(record)
        roster.restore(((record.worker_id, record.serial, record) for record in records), next_serial=meta.next_serial)
        self.roster, self.events = roster, events
        self._index_restored(records)
        ended = ended_turns(snapshot.events)
        for record in records:
            if record.status is BUSY:
                if record.turn_number == 0 or (record.worker_id, record.turn_number) in ended:
                    # It waited for a turn slot (admission): no turn of it was running.
                    self._changing(record)
                    record.status = IDLE
                    self._entered(record)
                else:
                    self._interrupt(record)
        # The queues lived in the run that ended: each input that had not started is dropped.
        for queued in unstarted_inputs(snapshot.events):
            if queued.worker_id is not None and queued.worker_id in roster:
                self._announce_drop(queued.worker_id, queued.id, "restart")

    # -- hooks (no-ops here) -----------------------------------------------------------

    def _admit_worker(self, draft: WorkerDraft) -> None:
        """Refuse (``CapacityExceeded``) a worker the store has no room for."""

    def _worker_written(self, worker: WorkerRecord) -> None:
        """A worker was created (before its ``worker.created`` event)."""

    def _admit_input(self, worker: WorkerRecord, content: str) -> None:
        """Refuse input (and its reply) the store has no room for."""

    def _changing(self, worker: WorkerRecord) -> None:
        """``worker``'s status, turn or transcript is about to change (every check passed)."""

    def _entry_written(self, worker: WorkerRecord, content: str) -> None:
        """An entry was added to ``worker``'s transcript."""

    def _input_written(self, worker: WorkerRecord, content: str) -> None:
        """Input was accepted (its entry is written): room may be held for the reply."""

    def _turn_ended(self, worker: WorkerRecord) -> None:
        """``worker`` left its turn (completed, failed, cancelled or stopped)."""

    def _worker_removed(self, worker: WorkerRecord) -> None:
        """``worker`` was deleted."""

    # -- culling (decision 0220) ------------------------------------------------------

    def _entered(self, worker: WorkerRecord) -> None:
        """``worker`` entered its status now: stamp it, and move it in culling's indexes."""
        now = worker.status_since = self.clock()
        if not self._culling:
            return
        worker_id = worker.worker_id
        if worker.status is IDLE:
            self._idle_index.enter(worker_id, now)
        else:
            self._idle_index.leave(worker_id)
            if worker.status is STOPPED:
                self._stopped_index.enter(worker_id, now)

    def _index_restored(self, records: list[WorkerRecord]) -> None:
        """Culling's indexes for workers taken back from a file: in the order of their stored times."""
        self._idle_index, self._stopped_index = ExpiryIndex(), ExpiryIndex()
        if not self._culling:
            return
        for record in sorted(records, key=lambda r: r.status_since):
            if record.status is IDLE:
                self._idle_index.enter(record.worker_id, record.status_since)
            elif record.status is STOPPED:
                self._stopped_index.enter(record.worker_id, record.status_since)

    async def cull(self, policy: CullPolicy) -> CullResult:
        """Stop idle workers and delete stopped ones past their allowance, front of each index first.

        Each is checked and changed in this step of the event loop, with no
        await in between (see :meth:`WorkerStore.cull`).
        """
        self.check_writable()
        now = self.clock()
        stopped: list[str] = []
        deleted: list[str] = []
        if policy.idle_seconds is not None:
            for worker_id in self._idle_index.due(now - policy.idle_seconds, SWEEP_LIMIT):
                worker = self.roster.find(worker_id)
                if worker is not None and worker.status is IDLE:
                    self._stop(worker, "stop", {"reason": IDLE_REASON})
                    stopped.append(worker_id)
        if policy.stopped_seconds is not None:
            for worker_id in self._stopped_index.due(now - policy.stopped_seconds, SWEEP_LIMIT):
                worker = self.roster.find(worker_id)
                if worker is not None and worker.status is STOPPED:
                    self._delete(worker, {"reason": EXPIRED})
                    deleted.append(worker_id)
        return CullResult(tuple(stopped), tuple(deleted))

    # -- decisions -------------------------------------------------------------------

    async def create_worker(self, draft: WorkerDraft, *, max_workers: int) -> WorkerRecord:
        """Create the worker with the roster's next serial (see :meth:`WorkerStore.create_worker`)."""
        self.check_writable()
        if len(self.roster) >= max_workers:
            raise CapacityExceeded(f"this runtime holds at most {max_workers} workers")
        self._admit_worker(draft)
        serial = self.roster.next_serial
        worker = self.roster.add(
            lambda worker_id: WorkerRecord(
                worker_id,
                draft.label,
                draft.intent,
                draft.profile,
                draft.created_at,
                serial,
                self._new_transcript(serial),
            )
        )
        worker.tools = draft.tools
        self._entered(worker)
        self._worker_written(worker)
        self.events.append(WORKER_CREATED, worker.worker_id, draft.event_data)
        return worker

    async def accept_input(self, worker: WorkerRecord, role: str, content: str) -> Accepted | Queued:
        """The busy rule and the input limits, then the input (see :meth:`WorkerStore.accept_input`);
        :class:`Queued` when every turn slot is taken (admission)."""
        self.check_writable()
        self._check_running(worker)
        if worker.status is BUSY:
            raise WorkerBusy("the worker is in a turn; wait for it to finish or cancel it", worker_id=worker.worker_id)
        self._check_input(worker, content)
        # From the checks above to the status change in _begin nothing awaits:
        # that is the whole of the busy rule's atomicity.
        return self._begin(worker, role, content)

    async def interrupt_input(self, worker: WorkerRecord, role: str, content: str) -> Accepted | Queued:
        """End the running turn (``reason: "interrupt"``) and take the input, in one step."""
        self.check_writable()
        self._check_running(worker)
        self._check_input(worker, content)
        # Every check passed before the running turn is ended: a refused
        # interrupt leaves it running. Nothing awaits from here to the end.
        worker_id = worker.worker_id
        replaced = self.admission.input_of(worker_id) if worker.waiting else None
        if replaced is not None:
            # It waits for a turn slot: the new input takes the old one's place in the line.
            self._announce_drop(worker_id, replaced.event_id, "interrupt")
            place = self.admission.wait(worker_id, replaced)
            event = self._announce_queued(worker_id, place, "admission", role, content)
            self.admission.wait(worker_id, QueuedInput(role, content, event))
            return Queued(event, place)
        if self._cancel(worker, "interrupt"):
            # The ended turn's slot goes to this input's turn: the running count does not change.
            return self._accept(worker, role, content)
        return self._begin(worker, role, content)

    async def enqueue_input(
        self, worker: WorkerRecord, role: str, content: str, *, max_queued: int
    ) -> Accepted | Queued:
        """Take the input at once when the worker is idle; else queue it behind its turn (``worker.input_queued``)."""
        self.check_writable()
        self._check_running(worker)
        if worker.status is not BUSY:
            self._check_input(worker, content)
            return self._begin(worker, role, content)
        worker_id = worker.worker_id
        waiting = self.queues.length(worker_id)
        if waiting >= max_queued:
            raise QueueFull(
                f"the worker is in a turn and {waiting} inputs already wait (max_queued_inputs)", worker_id=worker_id
            )
        # The input's limits are checked now, so a queued input is one that
        # fits; room in the transcript is checked again when its turn starts.
        self._check_input(worker, content, ahead=waiting + 1)
        event = self._announce_queued(worker_id, waiting + 1, "busy", role, content)
        position = self.queues.push(worker_id, QueuedInput(role, content, event))
        return Queued(event, position)

    def take_started(self) -> tuple[Started, ...]:
        """The turns started from queues and the admission line since last asked, oldest first, once."""
        if not self._started:
            return ()
        started, self._started = tuple(self._started), []
        return started

    def turn_slots(self) -> tuple[int, int, int, int]:
        """``(turns running, max_concurrent_turns, workers waiting for a slot, inputs queued behind turns)``."""
        admission = self.admission
        return admission.running, admission.slots, admission.waiting, len(self.queues)

    def _check_running(self, worker: WorkerRecord) -> None:
        if worker.status is STOPPED:
            raise WorkerStopped("the worker is stopped and takes no more input", worker_id=worker.worker_id)

    def _check_input(self, worker: WorkerRecord, content: str, *, ahead: int = 0) -> None:
        """The input's limits: its length, room in the transcript (for the turns ``ahead`` of it too), the store's."""
        settings = self.settings
        limit = settings.max_input_chars
        if len(content) > limit:
            raise InvalidRequest(
                f"input is longer than {limit} characters",
                details=({"path": "content", "message": f"must be at most {limit} characters"},),
            )
        per_turn = self._setup.profiles.entries_per_turn(worker.profile)
        if settings.max_transcript_entries - len(worker.transcript) < per_turn * (ahead + 1):
            raise CapacityExceeded(
                f"the worker's transcript is full ({settings.max_transcript_entries} entries)",
                worker_id=worker.worker_id,
            )
        if not ahead:
            self._admit_input(worker, content)

    def _begin(
        self, worker: WorkerRecord, role: str, content: str, queued_event_id: int | None = None
    ) -> Accepted | Queued:
        """Start the input's turn if a turn slot is free; else claim the worker and let the input wait for one."""
        if not self.admission.full:
            return self._accept(worker, role, content, queued_event_id)
        worker_id = worker.worker_id
        self._changing(worker)
        worker.status = BUSY
        worker.waiting = True
        self._entered(worker)
        place = self.admission.waiting + 1
        if queued_event_id is None:
            queued_event_id = self._announce_queued(worker_id, place, "admission", role, content)
        place = self.admission.wait(worker_id, QueuedInput(role, content, queued_event_id))
        return Queued(queued_event_id, place)

    def _accept(self, worker: WorkerRecord, role: str, content: str, queued_event_id: int | None = None) -> Accepted:
        """The input's entry, ``worker.input_accepted`` and ``worker.turn_started``: the turn takes a slot."""
        worker_id = worker.worker_id
        self._changing(worker)
        worker.status = BUSY
        worker.waiting = False
        worker.turn_number += 1
        self.admission.running += 1
        self._entered(worker)
        sequence = len(worker.transcript) + 1
        data: dict[str, object] = {"transcript_sequence": sequence, "role": role, "content": content}
        if queued_event_id is not None:
            data["queued_event_id"] = queued_event_id
        # One decision, one moment: both events carry the same time (decision 0256).
        now = datetime.now(UTC)
        size = CONTENT_EVENT_DATA_BYTES + self._text_bytes(content)
        accepted = self.events.append(WORKER_INPUT_ACCEPTED, worker_id, data, data_size=size, created_at=now)
        worker.transcript.append(role, content, accepted.id)
        self._input_written(worker, content)
        turn = worker.turn_number
        size = turn_started_data_size(turn)
        self.events.append(WORKER_TURN_STARTED, worker_id, {"turn": turn}, data_size=size, created_at=now)
        return Accepted(sequence, accepted.id, turn)

    def _after_turn(self, worker: WorkerRecord | None = None) -> None:
        """A turn ended (its end event is written) or a worker left the line: hand out the free slots.

        First to the workers waiting for one, oldest first; then, if ``worker``
        has inputs queued behind the ended turn, the next one starts or waits
        for a slot behind them. Each turn started is kept for :meth:`take_started`.
        """
        while (admitted := self.admission.next()) is not None:
            self._start_waiting(self.roster.get(admitted[0]), admitted[1])
        if worker is None or worker.status is not IDLE:
            return
        worker_id = worker.worker_id
        while (waiting := self.queues.pop(worker_id)) is not None:
            try:
                self._check_input(worker, waiting.content)
            except CapacityExceeded:
                self._announce_drop(worker_id, waiting.event_id, "capacity")
                continue
            began = self._begin(worker, waiting.role, waiting.content, waiting.event_id)
            if isinstance(began, Accepted):
                self._started.append(Started(worker, began, waiting.role, waiting.content))
            return

    def _start_waiting(self, worker: WorkerRecord, waiting: QueuedInput) -> None:
        """Start the turn of an input that waited for a slot (one is free); drop it if it no longer fits."""
        worker.waiting = False
        try:
            self._check_input(worker, waiting.content)
        except CapacityExceeded:
            self._changing(worker)
            worker.status = IDLE
            self._entered(worker)
            self._announce_drop(worker.worker_id, waiting.event_id, "capacity")
            self._after_turn(worker)
            return
        accepted = self._accept(worker, waiting.role, waiting.content, waiting.event_id)
        self._started.append(Started(worker, accepted, waiting.role, waiting.content))

    def _withdraw(self, worker: WorkerRecord, reason: str) -> None:
        """Take a worker that waits for a slot out of the line: its input is dropped; it is idle."""
        waiting = self.admission.withdraw(worker.worker_id)
        self._changing(worker)
        worker.waiting = False
        worker.status = IDLE
        self._entered(worker)
        if waiting is not None:
            self._announce_drop(worker.worker_id, waiting.event_id, reason)

    def _drop_queued(self, worker: WorkerRecord, reason: str) -> None:
        """Drop every input queued for the worker, one ``worker.input_dropped`` each, oldest first."""
        for waiting in self.queues.take_all(worker.worker_id):
            self._announce_drop(worker.worker_id, waiting.event_id, reason)

    def _announce_queued(self, worker_id: str, place: int, reason: str, role: str, content: str) -> int:
        data = {"queue_position": place, "reason": reason, "role": role, "content": content}
        size = CONTENT_EVENT_DATA_BYTES + self._text_bytes(content)
        return self.events.append(WORKER_INPUT_QUEUED, worker_id, data, data_size=size).id

    def _announce_drop(self, worker_id: str, queued_event_id: int, reason: str) -> None:
        self.events.append(WORKER_INPUT_DROPPED, worker_id, {"queued_event_id": queued_event_id, "reason": reason})

    async def add_turn_entry(
        self, worker: WorkerRecord, turn: int, role: str, content: str, event_type: str, data: dict[str, Any]
    ) -> Event | None:
        """Write a tool entry while turn ``turn`` is the worker's."""
        if not worker.in_turn(turn):
            return None
        self._changing(worker)
        data["transcript_sequence"] = len(worker.transcript) + 1
        event = self.events.append(event_type, worker.worker_id, data)
        worker.transcript.append(role, content, event.id)
        self._entry_written(worker, content)
        return event

    async def complete_turn(
        self, worker: WorkerRecord, turn: int, reply: str | None, data: Mapping[str, object]
    ) -> str | None:
        """The reply and ``worker.turn_completed`` while turn ``turn`` is the worker's."""
        if not worker.in_turn(turn):
            return None
        self._changing(worker)
        if reply:
            if len(worker.transcript) >= self.settings.max_transcript_entries:
                await self.fail_turn(
                    worker, turn, "transcript_full", "the worker's transcript has no room for the reply"
                )
                return "transcript_full"
            output = self.events.append(
                WORKER_OUTPUT,
                worker.worker_id,
                {"transcript_sequence": len(worker.transcript) + 1, "role": ASSISTANT, "content": reply},
                data_size=CONTENT_EVENT_DATA_BYTES + self._text_bytes(reply),
            )
            worker.transcript.append(ASSISTANT, reply, output.id)
            self._entry_written(worker, reply)
        self._leave_turn(worker)
        self.events.append(WORKER_TURN_COMPLETED, worker.worker_id, data, data_size=turn_completed_data_size(data))
        self._after_turn(worker)
        return COMPLETED

    async def fail_turn(
        self, worker: WorkerRecord, turn: int, code: str, message: str, *, engine_code: str | None = None
    ) -> bool:
        """``worker.turn_failed`` while turn ``turn`` is the worker's."""
        if not worker.in_turn(turn):
            return False
        self._changing(worker)
        self._leave_turn(worker)
        self.events.append(WORKER_TURN_FAILED, worker.worker_id, turn_failed_data(turn, code, message, engine_code))
        self._after_turn(worker)
        return True

    async def cancel_turn(self, worker: WorkerRecord, reason: str) -> bool:
        """End the turn, if any, with ``worker.turn_cancelled``; then drop the inputs queued behind it
        (``worker.input_dropped``)."""
        self.check_writable()
        if worker.status is STOPPED:
            raise WorkerStopped("the worker is stopped", worker_id=worker.worker_id)
        changed = self._cancel(worker, reason)
        self._drop_queued(worker, reason)
        self._after_turn()
        return changed

    async def cancel_turn_keeping_queue(self, worker: WorkerRecord) -> bool:
        """End the turn, if any, with ``worker.turn_cancelled``; the next queued input's turn starts."""
        self.check_writable()
        if worker.status is STOPPED:
            raise WorkerStopped("the worker is stopped", worker_id=worker.worker_id)
        changed = self._cancel(worker, "cancel")
        self._after_turn(worker)
        return changed

    def _cancel(self, worker: WorkerRecord, reason: str) -> bool:
        """End the worker's turn with ``worker.turn_cancelled``, or drop the input it waits for a slot with."""
        if worker.waiting:
            self._withdraw(worker, reason)
            return True
        if worker.status is not BUSY:
            return False
        self._changing(worker)
        self._leave_turn(worker)
        self.events.append(WORKER_TURN_CANCELLED, worker.worker_id, {"turn": worker.turn_number, "reason": reason})
        return True

    def _leave_turn(self, worker: WorkerRecord) -> None:
        worker.status = IDLE
        self.admission.running -= 1
        self._entered(worker)
        self._turn_ended(worker)

    async def stop_worker(self, worker: WorkerRecord, reason: str = "stop") -> bool:
        """Cancel any turn and stop the worker; ``False`` if it already was."""
        self.check_writable()
        if worker.status is STOPPED:
            return False
        self._stop(worker, reason)
        return True

    def _stop(self, worker: WorkerRecord, reason: str, data: Mapping[str, object] | None = None) -> None:
        self._cancel(worker, reason)
        self._drop_queued(worker, reason)
        self._changing(worker)
        worker.status = STOPPED
        self._entered(worker)
        self.events.append(WORKER_STOPPED, worker.worker_id, data or {})
        self._after_turn()

    async def delete_worker(self, worker: WorkerRecord) -> None:
        """Stop, forget and announce the deletion."""
        self.check_writable()
        self._delete(worker)

    def _delete(self, worker: WorkerRecord, data: Mapping[str, object] | None = None) -> None:
        worker_id = worker.worker_id
        if worker.status is not STOPPED:
            self._stop(worker, "delete")
        self.roster.remove(worker_id)
        self._idle_index.leave(worker_id)
        self._stopped_index.leave(worker_id)
        self._worker_removed(worker)
        self.events.append(WORKER_DELETED, worker_id, data or {})
        self.events.forget_worker(worker_id)

    async def abandon_turn(self, worker: WorkerRecord) -> None:
        """Nothing outlives the process: the turn ends as cancelled (``reason: "shutdown"``), its queue is dropped."""
        self._cancel(worker, "shutdown")
        self._drop_queued(worker, "shutdown")

    def _interrupt(self, worker: WorkerRecord) -> None:
        """A worker restored busy: its turn died with the last run and is not re-run."""
        worker.status = IDLE
        self._entered(worker)
        self.events.append(WORKER_TURN_INTERRUPTED, worker.worker_id, {"turn": worker.turn_number, "reason": "restart"})

    # -- life --------------------------------------------------------------------------

    async def open(self) -> None:
        """Nothing to take back: a local store starts empty."""

    async def close(self) -> None:
        """Nothing to release."""

    async def settle(self) -> None:
        """Everything is as durable as it gets at once."""


class MemoryStore(LocalStore):
    """Everything in the process's memory, bounded by ``max_store_bytes``; nothing outlives the process.

    What ``EmbeddedRuntime()`` and ``EmbeddedProvider(...)`` use when not
    told where to keep files; ``serve`` and the config file default to SQLite.
    """

    budget: StoreBudget

    def setup(self, setup: StoreSetup) -> None:
        """Build the caches and the byte budget."""
        super().setup(setup)
        self.budget = StoreBudget(setup.settings.max_store_bytes)

    def kind_specific_limits(self) -> Mapping[str, int]:
        """``max_store_bytes``: the budget bounds what a memory store holds (decision 0081)."""
        return {"max_store_bytes": self.budget.max_bytes}

    def byte_usage(self) -> tuple[int, int] | None:
        """The budget's bytes charged and reserved now, and its bound."""
        return self.budget.used, self.budget.max_bytes

    def _admit_worker(self, draft: WorkerDraft) -> None:
        self.budget.require(worker_bytes(draft), what="the worker")

    def _worker_written(self, worker: WorkerRecord) -> None:
        self.budget.charge(worker.worker_id, worker_bytes(worker))

    def _admit_input(self, worker: WorkerRecord, content: str) -> None:
        entry_bytes = ENTRY_ENVELOPE_BYTES + self._text_bytes(content)
        reply_bytes = entry_bytes if self._setup.profiles.replies(worker.profile) else 0
        self.budget.require(entry_bytes + reply_bytes, worker_id=worker.worker_id, what="the input and its reply")

    def _entry_written(self, worker: WorkerRecord, content: str) -> None:
        self.budget.charge(worker.worker_id, ENTRY_ENVELOPE_BYTES + self._text_bytes(content))

    def _input_written(self, worker: WorkerRecord, content: str) -> None:
        # The input is charged; a reply the size of the input is held, so an
        # accepted input never finds the store full when it replies.
        entry_bytes = ENTRY_ENVELOPE_BYTES + self._text_bytes(content)
        self.budget.charge(worker.worker_id, entry_bytes)
        self.budget.reserve(worker.worker_id, entry_bytes if self._setup.profiles.replies(worker.profile) else 0)

    def _turn_ended(self, worker: WorkerRecord) -> None:
        self.budget.settle(worker.worker_id)

    def _worker_removed(self, worker: WorkerRecord) -> None:
        self.budget.release_worker(worker.worker_id)


_STATUSES = {status: status for status in (IDLE, BUSY, STOPPED)}


def _intent_bytes(worker: WorkerRecord | WorkerDraft) -> int:
    intent = worker.intent
    return 64 + sum(json_size(text) for text in (intent.purpose, intent.objective, intent.role))


def worker_bytes(worker: WorkerRecord | WorkerDraft) -> int:
    """What a worker's own texts charge against the store budget."""
    return WORKER_RECORD_BYTES + json_size(worker.label) + _intent_bytes(worker)
