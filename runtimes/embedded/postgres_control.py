"""Turn control on PostgreSQL: ``if_busy`` enqueue and interrupt, queues and admission across replicas (decision 0184).

The decisions are the server-side functions of schema version 5
(:mod:`.postgres_control_schema`); this module calls them and reads their
answers. :class:`PgControl` is the replica's side of those calls;
:class:`QueueView` is what its cache knows of the waiting inputs, kept from
the event feed like everything else in the cache (decision 0135).

A function that starts turns from waiting inputs (a turn's end handing its
slot on, a cancel keeping the queue, a lost replica's turns ended) answers
them, and the replica that made the decision runs them: they are added to
:attr:`PgStore.started <.postgres_store.PgStore.started>`, which the store
hands to the runtime after replaying the decision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from registry_core.errors import QueueFull, RuntimeUnavailable
from registry_core.event_contract import (
    TURN_ENDS,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_INPUT_DROPPED,
    WORKER_INPUT_QUEUED,
    WORKER_STOPPED,
)
from registry_core.models import Event
from runtime_registry.runtimes.embedded.workers import BUSY, IDLE, STOPPED, WorkerRecord

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.postgres_store import PgStore

__all__ = [
    "ControlAnswer",
    "NewInput",
    "PgControl",
    "orphaned_turns",
    "QueueView",
    "StartedTurn",
    "WaitingInput",
    "refusal",
    "started_turns",
]


@attrs.frozen
class StartedTurn:
    """A turn a decision of this replica started from a waiting input: this replica runs it."""

    worker_id: str
    turn: int
    sequence: int
    role: str
    content: str
    event_id: int


@attrs.frozen
class NewInput:
    """An input to decide, with the limits the database checks it against.

    :ivar max_entries: the runtime's ``max_transcript_entries``.
    :ivar per_turn: the entries a turn of the worker's profile adds at most (room checked per turn).
    :ivar max_turns: the runtime's ``max_concurrent_turns``.
    """

    role: str
    content: str
    max_entries: int
    per_turn: int
    max_turns: int


@attrs.frozen
class WaitingInput:
    """An input that waits (behind its worker's turn, or for a turn slot): its ``worker.input_queued`` id and place."""

    event_id: int
    place: int


@attrs.frozen
class ControlAnswer:
    """What a turn-control function decided.

    :ivar outcome: ``accepted``, ``queued``, ``done``, ``failed``, or why it refused
        (``unknown``, ``stopped``, ``full``, ``queue_full``, ``lapsed``, ``lost``).
    :ivar event_id: the input's event (``worker.input_accepted`` or ``worker.input_queued``); 0: none.
    """

    outcome: str
    changed: bool = False
    turn: int = 0
    sequence: int = 0
    place: int | None = None
    waiting: int = 0
    event_id: int = 0
    events: tuple[Event, ...] = ()
    #: The replica whose turn the decision ended, if any.
    owner: str | None = None


def _items(started: object) -> list[Any]:
    """The objects of a function's ``started`` JSON (asyncpg hands ``jsonb`` over as text)."""
    if isinstance(started, str):
        return list(json.loads(started))
    return list(started) if isinstance(started, list) else []


def started_turns(started: object, numbered: Mapping[int, Event]) -> list[StartedTurn]:
    """The turns a function reported in its ``started`` JSON, with their ``worker.input_accepted`` ids."""
    return [
        StartedTurn(
            str(item["worker_id"]),
            int(item["turn"]),
            int(item["sequence"]),
            str(item["role"]),
            str(item["content"]),
            numbered[int(item["seq"])].id,
        )
        for item in _items(started)
    ]


def orphaned_turns(started: object) -> list[tuple[str, int]]:
    """``(worker_id, turn)`` of the turns in a function's ``started`` JSON (when their events could not be numbered)."""
    return [(str(item["worker_id"]), int(item["turn"])) for item in _items(started)]


class PgControl:
    """A replica's calls of the turn-control functions (one round trip each, plus the numbering of their events).

    :param db: the replica's handle on the database.
    """

    def __init__(self, db: PgStore) -> None:
        self.db = db

    async def _call(self, sql: str, *args: Any) -> tuple[Any, dict[int, Event]]:
        """Run one function; its row and its events by ``seq`` (numbered). Started turns go to ``db.started``."""
        db = self.db
        row = await db._fetchrow(sql, *args)
        seqs = list(row["seqs"] or ())
        numbered: dict[int, Event] = {}
        started = row.get("started")
        if seqs:
            try:
                events = await db._number(seqs)
            except RuntimeUnavailable:
                # Committed, but not confirmed: the turns it started are owed a failure (no task runs them).
                db.orphaned.extend(orphaned_turns(started))
                raise
            numbered = dict(zip(seqs, events, strict=True))
        if started is not None:
            db.started.extend(started_turns(started, numbered))
        return row, numbered

    async def _input(self, function: str, worker_id: str, new: NewInput, last: object) -> ControlAnswer:
        """An input decision by ``function`` (its last argument ``last``); a replica whose lease lapsed renews
        it and decides again (as ``accept_input``)."""
        sql = f"SELECT * FROM {function}($1, $2, $3, $4, $5, $6, $7, $8)"
        args = (
            worker_id,
            self.db.replica_id,
            new.role,
            new.content,
            new.max_entries,
            new.per_turn,
            new.max_turns,
            last,
        )
        for _ in range(2):
            row, numbered = await self._call(sql, *args)
            if row["outcome"] != "lapsed":
                break
            await self.db.renew_lease()
        main = row["main_seq"]
        return ControlAnswer(
            row["outcome"],
            turn=row["turn"] or 0,
            sequence=row["sequence"] or 0,
            place=row["place"],
            waiting=row.get("waiting") or 0,
            event_id=numbered[main].id if main is not None else 0,
            events=tuple(numbered.values()),
        )

    async def enqueue(self, worker_id: str, new: NewInput, *, max_queued: int) -> ControlAnswer:
        """``if_busy: "enqueue"``: accepted (idle), queued (behind the turn or for a slot), or refused."""
        return await self._input("enqueue_input", worker_id, new, max_queued)

    async def interrupt(self, worker_id: str, new: NewInput) -> ControlAnswer:
        """``if_busy: "interrupt"``: the running turn (on any replica) ends and this input's turn starts here."""
        return await self._input("interrupt_input", worker_id, new, self.db.channel)

    async def end_worker(
        self,
        worker_id: str,
        *,
        reason: str,
        keep: bool = False,
        stop: bool = False,
        delete: bool = False,
        stopped_data: Mapping[str, object] | None = None,
        max_entries: int,
        max_turns: int,
    ) -> ControlAnswer:
        """Cancel (``keep``: the queue stays and goes on), stop or delete the worker; the freed slot is handed out."""
        row, numbered = await self._call(
            "SELECT * FROM end_worker($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)",
            worker_id,
            self.db.replica_id,
            reason,
            keep,
            stop,
            delete,
            json.dumps(dict(stopped_data or {})),
            max_entries,
            max_turns,
            self.db.channel,
        )
        return ControlAnswer(
            row["outcome"],
            changed=bool(row["changed"]),
            turn=row["turn"] or 0,
            events=tuple(numbered.values()),
            owner=row["prior_owner"],
        )

    async def fail_turn(
        self, worker_id: str, turn: int, data: Mapping[str, object], *, max_entries: int, max_turns: int
    ) -> ControlAnswer:
        """``worker.turn_failed`` for a turn this replica runs (``lost``: it is not its turn any more)."""
        row, numbered = await self._call(
            "SELECT * FROM fail_turn($1, $2, $3, $4::jsonb, $5, $6, $7)",
            worker_id,
            self.db.replica_id,
            turn,
            json.dumps(dict(data), ensure_ascii=False),
            max_entries,
            max_turns,
            self.db.channel,
        )
        return ControlAnswer(row["outcome"], events=tuple(numbered.values()))

    async def end_lost_turns(self, *, max_entries: int, max_turns: int) -> list[Event]:
        """End the turns of replicas whose lease expired (``replica_lost``); what waited behind them goes on here."""
        _, numbered = await self._call(
            "SELECT * FROM end_lost_turns($1, $2, $3, $4, $5)",
            self.db.replica_id,
            float(self.db.lease_seconds),
            max_entries,
            max_turns,
            self.db.channel,
        )
        return list(numbered.values())


def refusal(answer: ControlAnswer, worker_id: str, max_entries: int) -> Exception | None:
    """The typed error of a refused input decision, or ``None`` when it was taken."""
    if answer.outcome in ("accepted", "queued"):
        return None
    if answer.outcome == "queue_full":
        return QueueFull(
            f"the worker is in a turn and {answer.waiting} inputs already wait (max_queued_inputs)", worker_id=worker_id
        )
    from runtime_registry.runtimes.embedded.postgres_store import _refusal

    return _refusal(answer.outcome, worker_id, max_entries)


class QueueView:
    """The waiting inputs a replica's cache knows of, by worker: kept from the replayed events.

    It gives the cache the statuses memory and SQLite show: a worker whose
    input waits for a turn slot is ``busy`` (and ``waiting``), including one
    whose queued input moved into the admission line when its turn ended
    (no event says so: it was announced when queued).
    """

    __slots__ = ("queues", "waiting")

    def __init__(self) -> None:
        #: The ``worker.input_queued`` ids waiting behind each worker's turn, oldest first.
        self.queues: dict[str, list[int]] = {}
        #: The id each worker waits for a turn slot with.
        self.waiting: dict[str, int] = {}

    def load(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """Start from a snapshot's ``(worker_id, reason, queued event id)`` rows, in place order."""
        self.queues.clear()
        self.waiting.clear()
        for worker_id, reason, event_id in rows:
            if reason == "admission":
                self.waiting[worker_id] = event_id
            else:
                self.queues.setdefault(worker_id, []).append(event_id)

    def apply(self, worker: WorkerRecord, event: Event) -> None:
        """Follow one replayed event of ``worker`` (after the cache applied its status rules)."""
        kind = event.type
        worker_id = worker.worker_id
        if kind == WORKER_INPUT_QUEUED:
            if event.data.get("reason") == "admission":
                self.waiting[worker_id] = event.id
            else:
                self.queues.setdefault(worker_id, []).append(event.id)
        elif kind in (WORKER_INPUT_ACCEPTED, WORKER_INPUT_DROPPED):
            queued = event.data.get("queued_event_id")
            if isinstance(queued, int):
                self._forget(worker_id, queued)
            if kind == WORKER_INPUT_ACCEPTED:
                worker.waiting = False
        elif kind == WORKER_DELETED:
            self.queues.pop(worker_id, None)
            self.waiting.pop(worker_id, None)
            return
        elif kind not in TURN_ENDS and kind != WORKER_STOPPED:
            return
        self._settle(worker)

    def counts(self) -> tuple[int, int]:
        """``(workers waiting for a turn slot, inputs queued behind their worker's turn)``, as replayed."""
        return len(self.waiting), sum(len(queue) for queue in self.queues.values())

    def _forget(self, worker_id: str, queued: int) -> None:
        if self.waiting.get(worker_id) == queued:
            del self.waiting[worker_id]
            return
        queue = self.queues.get(worker_id)
        if queue and queued in queue:
            queue.remove(queued)
            if not queue:
                del self.queues[worker_id]

    def _settle(self, worker: WorkerRecord) -> None:
        """A worker that runs no turn is busy while an input of it waits, idle otherwise."""
        if worker.status is STOPPED:
            worker.waiting = False
            return
        if worker.status is BUSY and not worker.waiting:
            return  # in a turn
        worker_id = worker.worker_id
        if worker_id in self.waiting or self.queues.get(worker_id):
            worker.status, worker.waiting = BUSY, True
        else:
            worker.status, worker.waiting = IDLE, False
