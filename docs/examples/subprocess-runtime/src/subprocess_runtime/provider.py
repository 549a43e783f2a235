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

from registry_core import (
    WORKER_CREATED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_STARTED,
    CapacityExceeded,
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    RuntimeState,
    RuntimeStatus,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerBusy,
    WorkerFilter,
    WorkerPage,
    WorkerStopped,
)
from registry_core.blocks import EventLog, Roster, Transcript
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
        ids must never repeat across restarts (the EventLog block's rule).
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
            kind_specific={"timeout_seconds": settings.timeout_seconds, "max_output_chars": settings.max_output_chars},
        )
        self._environment = command_environment(settings.environment)
        # The building blocks keep the rules: ids never reused, list cursors
        # that survive deletes, event cursors that expire instead of skipping.
        self._workers: Roster[WorkerState] = Roster(id_prefix="sp-")
        self._events = EventLog(settings.event_retention, start_id=event_start_id)

    # -- lifecycle -------------------------------------------------------------

    async def close(self) -> None:
        """Kill every running command and wake every event waiter."""
        turns = [worker.turn for worker in self._workers if worker.turn is not None]
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
        """Workers in creation order; the opaque cursor names the last worker of the previous page."""
        workers, next_cursor = self._workers.page(cursor=cursor, limit=limit)
        return WorkerPage(self.runtime_id, tuple(w.to_model(self.runtime_id, KIND) for w in workers), next_cursor)

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """Only the workers ``worker_filter`` matches, read from the roster; the same cursors as ``list_workers``."""
        workers, next_cursor = self._workers.page(
            cursor=cursor, limit=limit, where=lambda w: worker_filter.matches(w.to_model(self.runtime_id, KIND))
        )
        return WorkerPage(self.runtime_id, tuple(w.to_model(self.runtime_id, KIND) for w in workers), next_cursor)

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker."""
        return self._workers.get(worker_id).to_model(self.runtime_id, KIND)

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
        transcript = Transcript(max_entries=self.settings.max_transcript_entries)
        worker = self._workers.add(
            lambda worker_id: WorkerState(worker_id, request.label, request.intent, DEFAULT_PROFILE, transcript)
        )
        self._events.append(WORKER_CREATED, worker.worker_id, {"profile": DEFAULT_PROFILE})
        return worker.to_model(self.runtime_id, KIND, diagnostics)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Start a turn: the command runs with the input on stdin. Never queues."""
        worker = self._workers.get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input")
        if worker.turn is not None:
            raise WorkerBusy("the worker's command is still running; wait for it or cancel it")
        if len(request.content) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.settings.max_input_chars} characters",
                details=(
                    {"path": "content", "message": f"must be at most {self.settings.max_input_chars} characters"},
                ),
            )
        worker.transcript.reserve(ENTRIES_PER_TURN, worker_id=worker_id)
        # No await from the checks above to the task below: a concurrent
        # send_input sees the turn and is refused as busy.
        role = request.kind.value
        accepted = self._events.append(
            WORKER_INPUT_ACCEPTED,
            worker_id,
            {"transcript_sequence": worker.transcript.next_sequence, "role": role, "content": request.content},
        )
        entry = worker.transcript.append(role, request.content, accepted.id)
        turn = asyncio.create_task(self._run_turn(worker, request.content), name=f"{self.runtime_id}/{worker_id} turn")
        # The callback also runs for a task cancelled before it ever started,
        # which its own body could not clean up after.
        turn.add_done_callback(lambda finished: self._turn_ended(worker, finished))
        worker.turn, worker.turn_number, worker.cancel_reason = turn, worker.turn_number + 1, "shutdown"
        self._events.append(WORKER_TURN_STARTED, worker_id, {"turn": worker.turn_number})
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, accepted.id, worker.status)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """Kill the running command, if any; the worker is idle afterwards."""
        worker = self._workers.get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped")
        changed = await self._cancel_turn(worker, "cancel")
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", changed, worker.status)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Kill the running command, if any, and refuse all further input. Idempotent."""
        worker = self._workers.get(worker_id)
        if worker.stopped:
            if worker.turn is not None:
                # A stop is in progress: answer once its command is gone.
                await asyncio.wait([worker.turn])
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, STOPPED)
        worker.stopped = True
        await self._cancel_turn(worker, "stop")
        self._events.append(WORKER_STOPPED, worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, STOPPED)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """A bounded transcript page."""
        return self._workers.get(worker_id).transcript.page(self.runtime_id, worker_id, start=start, limit=limit)

    # -- events ----------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events after ``cursor``; ``CursorExpired`` for a cursor out of the retained range."""
        if worker_id is not None:
            self._workers.get(worker_id)  # UnknownWorker for a worker this runtime does not have
        return self._events.page(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

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
                self.runtime_id,
                worker.worker_id,
                result.exit_code,
                result.stderr,
            )
        output = result.output.rstrip("\r\n")
        if output:
            sequence = worker.transcript.next_sequence
            event = self._events.append(
                WORKER_OUTPUT,
                worker.worker_id,
                {
                    "transcript_sequence": sequence,
                    "role": "assistant",
                    "content": output,
                    "truncated": result.truncated,
                },
            )
            worker.transcript.append("assistant", output, event.id)
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
        data: dict[str, object] = {"turn": worker.turn_number, "outcome": outcome, "exit_code": exit_code}
        if note is not None:
            data["transcript_sequence"] = worker.transcript.next_sequence
        completed = self._events.append(WORKER_TURN_COMPLETED, worker.worker_id, data)
        if note is not None:
            worker.transcript.append("system", note, completed.id)
        worker.turn = None

    def _turn_ended(self, worker: WorkerState, turn: asyncio.Task[None]) -> None:
        """Record a cancelled turn (cancel, stop or shutdown). Idempotent."""
        if worker.turn is not turn:
            return  # it completed and recorded itself, or was recorded already
        worker.turn = None
        event = self._events.append(
            WORKER_TURN_CANCELLED,
            worker.worker_id,
            {
                "turn": worker.turn_number,
                "reason": worker.cancel_reason,
                "transcript_sequence": worker.transcript.next_sequence,
            },
        )
        worker.transcript.append("system", "the turn was cancelled; its command was killed", event.id)

    async def _cancel_turn(self, worker: WorkerState, reason: str) -> bool:
        """Cancel the running turn and wait until its command is gone; whether this call cancelled it."""
        turn = worker.turn
        if turn is None:
            return False
        first = turn.cancelling() == 0
        if first:
            worker.cancel_reason = reason
        turn.cancel()
        await asyncio.wait([turn])
        self._turn_ended(worker, turn)
        return first


def _describe_exit(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f"the command was killed by signal {-exit_code}"
    return f"the command exited with status {exit_code}"
