"""Inputs waiting for their turn: each worker's queue (``if_busy: "enqueue"``; decision 0190).

A queued input is not in the transcript: it enters it, with
``worker.input_accepted`` (carrying ``queued_event_id``) and
``worker.turn_started``, when the turn before it ends — in the same decision
as that end, so an input sent meanwhile with ``if_busy: "reject"`` still
finds the worker busy and never jumps the queue. Until then it is the
``worker.input_queued`` event (with its content) and an entry here.

A queue is non-empty only while its worker is in a turn. It lives in this
process's memory: a durable store keeps the ``worker.input_queued`` events,
and the next run drops each input that had not started (``worker.input_dropped``,
``reason: "restart"``), as it interrupts the turn that was running (decision 0086).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import attrs

from registry_core.event_contract import (
    TURN_ENDS,
    WORKER_INPUT_ACCEPTED,
    WORKER_INPUT_DROPPED,
    WORKER_INPUT_QUEUED,
)
from registry_core.models import Event

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.store import Accepted
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["Queued", "QueuedInput", "Started", "TurnQueues", "ended_turns", "unstarted_inputs"]


@attrs.frozen
class QueuedInput:
    """One waiting input: who speaks, what, and the id of its ``worker.input_queued`` event."""

    role: str
    content: str
    event_id: int


@attrs.frozen
class Queued:
    """The answer to an enqueued input: its ``worker.input_queued`` event id and its place (1: next)."""

    event_id: int
    position: int


@attrs.frozen
class Started:
    """A waiting input whose turn the store started (a turn before it ended); the runtime runs it."""

    worker: WorkerRecord
    accepted: Accepted
    role: str
    content: str


class TurnQueues:
    """The waiting inputs of every worker that has any, by worker id, oldest first."""

    __slots__ = ("_queues",)

    def __init__(self) -> None:
        self._queues: dict[str, deque[QueuedInput]] = {}

    def __len__(self) -> int:
        """How many inputs wait, across workers."""
        return sum(len(queue) for queue in self._queues.values())

    def length(self, worker_id: str) -> int:
        """How many inputs wait for ``worker_id``."""
        queue = self._queues.get(worker_id)
        return len(queue) if queue is not None else 0

    def push(self, worker_id: str, waiting: QueuedInput) -> int:
        """Add ``waiting`` at the end of the worker's queue; its place (1: next)."""
        queue = self._queues.setdefault(worker_id, deque())
        queue.append(waiting)
        return len(queue)

    def pop(self, worker_id: str) -> QueuedInput | None:
        """The worker's next input, taken out of its queue; ``None`` when none waits."""
        queue = self._queues.get(worker_id)
        if not queue:
            return None
        waiting = queue.popleft()
        if not queue:
            del self._queues[worker_id]
        return waiting

    def take_all(self, worker_id: str) -> tuple[QueuedInput, ...]:
        """Every input waiting for the worker, oldest first; its queue is empty afterwards."""
        queue = self._queues.pop(worker_id, None)
        return tuple(queue) if queue else ()

    def __iter__(self) -> Iterator[str]:
        """The ids of the workers with waiting inputs."""
        return iter(list(self._queues))


def unstarted_inputs(events: Iterable[Event]) -> list[Event]:
    """The ``worker.input_queued`` events among ``events`` whose input neither started nor was dropped, oldest first.

    What a durable store's next run drops: the queue itself lived in the
    process that ended. Only the retained events can be seen.
    """
    waiting: dict[int, Event] = {}
    for event in events:
        if event.type == WORKER_INPUT_QUEUED:
            waiting[event.id] = event
        elif event.type in (WORKER_INPUT_ACCEPTED, WORKER_INPUT_DROPPED):
            queued = event.data.get("queued_event_id")
            if isinstance(queued, int):
                waiting.pop(queued, None)
    return list(waiting.values())


def ended_turns(events: Iterable[Event]) -> set[tuple[str, int]]:
    """``(worker_id, turn)`` of every turn whose end event is among ``events``.

    A worker a durable store kept ``busy`` whose last turn had ended was
    waiting for a turn slot (admission) when the run ended: no turn of it was
    running, so the next run has no turn to interrupt.
    """
    return {
        (event.worker_id, turn)
        for event in events
        if event.type in TURN_ENDS and event.worker_id is not None and isinstance(turn := event.data.get("turn"), int)
    }
