"""The store seam: the one place where an embedded runtime's stores differ (decision 0110).

The runtime *tells* the store what happened and *asks* it to decide what must
be unique; the store answers, and is the only code that knows which store it
is. Behind it: :class:`~runtime_registry.runtimes.embedded.memory_store.MemoryStore`
(nothing outlives the process), :class:`~runtime_registry.runtimes.embedded.sqlite_store.SQLiteStore`
(one file, one process) and :class:`~runtime_registry.runtimes.embedded.postgres.PostgresStore`
(one database shared by several replicas; issue 18).

**Decisions are the store's.** Everything that must be decided once for all
readers and replicas is an ``async`` method of :class:`WorkerStore`: creating
a worker under ``max_workers`` (with its serial), accepting input under the
busy rule, a turn's writes and its end, cancel, stop, delete — and, with
each, the ids of the events they append, in commit order. A store shared by
replicas may suspend in them for a database round trip (a conditional update
in one transaction). A store that decides in this process's memory (memory,
SQLite) decides at once and never suspends in them, so the memory path is as
fast as a plain call and stays atomic without a lock: nothing else runs
between a check and its change.

**The runtime's memory is the store's cache.** The store owns the worker
records (:attr:`WorkerStore.roster`, the public
:class:`~registry_core.blocks.Roster`) and the retained event window
(:attr:`WorkerStore.events`, the public :class:`~registry_core.blocks.EventLog`);
reads (get, list, transcript and event pages, waits) are served from them
without suspending. A store that is not the authority keeps them current
(for PostgreSQL: from the database and its notifications).

**Readers see what is committed.** The event log shows readers events up to
its committed watermark only (:meth:`EventLog.commit`): a store moves it when
what it appended is durable in its sense, so no reader ever sees an event that
a crash can take back (decision 0111). Live-only events
(``worker.output_delta``) are never stored and wait for no commit of their own.

**Durability** is asked for with :meth:`WorkerStore.settle`: runtime
operations that change something await it before they return, and it returns
at once unless the store promised more (``acknowledged``: the commit).

A store decides *where state lives and what is unique*, never *what a turn
does*: engines, profiles, limits of requests and the turn tasks themselves
are the runtime's.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from registry_core.blocks import EventLog, EventSlice, Roster
from registry_core.errors import UnsupportedOperation
from registry_core.models import Diagnostic, Event, Intent, WorkerTotals

if TYPE_CHECKING:
    from registry_core.engines import EngineProfile
    from runtime_registry.runtimes.embedded.culling import CullPolicy, CullResult
    from runtime_registry.runtimes.embedded.profiles import ProfileBook
    from runtime_registry.runtimes.embedded.settings import EmbeddedSettings
    from runtime_registry.runtimes.embedded.turn_queue import Queued, Started
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = [
    "CommitStats",
    "COMPLETED",
    "Accepted",
    "StoreMeta",
    "StoreSetup",
    "StoreSnapshot",
    "StoreUnusable",
    "StoredWorker",
    "WorkerDraft",
    "WorkerStore",
    "turn_failed_data",
]


#: What :meth:`WorkerStore.complete_turn` answers when the turn completed.
COMPLETED = "completed"


def turn_failed_data(turn: int, code: str, message: str, engine_code: str | None) -> dict[str, object]:
    """A ``worker.turn_failed`` event's data, as every store writes it (``engine_code`` only when there is one)."""
    data: dict[str, object] = {"turn": turn, "code": code, "message": message}
    if engine_code is not None:
        data["engine_code"] = engine_code
    return data


