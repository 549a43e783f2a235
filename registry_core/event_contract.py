"""The event contract: which events every runtime kind emits, what their ``data`` holds, and in what order.

A kind emits :class:`~registry_core.models.Event` objects whose ``type`` is one
of the constants below and whose ``data`` has (at least) the fields of that
type's data model. Kinds may add fields of their own to ``data`` (the
``subprocess`` example adds ``exit_code``), and types of their own named
``KIND.something`` (never ``worker.*``, which is the contract's namespace).

**Required of every kind** (where it has the operation at all):
``worker.created``, ``worker.input_accepted``, ``worker.turn_started``,
``worker.turn_completed`` (and ``worker.output`` when a turn replies),
``worker.turn_cancelled`` (kinds with cancel), ``worker.stopped`` (kinds with
stop) and ``worker.deleted`` (kinds with delete).

**Optional, kind-specific**: ``worker.output_delta`` (streamed reply text),
``worker.tool_call_started`` / ``worker.tool_call_finished``,
``worker.turn_failed`` (a turn that broke), ``worker.turn_interrupted`` (a
turn a restart cut short). Clients ignore types and fields they do not know.

**Order within a turn** (rules :func:`order_problems` checks on one worker's events):

1. ``worker.input_accepted`` then, next among that worker's events,
   ``worker.turn_started`` with ``turn`` one above the worker's previous turn;
2. any number of ``worker.output_delta``, ``worker.tool_call_started``,
   ``worker.tool_call_finished`` and ``worker.output`` of that ``turn``;
3. exactly one end: ``worker.turn_completed``, ``worker.turn_cancelled``,
   ``worker.turn_failed`` or ``worker.turn_interrupted``, with the same ``turn``.

Turns of one worker never overlap (the busy rule).

**Order in a worker's life**: ``worker.created`` first; turns; at most one
``worker.stopped``, after which no turn starts; ``worker.deleted`` last
(``worker.stopped`` comes before it if the worker was not stopped yet).

``worker.input_accepted`` and ``worker.output`` carry the transcript entry's
``content``: a client following the stream can show the conversation without
reading the transcript. The content is the client's own input or the worker's
reply, the same text the transcript serves.

.. versionadded:: 0.3
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from registry_core.models import Event

__all__ = [
    "CANCEL_REASONS",
    "QUEUE_REASONS",
    "EVENT_SPECS",
    "TURN_ENDS",
    "WORKER_CREATED",
    "WORKER_DELETED",
    "WORKER_INPUT_ACCEPTED",
    "WORKER_INPUT_DROPPED",
    "WORKER_INPUT_QUEUED",
    "WORKER_OUTPUT",
    "WORKER_OUTPUT_DELTA",
    "WORKER_STOPPED",
    "WORKER_TOOL_CALL_FINISHED",
    "WORKER_TOOL_CALL_STARTED",
    "WORKER_TURN_CANCELLED",
    "WORKER_TURN_COMPLETED",
    "WORKER_TURN_FAILED",
    "WORKER_TURN_INTERRUPTED",
    "WORKER_TURN_STARTED",
    "EventSpec",
    "InputAcceptedData",
    "InputDroppedData",
    "InputQueuedData",
    "OutputData",
    "OutputDeltaData",
    "ToolCallFinishedData",
    "ToolCallStartedData",
    "TurnCancelledData",
    "TurnCompletedData",
    "TurnFailedData",
    "TurnInterruptedData",
    "TurnStartedData",
    "WorkerCreatedData",
    "WorkerDeletedData",
    "WorkerStoppedData",
    "data_problems",
    "event_data",
    "order_problems",
]

#: A worker was created. Always the worker's first event.
WORKER_CREATED: Final = "worker.created"
#: Input was accepted into the transcript; a turn starts next.
WORKER_INPUT_ACCEPTED: Final = "worker.input_accepted"
#: Input waits: behind the worker's turn (``if_busy: "enqueue"``) or for a turn slot (admission); optional.
WORKER_INPUT_QUEUED: Final = "worker.input_queued"
#: A queued input was dropped before its turn started (cancel, stop, delete, restart, shutdown); optional.
WORKER_INPUT_DROPPED: Final = "worker.input_dropped"
#: A turn started.
WORKER_TURN_STARTED: Final = "worker.turn_started"
#: A piece of reply text, streamed while the turn runs (optional).
WORKER_OUTPUT_DELTA: Final = "worker.output_delta"
#: The worker called a tool (optional).
WORKER_TOOL_CALL_STARTED: Final = "worker.tool_call_started"
#: A tool call ended (optional).
WORKER_TOOL_CALL_FINISHED: Final = "worker.tool_call_finished"
#: A reply entry was added to the transcript.
WORKER_OUTPUT: Final = "worker.output"
#: A turn ended normally; the worker takes input again.
WORKER_TURN_COMPLETED: Final = "worker.turn_completed"
#: A turn was cancelled (by cancel, stop, delete or shutdown).
WORKER_TURN_CANCELLED: Final = "worker.turn_cancelled"
#: A turn broke; the worker takes input again (optional).
WORKER_TURN_FAILED: Final = "worker.turn_failed"
#: A turn was cut short by a restart of a kind that keeps its workers (optional).
WORKER_TURN_INTERRUPTED: Final = "worker.turn_interrupted"
#: The worker was stopped for good.
WORKER_STOPPED: Final = "worker.stopped"
#: The worker was deleted. Always the worker's last event.
WORKER_DELETED: Final = "worker.deleted"

#: The types that end a turn: exactly one of them follows each ``worker.turn_started``.
TURN_ENDS: Final = frozenset(
    {WORKER_TURN_COMPLETED, WORKER_TURN_CANCELLED, WORKER_TURN_FAILED, WORKER_TURN_INTERRUPTED}
)
#: The ``reason`` of a ``worker.turn_cancelled``: what cancelled the turn.
CANCEL_REASONS: Final = frozenset({"cancel", "stop", "delete", "shutdown", "interrupt"})
#: The ``reason`` of a ``worker.input_queued``: behind the worker's turn, or waiting for a turn slot.
QUEUE_REASONS: Final = frozenset({"busy", "admission"})

# The types a turn may emit between its start and its end.
_WITHIN_TURN = frozenset({WORKER_OUTPUT_DELTA, WORKER_TOOL_CALL_STARTED, WORKER_TOOL_CALL_FINISHED, WORKER_OUTPUT})


@attrs.frozen
class WorkerCreatedData:
    """``worker.created`` data. Every field is optional.

    :ivar profile: the resolved profile name.
    :ivar intent: the intent kind (``assistant``, ``task``, ``role``).
    :ivar requested_profile: the profile asked for, when the worker fell back to another.
    """

    profile: str | None = None
    intent: str | None = None
    requested_profile: str | None = None


@attrs.frozen
class InputAcceptedData:
    """``worker.input_accepted`` data.

    :ivar transcript_sequence: the sequence of the transcript entry holding the input.
    :ivar role: ``user`` or ``system``: who the input speaks as.
    :ivar content: the input, as the transcript entry holds it.
    """

    transcript_sequence: int
    role: str
    content: str
    #: Added in 0.4: the id of the input's ``worker.input_queued`` event, when it waited in a queue.
    queued_event_id: int | None = None


@attrs.frozen
class InputQueuedData:
    """``worker.input_queued`` data (added in 0.4, decision 0190).

    The input is not in the transcript yet: it enters it, with
    ``worker.input_accepted`` (whose ``queued_event_id`` is this event's
    id), when its turn starts; or it is dropped (``worker.input_dropped``).

    :ivar queue_position: its place among the worker's waiting inputs (1: next).
    :ivar reason: ``busy`` (behind the worker's turn) or ``admission`` (for a turn slot of the runtime).
    :ivar role: ``user`` or ``system``.
    :ivar content: the input.
    """

    queue_position: int
    reason: str
    role: str
    content: str


@attrs.frozen
class InputDroppedData:
    """``worker.input_dropped`` data (added in 0.4): a queued input that will never run.

    :ivar queued_event_id: the id of its ``worker.input_queued`` event.
    :ivar reason: ``cancel``, ``stop``, ``delete``, ``restart`` or ``shutdown``.
    """

    queued_event_id: int
    reason: str


@attrs.frozen
class TurnStartedData:
    """``worker.turn_started`` data.

    :ivar turn: the worker's turn number: 1 for its first turn, one more for each next.
    """

    turn: int


@attrs.frozen
class OutputDeltaData:
    """``worker.output_delta`` data: reply text streamed while the turn runs.

    :ivar turn: the turn the text belongs to.
    :ivar text: the next piece of the reply; the finished reply is the ``worker.output``.
    """

    turn: int
    text: str


@attrs.frozen
class ToolCallStartedData:
    """``worker.tool_call_started`` data.

    :ivar turn: the turn making the call.
    :ivar tool: the tool's name.
    :ivar call_id: the call's id, unique within the turn, repeated by its ``worker.tool_call_finished``.
    """

    turn: int
    tool: str
    call_id: str


@attrs.frozen
class ToolCallFinishedData:
    """``worker.tool_call_finished`` data.

    :ivar turn: the turn that made the call.
    :ivar tool: the tool's name.
    :ivar call_id: the id its ``worker.tool_call_started`` carried.
    """

    turn: int
    tool: str
    call_id: str


@attrs.frozen
class OutputData:
    """``worker.output`` data: a reply entry was added to the transcript.

    :ivar transcript_sequence: the entry's sequence.
    :ivar role: the entry's role (``assistant`` for a reply).
    :ivar content: the entry's content.
    """

    transcript_sequence: int
    role: str
    content: str


@attrs.frozen
class TurnCompletedData:
    """``worker.turn_completed`` data.

    :ivar turn: the turn that ended.
    :ivar usage: token counts where the kind has them (``{"input_tokens": n, "output_tokens": n}``), else absent or ``None``.
    :ivar stop_reason: why the reply ended, where the kind knows (e.g. ``end_turn``).
    """

    turn: int
    usage: Mapping[str, int] | None = None
    stop_reason: str | None = None


@attrs.frozen
class TurnCancelledData:
    """``worker.turn_cancelled`` data.

    :ivar turn: the turn that was cancelled.
    :ivar reason: what cancelled it: one of :data:`CANCEL_REASONS`.
    """

    turn: int
    reason: str


@attrs.frozen
class TurnFailedData:
    """``worker.turn_failed`` data. Its text names no path, endpoint or upstream body.

    :ivar turn: the turn that failed.
    :ivar code: a typed reason where the kind has one (``provider_error``, ``turn_timeout``, ...).
    :ivar engine_code: with ``code: "engine_error"``, a failure of the engine's own, as
        ``"<engine>.<reason>"`` (``acme-calc.bad_input``; the embedded kind's ``EngineFailed``);
        absent otherwise. *Added in 0.4.*
    """

    turn: int
    code: str | None = None
    engine_code: str | None = None


@attrs.frozen
class TurnInterruptedData:
    """``worker.turn_interrupted`` data: a restart, or the loss of the replica running it, cut the turn
    short; the input stays in the transcript.

    :ivar turn: the turn that was cut short.
    :ivar reason: ``restart``, or ``replica_lost`` (the replica running it
        stopped renewing its lease; an embedded runtime on PostgreSQL).
    """

    turn: int
    reason: str


@attrs.frozen
class WorkerStoppedData:
    """``worker.stopped`` data. Every field is optional.

    :ivar reason: why the kind stopped the worker by itself, where it did:
        ``idle`` (the embedded kind's ``idle_stop_seconds``). Absent when a
        client stopped it.
    """

    reason: str | None = None


@attrs.frozen
class WorkerDeletedData:
    """``worker.deleted`` data. Every field is optional.

    :ivar reason: why the kind deleted the worker by itself, where it did:
        ``expired`` (the embedded kind's ``stopped_delete_seconds``). Absent
        when a client deleted it.
    """

    reason: str | None = None


@attrs.frozen
class EventSpec:
    """One event type of the contract.

    :ivar type: the event type (one of the ``WORKER_*`` constants).
    :ivar data: the attrs class of its ``data``: the fields without a default are required.
    :ivar required: whether every kind that has the operation behind it emits it
        (``False``: optional, kind-specific).
    """

    type: str
    data: builtins.type[Any]
    required: bool


#: Every event type of the contract, by type.
EVENT_SPECS: Final[Mapping[str, EventSpec]] = {
    spec.type: spec
    for spec in (
        EventSpec(WORKER_CREATED, WorkerCreatedData, True),
        EventSpec(WORKER_INPUT_ACCEPTED, InputAcceptedData, True),
        EventSpec(WORKER_INPUT_QUEUED, InputQueuedData, False),
        EventSpec(WORKER_INPUT_DROPPED, InputDroppedData, False),
        EventSpec(WORKER_TURN_STARTED, TurnStartedData, True),
        EventSpec(WORKER_OUTPUT_DELTA, OutputDeltaData, False),
        EventSpec(WORKER_TOOL_CALL_STARTED, ToolCallStartedData, False),
        EventSpec(WORKER_TOOL_CALL_FINISHED, ToolCallFinishedData, False),
        EventSpec(WORKER_OUTPUT, OutputData, True),
        EventSpec(WORKER_TURN_COMPLETED, TurnCompletedData, True),
        EventSpec(WORKER_TURN_CANCELLED, TurnCancelledData, True),
        EventSpec(WORKER_TURN_FAILED, TurnFailedData, False),
        EventSpec(WORKER_TURN_INTERRUPTED, TurnInterruptedData, False),
        EventSpec(WORKER_STOPPED, WorkerStoppedData, True),
        EventSpec(WORKER_DELETED, WorkerDeletedData, True),
    )
}

_TYPE_OF_DATA = {spec.data: spec.type for spec in EVENT_SPECS.values()}
# Python types a field's annotation accepts (bool is not an int here).
_ACCEPTS: dict[str, tuple[type, ...]] = {"int": (int,), "str": (str,), "Mapping[str, int]": (Mapping,)}


def event_data(data: object) -> dict[str, Any]:
    """The ``data`` mapping of one of the data models above, without its unset optional fields.

    ``event_data(TurnStartedData(turn=3)) == {"turn": 3}``. Give the result,
    with the model's type constant, to your event log.
    """
    if type(data) not in _TYPE_OF_DATA:
        raise TypeError(f"{type(data).__name__} is not an event data model of registry_core.event_contract")
    model: Any = type(data)  # checked above: one of the attrs data models
    return {field.name: value for field in attrs.fields(model) if (value := getattr(data, field.name)) is not None}


def data_problems(event: Event, *, kind: str | None = None) -> list[str]:
    """What is wrong with one event's type and data under the contract (an empty list: nothing).

    A type outside the contract must be ``KIND.something`` (with ``kind``
    given) and is not checked further; a contract type must carry each
    required field with the declared type, and its optional fields, when
    present and not ``None``, must have theirs. Extra fields are allowed.
    """
    spec = EVENT_SPECS.get(event.type)
    if spec is None:
        if event.type.startswith("worker.") or (kind is not None and not event.type.startswith(f"{kind}.")):
            own = f" or a type of the kind's own named '{kind}.something'" if kind else ""
            return [f"event {event.id}: type {event.type!r} is not an event type of the contract{own}"]
        return []
    if event.worker_id is None:
        return [f"event {event.id}: a {event.type} event must name its worker (worker_id is None)"]
    if not isinstance(event.data, Mapping):
        return [f"event {event.id}: data of a {event.type} event must be a mapping"]
    problems = []
    for field in attrs.fields(spec.data):
        required = field.default is attrs.NOTHING
        if field.name not in event.data:
            if required:
                problems.append(f"event {event.id}: {event.type} data lacks the required field {field.name!r}")
            continue
        value = event.data[field.name]
        if value is None and not required:
            continue
        annotation = str(field.type).removesuffix(" | None")
        accepted = _ACCEPTS[annotation]
        if isinstance(value, bool) or not isinstance(value, accepted):
            problems.append(
                f"event {event.id}: {event.type} data field {field.name!r} must be {annotation}; it is {value!r}"
            )
    if spec.type == WORKER_TURN_CANCELLED and event.data.get("reason") not in CANCEL_REASONS:
        problems.append(
            f"event {event.id}: worker.turn_cancelled reason must be one of {sorted(CANCEL_REASONS)};"
            f" it is {event.data.get('reason')!r}"
        )
    return problems


def order_problems(events: Iterable[Event], *, finished: bool = False) -> list[str]:
    """What breaks the order rules in one worker's events, oldest first (an empty list: nothing).

    Give it every event of one worker from its ``worker.created`` on (a
    ``read_events(worker_id=...)`` from the start). Types outside the contract
    are ignored. With ``finished``, the worker's turns are over (it is idle),
    so a turn without its end, or input without its turn, is a problem too.
    """
    problems: list[str] = []
    seen_any = created = stopped = deleted = False
    turn: int | None = None  # the turn in flight
    last_turn = 0
    awaiting_start = False  # input accepted, its turn_started must come next
    for event in events:
        if event.type not in EVENT_SPECS:
            continue
        where = f"event {event.id} ({event.type})"
        number = event.data.get("turn") if isinstance(event.data, Mapping) else None
        if deleted:
            problems.append(f"{where} comes after worker.deleted, which must be the worker's last event")
        if not seen_any and event.type != WORKER_CREATED:
            problems.append(f"{where} comes before worker.created, which must be the worker's first event")
        seen_any = True
        if awaiting_start and event.type != WORKER_TURN_STARTED:
            problems.append(f"{where} comes between worker.input_accepted and its worker.turn_started")
            awaiting_start = False
        if event.type == WORKER_CREATED:
            if created:
                problems.append(f"{where}: the worker was already created")
            created = True
        elif event.type == WORKER_INPUT_ACCEPTED:
            if stopped:
                problems.append(f"{where}: input was accepted after worker.stopped")
            if turn is not None:
                problems.append(f"{where}: input was accepted while turn {turn} was still running")
            awaiting_start = True
        elif event.type == WORKER_TURN_STARTED:
            if not awaiting_start:
                problems.append(f"{where}: a turn started without a worker.input_accepted right before it")
            awaiting_start = False
            if number != last_turn + 1:
                problems.append(f"{where}: turn {number!r} is not the next turn number ({last_turn + 1})")
            turn, last_turn = number if isinstance(number, int) else last_turn + 1, last_turn + 1
        elif event.type in _WITHIN_TURN or event.type in TURN_ENDS:
            if turn is None:
                problems.append(f"{where} comes outside any turn")
            elif event.type != WORKER_OUTPUT and number != turn:
                problems.append(f"{where}: turn {number!r} is not the running turn {turn}")
            if event.type in TURN_ENDS:
                turn = None
        elif event.type == WORKER_INPUT_QUEUED:
            if stopped:
                problems.append(f"{where}: input was queued after worker.stopped")
        elif event.type == WORKER_STOPPED:
            if stopped:
                problems.append(f"{where}: the worker was already stopped")
            if turn is not None:
                problems.append(f"{where}: the worker stopped while turn {turn} had no end event")
            stopped = True
        elif event.type == WORKER_DELETED:
            if not stopped:
                problems.append(f"{where}: worker.stopped must come before worker.deleted")
            deleted = True
    if finished and awaiting_start:
        problems.append("the last worker.input_accepted has no worker.turn_started after it")
    if finished and turn is not None:
        problems.append(f"turn {turn} has no end event (worker.turn_completed, _cancelled, _failed or _interrupted)")
    return problems
