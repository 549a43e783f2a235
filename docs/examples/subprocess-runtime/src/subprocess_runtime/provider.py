"""The ``subprocess`` runtime kind: every input runs the operator's command once.

A turn writes the input to the command's stdin and puts what it prints on
stdout into the transcript as an ``assistant`` entry. A non-zero exit, a
timeout, cut output or a cancellation is a ``system`` entry that says what
happened in words of our own — never the command's stderr, which tends to
name files and hosts (it goes to the server log instead).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    InvalidCursor,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    RuntimeState,
    RuntimeStatus,
    TranscriptPage,
    UnknownWorker,
    Worker,
    WorkerActionResult,
    WorkerBusy,
    WorkerPage,
    WorkerStopped,
)

from subprocess_runtime.events import EventLog
from subprocess_runtime.process import CommandResult, command_environment, command_is_available, run_command
from subprocess_runtime.settings import ENTRIES_PER_TURN, SubprocessSettings
from subprocess_runtime.workers import STOPPED, WorkerState

__all__ = ["SubprocessProvider", "KIND", "DEFAULT_PROFILE"]

log = logging.getLogger("subprocess_runtime")

#: The kind name, as registered and as put in every worker.
KIND = "subprocess"
#: The only profile: "run the configured command".
DEFAULT_PROFILE = "default"


class SubprocessProvider(RuntimeProvider):
    """One ``subprocess`` runtime: workers that each run the configured command per input."""

    kind = KIND

    def __init__(self, runtime_id: str, settings: SubprocessSettings, *, event_start_id: int | None = None) -> None:
        """``event_start_id`` is the first event's id; ``None`` (what the server uses) starts at the clock.

        Tests pass 1 to reason about small ids; nothing else should, since
        ids must never repeat across restarts (see ``events.py``).
        """
        super().__init__(runtime_id)
        self.settings = settings
        self.limits = RuntimeLimits(
            worker_page_max=settings.worker_page_max,
            transcript_page_max=settings.transcript_page_max,
            event_page_max=settings.event_page_max,
            max_workers=settings.max_workers,
            max_transcript_entries=settings.max_transcript_entries,
            max_input_chars=settings.max_input_chars,
            event_retention=settings.event_retention,
        )
        self._environment = command_environment(settings.environment)
        self._workers: dict[str, WorkerState] = {}
        self._order: list[str] = []
        self._events = EventLog(settings.event_retention, start_id=event_start_id)

    # -- lifecycle -------------------------------------------------------------

    async def close(self) -> None:
        """Kill every running command and wake every event waiter."""
        turns = [worker.turn for worker in self._workers.values() if worker.turn is not None]
        for turn in turns:
            turn.cancel()
        if turns:
            await asyncio.wait(turns)
        self._events.close()

    async def describe(self) -> RuntimeState:
        """``degraded`` while the configured program cannot be found; ``running`` otherwise."""
        if not command_is_available(self.settings.command, self._environment):
            # Checked on every describe, so installing the program heals the
            # runtime without a restart. The message names no path on purpose.
            return RuntimeState(
                RuntimeStatus.DEGRADED,
                (Diagnostic.error("command_not_found", "the configured command's program was not found"),),
            )
        return RuntimeState()

    # -- workers ---------------------------------------------------------------

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """Workers in creation order; the cursor is the id of the last worker of the previous page."""
        start = 0
        if cursor is not None:
            if cursor not in self._workers:
                raise InvalidCursor("cursor is not one this runtime issued")
            start = self._order.index(cursor) + 1
        ids = self._order[start : start + limit]
        more = start + limit < len(self._order)
        items = tuple(self._workers[worker_id].to_model(self.runtime_id, KIND) for worker_id in ids)
        return WorkerPage(self.runtime_id, items, ids[-1] if more and ids else None)

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker."""
        return self._worker(worker_id).to_model(self.runtime_id, KIND)

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """A new idle worker. Workers run only the configured command, so they grant no capabilities."""
        if request.capabilities:
            raise InvalidRequest(
                "this runtime grants no capabilities: its workers run the operator's configured command",
                details=tuple(
                    {"path": f"capabilities[{index}]", "message": "not available in this runtime"}
                    for index in range(len(request.capabilities))
                ),
            )
        if len(self._workers) >= self.settings.max_workers:
            raise CapacityExceeded(f"this runtime holds at most {self.settings.max_workers} workers")
        diagnostics: tuple[Diagnostic, ...] = ()
        if request.profile not in (None, DEFAULT_PROFILE):
            diagnostics = (
                Diagnostic.warning(
                    "profile_fallback",
                    f"this runtime has one profile, {DEFAULT_PROFILE!r}, which runs the configured command",
                ),
            )
        worker = WorkerState(self._new_worker_id(), request.label, request.intent, DEFAULT_PROFILE)
        self._workers[worker.worker_id] = worker
        self._order.append(worker.worker_id)
        self._events.append("worker.created", worker.worker_id, {"profile": DEFAULT_PROFILE})
        return worker.to_model(self.runtime_id, KIND, diagnostics)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Start a turn: the command runs with the input on stdin. Never queues."""
        worker = self._worker(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input")
        if worker.turn is not None:
            raise WorkerBusy("the worker's command is still running; wait for it or cancel it")
        if len(request.content) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.settings.max_input_chars} characters",
                details=({"path": "content", "message": f"must be at most {self.settings.max_input_chars} characters"},),
            )
        if len(worker.transcript) + ENTRIES_PER_TURN > self.settings.max_transcript_entries:
            raise CapacityExceeded("the worker's transcript is full")
        # No await from the checks above to the task below: a concurrent
        # send_input sees the turn and is refused as busy.
        role = request.kind.value
        accepted = self._events.append(
            "worker.input_accepted", worker_id, {"transcript_sequence": worker.next_sequence, "kind": role}
        )
        entry = worker.add_entry(role, request.content, accepted.id)
        turn = asyncio.create_task(self._run_turn(worker, request.content), name=f"{self.runtime_id}/{worker_id} turn")
        # The callback also runs for a task cancelled before it ever started,
        # which its own body could not clean up after.
        turn.add_done_callback(lambda finished: self._turn_ended(worker, finished))
        worker.turn = turn
        self._events.append("worker.turn_started", worker_id, {})
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, accepted.id, worker.status)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """Kill the running command, if any; the worker is idle afterwards."""
        worker = self._worker(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped")
        changed = await self._cancel_turn(worker)
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", changed, worker.status)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Kill the running command, if any, and refuse all further input. Idempotent."""
        worker = self._worker(worker_id)
        if worker.stopped:
            if worker.turn is not None:
                # A stop is in progress: answer once its command is gone.
                await asyncio.wait([worker.turn])
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, STOPPED)
        worker.stopped = True
        await self._cancel_turn(worker)
        self._events.append("worker.stopped", worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, STOPPED)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """A bounded transcript page."""
        return self._worker(worker_id).page(self.runtime_id, start=start, limit=limit)

    # -- events ----------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events after ``cursor``; ``CursorExpired`` for a cursor out of the retained range."""
        if worker_id is not None:
            self._worker(worker_id)
        events, next_cursor, has_more = self._events.read(cursor=cursor, limit=limit, worker_id=worker_id)
        return EventPage(self.runtime_id, tuple(events), next_cursor, has_more)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait for an event after ``cursor``; returns ``False`` at once after :meth:`close`."""
        return await self._events.wait(cursor=cursor, timeout=timeout)

    # -- turns -------------------------------------------------------------------

    async def _run_turn(self, worker: WorkerState, content: str) -> None:
        """Run the command for one input and record how it went."""
        try:
            result = await run_command(
                self.settings.command,
                content,
                environment=self._environment,
                timeout=self.settings.timeout_seconds,
                max_output_chars=self.settings.max_output_chars,
            )
        except OSError:
            log.exception("runtime %r worker %r: the command could not be started", self.runtime_id, worker.worker_id)
            self._complete_turn(worker, "not_started", None, "the command could not be started")
        except Exception:
            # A bug must not leave the worker busy for ever; the log has it.
            log.exception("runtime %r worker %r: the turn failed", self.runtime_id, worker.worker_id)
            self._complete_turn(worker, "error", None, "the turn failed")
        else:
            self._record_result(worker, result)

    def _record_result(self, worker: WorkerState, result: CommandResult) -> None:
        if result.exit_code not in (0, None) and result.stderr:
            log.warning(
                "runtime %r worker %r: the command exited with %s; stderr begins: %r",
                self.runtime_id, worker.worker_id, result.exit_code, result.stderr,
            )
        output = result.output.rstrip("\r\n")
        if output:
            event = self._events.append(
                "worker.output",
                worker.worker_id,
                {"transcript_sequence": worker.next_sequence, "chars": len(output), "truncated": result.truncated},
            )
            worker.add_entry("assistant", output, event.id)
        notes = []
        if result.timed_out:
            outcome = "timed_out"
            notes.append(f"the command ran longer than {self.settings.timeout_seconds:g} s and was killed")
        elif result.exit_code == 0:
            outcome = "succeeded"
        else:
            outcome = "failed"
            notes.append(_describe_exit(result.exit_code))
        if result.truncated:
            notes.append(f"its output was cut at {self.settings.max_output_chars} characters")
        self._complete_turn(worker, outcome, result.exit_code, "; ".join(notes) or None)

    def _complete_turn(self, worker: WorkerState, outcome: str, exit_code: int | None, note: str | None) -> None:
        """Emit ``worker.turn_completed``, add the ``system`` note if any, and make the worker idle."""
        data: dict[str, object] = {"outcome": outcome, "exit_code": exit_code}
        if note is not None:
            data["transcript_sequence"] = worker.next_sequence
        completed = self._events.append("worker.turn_completed", worker.worker_id, data)
        if note is not None:
            worker.add_entry("system", note, completed.id)
        worker.turn = None

    def _turn_ended(self, worker: WorkerState, turn: asyncio.Task[None]) -> None:
        """Record a cancelled turn (cancel, stop or shutdown). Idempotent."""
        if worker.turn is not turn:
            return  # it completed and recorded itself, or was recorded already
        worker.turn = None
        event = self._events.append(
            "worker.turn_cancelled", worker.worker_id, {"transcript_sequence": worker.next_sequence}
        )
        worker.add_entry("system", "the turn was cancelled; its command was killed", event.id)

    async def _cancel_turn(self, worker: WorkerState) -> bool:
        """Cancel the running turn and wait until its command is gone; whether this call cancelled it."""
        turn = worker.turn
        if turn is None:
            return False
        first = turn.cancelling() == 0
        turn.cancel()
        await asyncio.wait([turn])
        self._turn_ended(worker, turn)
        return first

    # -- plumbing ----------------------------------------------------------------

    def _worker(self, worker_id: str) -> WorkerState:
        try:
            return self._workers[worker_id]
        except KeyError:
            raise UnknownWorker("no such worker in this runtime") from None

    def _new_worker_id(self) -> str:
        # Opaque, unguessable, and made only of id characters.
        while (worker_id := f"sp-{secrets.token_hex(6)}") in self._workers:
            continue
        return worker_id


def _describe_exit(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f"the command was killed by signal {-exit_code}"
    return f"the command exited with status {exit_code}"