class StoreUnusable(Exception):
    """The store cannot be opened: damaged, foreign, newer, or in use elsewhere.

    ``str()`` is safe to show to clients (a diagnostic): it names no path.
    ``transient``: the cause can go away by itself (a read-only or full
    filesystem, another server holding the file), and the runtime tries
    again; a damaged, foreign or newer file is final.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@attrs.frozen
class StoreMeta:
    """What makes a runtime's ids and cursors continue across restarts.

    :param first_serial: the first worker serial the runtime ever issued.
    :param next_serial: the serial the next created worker gets.
    :param first_event_id: the first event id the runtime ever issued
        (``cursor=0`` means "before it").
    :param last_event_id: the newest event id issued (``first_event_id - 1`` before any).
    :param cursor_tag: the tag that ends every list cursor of this runtime.
    """

    first_serial: int
    next_serial: int
    first_event_id: int
    last_event_id: int
    cursor_tag: str


@attrs.frozen
class StoredWorker:
    """One worker as a durable store keeps it."""

    serial: int
    worker_id: str
    label: str | None
    intent: Intent
    profile: str
    created_at: datetime
    status: str
    turn_number: int
    entries: int
    #: The names of the tools granted at create (``capabilities: ["tool:NAME"]``).
    tools: tuple[str, ...] = ()
    #: When the worker entered its status (culling, decision 0220); ``None``: a file from before it was kept.
    status_since: datetime | None = None
    #: What its ended turns added up to (decision 0201).
    totals: WorkerTotals = attrs.field(factory=WorkerTotals)


@attrs.frozen
class StoreSnapshot:
    """What a durable store holds at open: ids, workers, and the retained events, oldest first."""

    meta: StoreMeta
    workers: tuple[StoredWorker, ...] = ()
    events: tuple[Event, ...] = ()


@attrs.frozen
class StoreSetup:
    """What the runtime gives its store before anything else (:meth:`WorkerStore.setup`).

    :param settings: the runtime's settings (retention, byte bounds, limits).
    :param event_start_id: the first event id of a store that holds none
        (``None``: the clock in microseconds, decision 0055).
    :param first_serial: the first worker serial of a store that holds none
        (``None``: the clock in microseconds, decision 0065).
    :param profiles: the runtime's profiles: what a stored worker's profile
        name resolves to now (``by_name``: a removed profile falls back to the
        default), the tools it may grant, how many entries its turns add.
    """

    settings: EmbeddedSettings
    event_start_id: int | None
    first_serial: int | None
    profiles: ProfileBook


@attrs.frozen
class WorkerDraft:
    """A worker the runtime asks the store to create; the store gives it its serial and id."""

    label: str | None
    intent: Intent
    profile: EngineProfile
    created_at: datetime
    tools: tuple[Any, ...]
    #: The ``worker.created`` event's data.
    event_data: Mapping[str, object]


# Not frozen: one is made per input, and a frozen attrs class's __init__ costs three times a
# plain one (each field set through object.__setattr__; decision 0263). Nothing changes it.
@attrs.define
class Accepted:
    """Input accepted under the busy rule: its transcript sequence, its event's id, the turn it starts."""

    sequence: int
    event_id: int
    turn: int


@attrs.frozen
class CommitStats:
    """What a store that commits reports for ``/metrics``.

    :ivar commits: successful commits since the store opened.
    :ivar commit_seconds: the time they took, in all.
    :ivar queue_depth: batches of changes waiting for the next commit.
    """

    commits: int
    commit_seconds: float
    queue_depth: int


