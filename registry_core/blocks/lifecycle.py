"""The worker lifecycle: workers whose turns run an author's function, with the contract's states, events and limits.

A kind that owns slow workers writes what a turn does — an ``async`` function
from :class:`TurnInput` to the reply text — and hands the rest to
:class:`WorkerLifecycle`:

- worker status (``idle``, ``busy``, ``stopped``) and the busy rule (input
  during a turn is ``WorkerBusy``, never queued);
- one asyncio task per turn, and the event contract's order:
  ``worker.input_accepted``, ``worker.turn_started``, ``worker.output`` (with
  the transcript entry's sequence, role and content), then exactly one end;
- cancel, stop, delete and shutdown: the running turn ends with
  ``worker.turn_cancelled`` and the reason (``cancel``, ``stop``, ``delete``,
  ``shutdown``), and a cancelled turn never takes effect afterwards (no reply
  entry, no second end), even if the turn function ignores the cancellation;
- ``worker.stopped`` and ``worker.deleted``; a deleted worker frees its
  ``max_workers`` slot and its id is never reissued (a :class:`Roster`);
- an unknown profile: refused with ``UnknownProfile`` (``unknown_profile=
  "refuse"``) or, by default, the default profile and a ``profile_fallback``
  diagnostic; input length, transcript capacity;
- a turn function that raises ends its turn with ``worker.turn_failed``
  (code ``turn_error``; the exception's text is never shown: it may hold a
  path or an upstream body).

Each operation has the name and signature of the
:class:`~registry_core.provider.RuntimeProvider` operation it implements, so
a provider delegates in one line. Call it from the event loop's thread only.

.. versionadded:: 0.4
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Final, Literal

import attrs

from registry_core.blocks.event_log import EventLog
from registry_core.blocks.roster import Roster
from registry_core.blocks.transcript import Transcript
from registry_core.errors import CapacityExceeded, InvalidRequest, UnknownProfile, WorkerBusy, WorkerStopped
from registry_core.event_contract import (
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_FAILED,
    WORKER_TURN_STARTED,
)
from registry_core.models import (
    CreateWorkerRequest,
    Diagnostic,
    Event,
    InputAccepted,
    InputRequest,
    Intent,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerPage,
)

__all__ = ["TURN_ERROR", "TurnFunction", "TurnInput", "WorkerLifecycle"]

#: The ``code`` of ``worker.turn_failed`` when the turn function raised.
TURN_ERROR: Final = "turn_error"


@attrs.frozen
class TurnInput:
    """What a turn function gets: the input that started the turn and the worker it runs for.

    :ivar worker_id: the worker.
    :ivar turn: the turn's number (1 for the worker's first).
    :ivar content: the input's text.
    :ivar role: who the input speaks as (``user`` or ``system``).
    :ivar profile: the worker's (resolved) profile.
    :ivar history: the worker's transcript before this input, oldest first.
    """

    worker_id: str
    turn: int
    content: str
    role: str
    profile: str
    history: tuple[TranscriptEntry, ...]


#: An author's turn: the reply text, or ``None`` for a turn that ends without one.
TurnFunction = Callable[[TurnInput], Awaitable["str | None"]]


class _Worker:
    """One worker's state (the lifecycle's own; clients see :class:`~registry_core.models.Worker`)."""

    __slots__ = ("created_at", "diagnostics", "intent", "label", "profile", "stopped", "task", "transcript", "turns")

    def __init__(
        self,
        label: str | None,
        intent: Intent | None,
        profile: str,
        diagnostics: tuple[Diagnostic, ...],
        entries: int | None,
    ) -> None:
        self.label = label
        self.intent = intent
        self.profile = profile
        self.diagnostics = diagnostics
        self.created_at = datetime.now(UTC)
        self.transcript = Transcript(max_entries=entries)
        self.task: asyncio.Task[None] | None = None  # the running turn
        self.turns = 0
        self.stopped = False

    @property
    def status(self) -> str:
        return "stopped" if self.stopped else "busy" if self.task is not None else "idle"


class WorkerLifecycle:
    """Workers, their turns and their control, for one runtime.

    :param runtime_id: the runtime's id (as the provider's).
    :param kind: the kind name, shown in every :class:`~registry_core.models.Worker`.
    :param events: the runtime's :class:`EventLog`; every event goes there.
    :param turn: the author's turn function (see :data:`TurnFunction`).
    :param profiles: the profile names the kind has; the first is the default.
    :param max_workers: how many workers may exist at once (``None``: no limit); deleting frees a slot.
    :param max_input_chars: the longest input, in characters (``None``: no limit).
    :param max_entries: the most transcript entries per worker (``None``: no limit).
    :param id_prefix: what worker ids start with (see :class:`Roster`).
    :param unknown_profile: what a create naming a profile the kind lacks
        gets: ``"fallback"`` (the default, as before 0.4) the default profile
        and a ``profile_fallback`` diagnostic; ``"refuse"`` an
        :class:`~registry_core.errors.UnknownProfile` naming the closest
        profiles (what the embedded kind does since 0.4).
    """

    def __init__(
        self,
        runtime_id: str,
        kind: str,
        events: EventLog,
        *,
        turn: TurnFunction,
        profiles: Sequence[str] = ("default",),
        max_workers: int | None = None,
        max_input_chars: int | None = None,
        max_entries: int | None = None,
        id_prefix: str = "w-",
        unknown_profile: Literal["fallback", "refuse"] = "fallback",
    ) -> None:
        if not profiles:
            raise ValueError("profiles must name at least one profile (the first is the default)")
        if unknown_profile not in ("fallback", "refuse"):
            raise ValueError("unknown_profile must be 'fallback' or 'refuse'")
        self.unknown_profile = unknown_profile
        self.runtime_id = runtime_id
        self.kind = kind
        self.events = events
        self.turn = turn
        self.profiles = tuple(profiles)
        self.max_workers = max_workers
        self.max_input_chars = max_input_chars
        self.max_entries = max_entries
        self.roster: Roster[tuple[str, _Worker]] = Roster(id_prefix=id_prefix)

    # -- reading -------------------------------------------------------------------

    def model(self, worker_id: str) -> Worker:
        """The worker as clients see it.

        :raises UnknownWorker: no such worker.
        """
        return self._model(worker_id, self._get(worker_id))

    def _model(self, worker_id: str, worker: _Worker) -> Worker:
        return Worker(
            runtime_id=self.runtime_id,
            worker_id=worker_id,
            kind=self.kind,
            label=worker.label,
            status=worker.status,
            profile=worker.profile,
            intent=worker.intent,
            created_at=worker.created_at,
            transcript_length=len(worker.transcript),
            diagnostics=worker.diagnostics,
        )

    def _get(self, worker_id: str) -> _Worker:
        return self.roster.get(worker_id)[1]

    async def get_worker(self, worker_id: str) -> Worker:
        """``RuntimeProvider.get_worker``."""
        return self.model(worker_id)

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """``RuntimeProvider.list_workers``: creation order, cursors that survive deletes."""
        found, next_cursor = self.roster.page(cursor=cursor, limit=limit)
        return WorkerPage(self.runtime_id, tuple(self._model(*item) for item in found), next_cursor)

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """``RuntimeProvider.filter_workers``: the matching workers, read from the roster; the same cursors.

        .. versionadded:: 0.4
        """

        def matches(item: tuple[str, _Worker]) -> bool:
            return worker_filter.admits(item[1].status, item[1].profile, item[1].label)

        found, next_cursor = self.roster.page(cursor=cursor, limit=limit, where=matches)
        return WorkerPage(self.runtime_id, tuple(self._model(*item) for item in found), next_cursor)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """``RuntimeProvider.read_transcript``."""
        return self._get(worker_id).transcript.page(self.runtime_id, worker_id, start=start, limit=limit)

    # -- creating and input ----------------------------------------------------------

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """``RuntimeProvider.create_worker``: an unknown profile falls back to the default, with a diagnostic
        (or is refused, with ``unknown_profile="refuse"``).

        :raises UnknownProfile: an unknown profile, with ``unknown_profile="refuse"``.
        :raises CapacityExceeded: ``max_workers`` workers exist.
        :raises InvalidRequest: the request asks for capabilities (this lifecycle grants none).
        """
        if request.capabilities:
            raise InvalidRequest(
                f"{self.kind} workers have no capabilities to grant",
                details=tuple(
                    {"path": f"capabilities[{index}]", "message": "not available in this runtime"}
                    for index in range(len(request.capabilities))
                ),
            )
        profile = self.profiles[0]
        diagnostics: tuple[Diagnostic, ...] = ()
        data: dict[str, str] = {"profile": profile}
        if request.profile in self.profiles:
            profile = data["profile"] = request.profile
        elif request.profile is not None:
            if self.unknown_profile == "refuse":
                raise UnknownProfile.among(request.profile, self.profiles)
            diagnostics = (
                Diagnostic.warning(
                    "profile_fallback", f"no profile {request.profile!r} in this runtime; using {profile!r}"
                ),
            )
            data["requested_profile"] = request.profile
        if self.max_workers is not None and len(self.roster) >= self.max_workers:
            raise CapacityExceeded(f"this runtime holds at most {self.max_workers} workers")
        worker_id, worker = self.roster.add(
            lambda new_id: (new_id, _Worker(request.label, request.intent, profile, diagnostics, self.max_entries))
        )
        self.events.append(WORKER_CREATED, worker_id, data)
        return self._model(worker_id, worker)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """``RuntimeProvider.send_input``: record the input and start a turn that runs the turn function.

        :raises WorkerStopped: the worker is stopped.
        :raises WorkerBusy: a turn is running (the input is not queued).
        :raises InvalidRequest: the input is longer than ``max_input_chars``.
        :raises CapacityExceeded: the transcript has no room for the input and a reply.
        """
        worker = self._get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input", worker_id=worker_id)
        if worker.task is not None:
            raise WorkerBusy("the worker is in a turn; send input when it is idle", worker_id=worker_id)
        content, role = request.content, request.kind.value
        if self.max_input_chars is not None and len(content) > self.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.max_input_chars} characters",
                details=({"path": "content", "message": f"must be at most {self.max_input_chars} characters"},),
            )
        worker.transcript.reserve(2, worker_id=worker_id)
        history, _ = worker.transcript.entries(start=1, limit=len(worker.transcript))
        entry, accepted = self._record(worker_id, worker, WORKER_INPUT_ACCEPTED, role, content)
        worker.turns += 1
        self.events.append(WORKER_TURN_STARTED, worker_id, {"turn": worker.turns})
        turn = TurnInput(worker_id, worker.turns, content, role, worker.profile, history)
        worker.task = asyncio.get_running_loop().create_task(self._run(worker_id, worker, turn))
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, accepted.id, "busy")

    def _record(
        self, worker_id: str, worker: _Worker, event_type: str, role: str, content: str
    ) -> tuple[TranscriptEntry, Event]:
        """Announce a transcript entry (sequence, role, content), then add it with the event's id."""
        data = {"transcript_sequence": worker.transcript.next_sequence, "role": role, "content": content}
        event = self.events.append(event_type, worker_id, data)
        return worker.transcript.append(role, content, event.id), event

    async def _run(self, worker_id: str, worker: _Worker, turn: TurnInput) -> None:
        task = asyncio.current_task()
        try:
            reply = await self.turn(turn)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The text may hold a path or an upstream body: only the code is shown.
            if worker.task is task:
                worker.task = None
                self.events.append(WORKER_TURN_FAILED, worker_id, {"turn": turn.turn, "code": TURN_ERROR})
            return
        # A turn that was cancelled (and ignored it) or whose worker ended takes no effect.
        if worker.task is not task:
            return
        worker.task = None
        if reply is not None:
            self._record(worker_id, worker, WORKER_OUTPUT, "assistant", reply)
        self.events.append(WORKER_TURN_COMPLETED, worker_id, {"turn": turn.turn})

    # -- control ------------------------------------------------------------------------

    async def _end_turn(self, worker_id: str, worker: _Worker, reason: str) -> bool:
        """End the running turn with ``worker.turn_cancelled`` and ``reason``; ``False`` if none runs."""
        task = worker.task
        if task is None:
            return False
        # The turn is over from here: the task finds it is no longer the worker's and takes no effect.
        worker.task = None
        self.events.append(WORKER_TURN_CANCELLED, worker_id, {"turn": worker.turns, "reason": reason})
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task])
        return True

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """``RuntimeProvider.cancel_worker``: end the running turn (reason ``cancel``); the worker stays.

        :raises WorkerStopped: the worker is stopped.
        """
        worker = self._get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped", worker_id=worker_id)
        changed = await self._end_turn(worker_id, worker, "cancel")
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", changed, worker.status)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """``RuntimeProvider.stop_worker``: end the running turn (reason ``stop``), stop for good; idempotent."""
        return await self._stop(worker_id, self._get(worker_id), "stop")

    async def _stop(self, worker_id: str, worker: _Worker, reason: str) -> WorkerActionResult:
        if worker.stopped:
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, "stopped")
        worker.stopped = True  # before the turn ends: no input slips in while it does
        await self._end_turn(worker_id, worker, reason)
        self.events.append(WORKER_STOPPED, worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, "stopped")

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """``RuntimeProvider.delete_worker``: end the turn (reason ``delete``), stop, forget; frees a ``max_workers`` slot."""
        worker = self._get(worker_id)
        await self._stop(worker_id, worker, "delete")
        self.roster.remove(worker_id)
        self.events.append(WORKER_DELETED, worker_id, {})
        self.events.forget_worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")

    async def close(self) -> None:
        """Shutdown: end every running turn (reason ``shutdown``), then close the event log (wakes every waiter)."""
        for worker_id, worker in list(self.roster):
            await self._end_turn(worker_id, worker, "shutdown")
        self.events.close()
