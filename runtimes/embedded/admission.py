"""Admission: how many turns of one runtime run at once in this process (``max_concurrent_turns``).

An input accepted while every slot is taken does not start its turn: its
worker is claimed (``busy``: the busy rule's answers do not change) and waits
here, first come first served across workers; the input is announced with
``worker.input_queued`` (``reason: "admission"``) and, like an input queued
behind a turn, enters the transcript when its turn starts. When a turn ends
its slot goes to the worker that has waited longest; an input queued behind
the ended turn then waits for a slot behind the others, so one busy worker's
queue cannot starve the rest.

The store makes every decision here in the same step as the turn's start or
end (the store seam, decision 0110), so the count of running turns is exact.
"""

from __future__ import annotations

from runtime_registry.runtimes.embedded.turn_queue import QueuedInput

__all__ = ["Admission"]


class Admission:
    """The turn slots of one runtime and the workers waiting for one, oldest first."""

    __slots__ = ("_waiting", "running", "slots")

    def __init__(self, slots: int) -> None:
        #: How many turns may run at once.
        self.slots = slots
        #: How many run now.
        self.running = 0
        # Insertion-ordered: the first key has waited longest; a worker waits once at most.
        self._waiting: dict[str, QueuedInput] = {}

    @property
    def full(self) -> bool:
        """Whether every slot is taken (a new turn must wait)."""
        return self.running >= self.slots

    @property
    def waiting(self) -> int:
        """How many workers wait for a slot."""
        return len(self._waiting)

    def is_waiting(self, worker_id: str) -> bool:
        """Whether ``worker_id`` waits for a slot (it is claimed but runs no turn)."""
        return worker_id in self._waiting

    def wait(self, worker_id: str, waiting: QueuedInput) -> int:
        """Let ``worker_id``'s input wait for a slot; its place among the waiting workers (1: next).

        A worker that waits already keeps its place with the new input (an interrupt replaces its input).
        """
        if worker_id in self._waiting:
            self._waiting[worker_id] = waiting
            return list(self._waiting).index(worker_id) + 1
        self._waiting[worker_id] = waiting
        return len(self._waiting)

    def input_of(self, worker_id: str) -> QueuedInput | None:
        """The input ``worker_id`` waits with, or ``None`` if it does not wait."""
        return self._waiting.get(worker_id)

    def withdraw(self, worker_id: str) -> QueuedInput | None:
        """Take ``worker_id`` out of the line; its waiting input, or ``None`` if it did not wait."""
        return self._waiting.pop(worker_id, None)

    def next(self) -> tuple[str, QueuedInput] | None:
        """The worker that has waited longest and its input, out of the line, if a slot is free; else ``None``."""
        if self.full or not self._waiting:
            return None
        worker_id = next(iter(self._waiting))
        return worker_id, self._waiting.pop(worker_id)