class WorkerStore(abc.ABC):
    """The seam. See the module docstring; every public name here is what a new store implements.

    The runtime calls :meth:`setup` once (synchronously, in ``__init__``),
    then :meth:`open` (``EmbeddedRuntime.start``) and :meth:`close`. Between
    them it calls the decisions, each with the worker record it read from
    :attr:`roster`; a store that finds its cache stale (another replica
    changed the worker) refreshes the record and decides on the fresh state.
    """

    #: The workers, in creation order, as this process knows them (the store's cache).
    #: Replaced, if at all, only in :meth:`open` (the runtime keeps a reference).
    roster: Roster[WorkerRecord]
    #: The retained events; readers see them up to its committed watermark. Replaced only in :meth:`open`.
    events: EventLog
    #: Why the store cannot be used now (client-safe), or ``None``.
    unavailable: str | None = None
    #: The ``if_busy`` policies this store decides (decision 0190); the provider
    #: offers only these. A store that claims ``enqueue`` or ``interrupt``
    #: implements :meth:`enqueue_input`, :meth:`interrupt_input` and :meth:`take_started`.
    busy_policies: tuple[str, ...] = ("reject",)
    #: Whether :meth:`complete_turn` and :meth:`fail_turn` never suspend (decisions made in this
    #: process's memory). The runtime then runs a turn that ends at once (``record`` or ``echo``
    #: with no delay) in one step of the loop, without a task (decision 0247).
    ends_turns_at_once: bool = False
    #: Set by the runtime: called when the store started turns from waiting inputs outside the
    #: runtime's own calls (a PostgreSQL replica ending a lost replica's turns hands their queue on),
    #: so the runtime runs them (:meth:`take_started`). ``None`` until set.
    on_started: Callable[[], None] | None = None

    # -- life --------------------------------------------------------------------

    @abc.abstractmethod
    def setup(self, setup: StoreSetup) -> None:
        """Build the caches for a runtime's settings; called once, before anything else."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Take back what the store holds (nothing for memory) into :attr:`roster` and :attr:`events`.

        Workers that were in a turn when the last run ended come back idle,
        each with a ``worker.turn_interrupted`` event (``reason: "restart"``).

        :raises StoreUnusable: the store must not be used (and is left untouched).
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Make durable what is queued and release the store; idempotent and bounded in time."""

    def kind_specific_limits(self) -> Mapping[str, int]:
        """Limits only this store enforces, for the runtime summary (``max_store_bytes``)."""
        return {}

    def commit_stats(self) -> CommitStats | None:
        """Commits so far, their seconds in all, and the batches waiting (``/metrics``); ``None``: no commits to count."""
        return None

    def byte_usage(self) -> tuple[int, int] | None:
        """``(bytes held, max_store_bytes)`` for ``/metrics`` where the store bounds its bytes; ``None`` elsewhere.

        Answered from memory, at once (a scrape calls it on the event loop).
        """
        return None

    # -- decisions (may suspend; memory and SQLite never do) -----------------------

    @abc.abstractmethod
    async def create_worker(self, draft: WorkerDraft, *, max_workers: int) -> WorkerRecord:
        """Create a worker with the next serial and append ``worker.created``.

        :raises CapacityExceeded: the runtime holds ``max_workers`` workers, or
            the store has no room for it.
        """

    @abc.abstractmethod
    async def accept_input(self, worker: WorkerRecord, role: str, content: str) -> Accepted | Queued:
        """Take input under the busy rule: worker busy, a new turn, the entry, ``worker.input_accepted``
        and ``worker.turn_started``. A store that bounds running turns (``max_concurrent_turns``) may
        instead claim the worker and let the input wait for a slot (:class:`Queued`).

        :raises WorkerStopped: the worker is stopped.
        :raises WorkerBusy: the worker is in a turn.
        :raises CapacityExceeded: its transcript (``max_transcript_entries``)
            or the store has no room for the input and its reply.
        """

    async def interrupt_input(self, worker: WorkerRecord, role: str, content: str) -> Accepted | Queued:
        """Take input with ``if_busy: "interrupt"``: the checks of :meth:`accept_input`; then, if the
        worker is in a turn, end it with ``worker.turn_cancelled`` (``reason: "interrupt"``), and take
        the input as :meth:`accept_input` does — one decision, so racing interrupts never overlap turns.
        Inputs queued behind the ended turn stay queued, behind this one."""
        raise UnsupportedOperation("this runtime's store does not take if_busy 'interrupt'")

    async def enqueue_input(
        self, worker: WorkerRecord, role: str, content: str, *, max_queued: int
    ) -> Accepted | Queued:
        """Take input with ``if_busy: "enqueue"``: as :meth:`accept_input` when the worker is idle;
        while it is in a turn, append ``worker.input_queued`` and queue the input (:class:`Queued`).

        :raises QueueFull: ``max_queued`` inputs already wait for the worker.
        """
        raise UnsupportedOperation("this runtime's store does not take if_busy 'enqueue'")

    async def cancel_turn_keeping_queue(self, worker: WorkerRecord) -> bool:
        """:meth:`cancel_turn` (``reason: "cancel"``) that keeps the inputs queued behind the turn:
        the next one's turn starts at once (:meth:`take_started`). Only a store that claims ``enqueue``."""
        raise UnsupportedOperation("this runtime's store does not queue inputs")

    def take_started(self) -> tuple[Started, ...]:
        """The turns the store started from waiting inputs (queued behind a turn, or for a turn slot)
        since it was last asked, oldest first, each once; the runtime asks after each decision and runs them."""
        return ()

    @abc.abstractmethod
    async def add_turn_entry(
        self, worker: WorkerRecord, turn: int, role: str, content: str, event_type: str, data: dict[str, Any]
    ) -> Event | None:
        """Write an entry of turn ``turn`` (a tool call or result) with its announcing event.

        ``data`` gets the entry's ``transcript_sequence``. Returns ``None``,
        writing nothing, when the turn is no longer the worker's.
        """

    @abc.abstractmethod
    async def complete_turn(
        self, worker: WorkerRecord, turn: int, reply: str | None, data: Mapping[str, object]
    ) -> str | None:
        """End turn ``turn``: the reply (if any, with ``worker.output``), idle, ``worker.turn_completed``.

        :return: :data:`COMPLETED`; or the code the turn failed with instead
            (``transcript_full``: a reply that finds the transcript full);
            or ``None``, writing nothing, when the turn is no longer the worker's.
        """

    @abc.abstractmethod
    async def fail_turn(
        self, worker: WorkerRecord, turn: int, code: str, message: str, *, engine_code: str | None = None
    ) -> bool:
        """End turn ``turn`` with ``worker.turn_failed``; ``False`` (nothing written) when it is no longer the worker's.

        ``engine_code`` (a failure of the engine's own, ``"<engine>.<reason>"``) goes in the event's data when given.
        """

    @abc.abstractmethod
    async def cancel_turn(self, worker: WorkerRecord, reason: str) -> bool:
        """End the worker's turn, if it has one, with ``worker.turn_cancelled`` (``reason``); the worker is idle.

        :return: whether there was a turn. :raises WorkerStopped: the worker is stopped.
        """

    @abc.abstractmethod
    async def stop_worker(self, worker: WorkerRecord, reason: str = "stop") -> bool:
        """Cancel any turn (``reason``) and stop the worker for good (``worker.stopped``).

        :return: whether it was running (``False``: already stopped).
        """

    @abc.abstractmethod
    async def delete_worker(self, worker: WorkerRecord) -> None:
        """Stop the worker if it runs, forget it and its transcript, append ``worker.deleted``.

        Its ``max_workers`` slot is free at once; its id is never issued again.
        """

    @abc.abstractmethod
    async def cull(self, policy: CullPolicy) -> CullResult:
        """Stop workers idle ``policy.idle_seconds`` and delete workers stopped ``policy.stopped_seconds``.

        Idle is measured from when the worker last became idle (created, or its
        last turn ended); stopped from when it was stopped. Each stopped worker
        gets ``worker.stopped`` with ``{"reason": "idle"}``, each deleted one
        ``worker.deleted`` with ``{"reason": "expired"}``. At most
        :data:`~runtime_registry.runtimes.embedded.culling.SWEEP_LIMIT` of each
        per call; costs O(expired), not O(workers). A busy worker is never
        stopped, and a worker that takes input while the sweep runs is not
        (the check and the change are one decision, as for the busy rule);
        with replicas exactly one acts on each worker (decision 0220).

        :raises RuntimeUnavailable: the store cannot write now (nothing changed).
        """

    @abc.abstractmethod
    async def abandon_turn(self, worker: WorkerRecord) -> None:
        """The runtime is closing while ``worker`` is in a turn.

        A store that ends with the process ends the turn (``worker.turn_cancelled``,
        ``reason: "shutdown"``); a durable store writes nothing, and the next
        run brings the worker back with ``worker.turn_interrupted`` — the same
        as after a crash (decision 0086).
        """

    async def refresh(self, *, deciding_on: str | None = None) -> None:  # noqa: B027 - only a store shared by replicas has anything to do
        """Bring :attr:`roster` and :attr:`events` up to what is committed now, before a request is served.

        A store that is the authority (memory, SQLite) is always current and
        returns at once. A store shared by replicas (PostgreSQL) catches its
        cache up, so a client finds on any replica what another one answered.

        :param deciding_on: the request is one of the store's decisions on
            this worker (send input): the decision reads the database and
            the store replays it (and everything before it) before it
            returns, so a store whose cache already holds the worker may
            return at once (decision 0231).

        :raises RuntimeUnavailable: the store cannot be reached (``store_unreachable``).
        """

    # -- reads ---------------------------------------------------------------------

    async def read_events(
        self, *, cursor: int | None, limit: int, worker_id: str | None, max_bytes: int | None
    ) -> EventSlice:
        """Committed events after ``cursor``, as :meth:`EventLog.read` answers (its cursor rules and page bounds).

        A store that keeps only the newest events in :attr:`events` and the
        rest of the retained ones elsewhere (SQLite: ``events_in_memory``)
        reads a cursor older than the in-memory window from there; the rest
        read :attr:`events` alone.
        """
        return self.events.read(cursor=cursor, limit=limit, worker_id=worker_id, max_bytes=max_bytes)

    # -- durability and health -------------------------------------------------------

    @abc.abstractmethod
    async def settle(self) -> None:
        """Return once every change made so far is as durable as the store promises.

        Memory: at once. SQLite ``acknowledged``: once committed (a client
        that goes away does not cancel the commit others wait for).

        :raises RuntimeUnavailable: the commit failed (the changes stay queued
            and are committed once the store can write again).
        """

    def check_writable(self) -> None:  # noqa: B027 - most stores can always write
        """Raise ``RuntimeUnavailable`` while the store cannot take writes (disk full, read-only)."""

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Problems to report in the runtime's status (``store_write_failed``); client-safe."""
        return ()
