"""The store seam on PostgreSQL: one embedded runtime served by any number of replicas (issue 18).

:class:`PostgresStore` is a :class:`~runtime_registry.runtimes.embedded.store.WorkerStore`
whose decisions are made by the database (:class:`~.postgres_store.PgStore`:
the busy rule, capacity, event ids in commit order, turn ownership) and
whose roster, transcripts and event log are **this replica's cache** of the
database (decision 0135):

- the cache changes in one way only: by replaying the committed event feed
  in id order (:meth:`PostgresStore._catch_up`). Ids are gapless and in
  commit order (decision 0132), so every replica's cache passes through the
  same states in the same order; a replica's own decisions are replayed like
  anyone else's, right after their commit, before the operation returns;
- before serving a request the provider asks for :meth:`refresh`: a round
  trip *sent after the request arrived* reads the newest committed id, and
  the cache catches up to it. So a client that got an answer from one
  replica finds what it did on any other (read-your-writes across
  replicas), and a cursor from one replica is valid on every other. The
  requests waiting at once share one such round trip (decision 0231);
- a ``NOTIFY`` from every sequencing pass, carrying the newest id, wakes
  each replica's tail unless it has read that far, so SSE streams and long
  polls see events from other replicas at once;
  a turn this replica runs that another replica cancelled, stopped, deleted
  or took as lost is cancelled when its end event is replayed here;
- every replica renews its lease and ends the turns of replicas whose lease
  expired (``replica_lost``), prunes events beyond retention, and
  reconnects by itself after the database went away (``store_unreachable``
  and 503 meanwhile; nothing acknowledged is lost, since everything
  acknowledged was committed first).

The cache holds every worker record and each transcript's length; the
entries of recently used transcripts are kept up to ``max_store_bytes`` and
read again from the database when needed (:mod:`.postgres_cache`, decision 0233).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from registry_core.blocks import EventLog, Roster, clock_start_id
from registry_core.errors import InvalidRequest, RuntimeUnavailable, UnknownWorker, WorkerStopped
from registry_core.event_contract import (
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_INPUT_DROPPED,
    WORKER_INPUT_QUEUED,
    WORKER_OUTPUT_DELTA,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_FAILED,
    WORKER_TURN_INTERRUPTED,
    WORKER_TURN_STARTED,
)
from registry_core.models import Diagnostic, Event, Intent, IntentKind
from runtime_registry.runtimes.embedded.culling import CullPolicy, CullResult
from runtime_registry.runtimes.embedded.postgres_batch import Batched
from runtime_registry.runtimes.embedded.postgres_cache import PgTranscript, TranscriptCache
from runtime_registry.runtimes.embedded.postgres_control import (
    ControlAnswer,
    NewInput,
    QueueView,
    StartedTurn,
    WaitingInput,
    refusal,
)
from runtime_registry.runtimes.embedded.postgres_culling import cull
from runtime_registry.runtimes.embedded.postgres_signals import PgSignals
from runtime_registry.runtimes.embedded.postgres_store import (
    UNREACHABLE_MESSAGE,
    PgStore,
    PgWorker,
    StoreUnreachable,
    TurnLost,
    connect_kwargs,
)
from runtime_registry.runtimes.embedded.store import (
    COMPLETED,
    Accepted,
    CommitStats,
    StoreSetup,
    StoreUnusable,
    WorkerDraft,
    WorkerStore,
    turn_failed_data,
)
from runtime_registry.runtimes.embedded.totals import NO_TOTALS, TURN_ENDS, with_event
from runtime_registry.runtimes.embedded.turn_queue import Queued, Started
from runtime_registry.runtimes.embedded.workers import BUSY, IDLE, STOPPED, WorkerRecord

__all__ = ["PostgresStore"]

log = logging.getLogger("runtime_registry.runtimes.embedded.postgres")

#: Worker ids: this prefix, the serial in 13 hex digits, 8 random hex digits (decision 0065).
WORKER_ID_PREFIX = "w-"
#: How many events one catch-up reads at a time.
_TAIL_BATCH = 1000
#: How long opening waits for this replica's LISTEN before serving anyway.
_LISTENER_WAIT_SECONDS = 5.0
#: Ends of a turn that come from outside the turn itself: the owner cancels its task.
_ENDED_FROM_OUTSIDE = frozenset({WORKER_TURN_CANCELLED, WORKER_TURN_INTERRUPTED, WORKER_STOPPED, WORKER_DELETED})
_STATUSES = {status: status for status in (IDLE, BUSY, STOPPED)}
#: Events the cache's view of waiting inputs follows (decision 0184).
_QUEUE_EVENTS = (
    frozenset({WORKER_INPUT_QUEUED, WORKER_INPUT_ACCEPTED, WORKER_INPUT_DROPPED, WORKER_STOPPED, WORKER_DELETED})
    | TURN_ENDS
)
#: Events that change a worker's status: the cache's ``status_since`` follows them (culling reads the database's).
_STATUS_CHANGES = frozenset(
    {
        WORKER_TURN_STARTED,
        WORKER_TURN_COMPLETED,
        WORKER_TURN_FAILED,
        WORKER_TURN_CANCELLED,
        WORKER_TURN_INTERRUPTED,
        WORKER_STOPPED,
    }
)


class _RelayedEventLog(EventLog):
    """The event log of a replica: live deltas of its own turns also go to the other replicas."""

    relay: Any = None

    def publish(self, type_: str, worker_id: str | None, data: Mapping[str, Any]) -> Event | None:
        """Publish here, and relay a ``worker.output_delta`` to every other replica (decision 0134)."""
        relay = self.relay
        if relay is not None and type_ == WORKER_OUTPUT_DELTA and worker_id is not None:
            relay.send_delta(worker_id, int(data["turn"]), str(data["text"]))
        return super().publish(type_, worker_id, data)

    def publish_here(self, type_: str, worker_id: str, data: Mapping[str, Any]) -> None:
        """Publish a delta relayed from another replica (not relayed again)."""
        super().publish(type_, worker_id, data)


class PostgresStore(WorkerStore):
    """A replica's store: decisions in PostgreSQL, a cache of its state here (see the module docstring).

    :param dsn: the connection string (``None``: the variable ``dsn_env`` names is not set).
    :param runtime_id: names the runtime's schema in the database.
    :param lease_seconds: how long this replica may be silent before its turns are taken as lost.
    :param dsn_env: the variable's name, for the diagnostic when it is not set.
    """

    durable = True
    #: The event log cache, whose live deltas are relayed to the other replicas.
    events: _RelayedEventLog
    #: Every policy: queues and the admission line live in the database (decision 0184).
    busy_policies = ("reject", "enqueue", "interrupt")

    def __init__(self, dsn: str | None, runtime_id: str, *, lease_seconds: float, dsn_env: str = "") -> None:
        self._dsn = dsn
        self.db = PgStore(dsn or "", runtime_id, lease_seconds=lease_seconds)
        self.unavailable = "the runtime has not been started"
        if dsn is None:
            self.unavailable = f"the environment variable {dsn_env} (store.dsn_env) is not set"
        self._opened = False
        self._unreachable = False
        self._tail_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._signals: PgSignals | None = None
        self._closed = False
        self._tick = asyncio.Event()
        #: The newest id a notification announced, and whether one came that did not say.
        self._notified = 0
        self._notified_unknown = False
        #: Requests waiting to learn the newest committed id share one round trip (decision 0231).
        self._newest: Batched[None, int] = Batched(self._read_newest)
        #: Turn ends this replica owes the database, written once it is back (decision 0232): a turn
        #: whose end found the database away, or whose input was committed but answered 503.
        self._owed: list[Callable[[], Awaitable[object]]] = []
        #: Turns this replica's decisions started from waiting inputs, not yet taken by the runtime.
        self._started: list[Started] = []
        #: Workers with an ``interrupt`` or ``enqueue`` of this replica in flight: a turn such a decision
        #: starts has no task until its answer is back (the runtime makes the task in that loop step).
        self._control_in_flight: dict[str, int] = {}
        #: The waiting inputs the cache knows of (statuses of workers waiting for a slot).
        self._queues = QueueView()
        # /metrics: decision transactions run by this replica, their time, and those in flight.
        self._commits = 0
        self._commit_seconds = 0.0
        self._in_flight = 0

    # -- life --------------------------------------------------------------------------

    def setup(self, setup: StoreSetup) -> None:
        """Empty caches until :meth:`open` loads them."""
        self.settings = setup.settings
        self._setup = setup
        self.roster = Roster(id_prefix=WORKER_ID_PREFIX, first_serial=setup.first_serial or 1)
        #: Transcript entries of recently used workers, up to ``max_store_bytes`` (decision 0233).
        self._transcripts = TranscriptCache(self.db.transcript_entries, setup.settings.max_store_bytes)
        self.events = self._event_log(setup.event_start_id or 1)

    def _event_log(self, start_id: int) -> _RelayedEventLog:
        return _RelayedEventLog(self.settings.event_retention, start_id=start_id)

    async def open(self) -> None:
        """Connect, migrate and load; if the database cannot be reached yet, keep trying in the background.

        :raises StoreUnusable: the schema is newer than this code, or not a runtime's.
        """
        if self._dsn is None:
            raise StoreUnusable(self.unavailable or "no connection string")
        self.unavailable = None
        try:
            await self._connect()
        except StoreUnreachable:
            self._unreachable = True
            log.error("embedded runtime: PostgreSQL store unreachable at start; retrying")
        self._tasks.append(asyncio.create_task(self._maintain()))

    async def _connect(self) -> None:
        setup = self._setup
        first_serial = setup.first_serial if setup.first_serial is not None else clock_start_id()
        first_event = setup.event_start_id if setup.event_start_id is not None else clock_start_id()
        await self.db.open(first_serial=first_serial, first_event_id=first_event, cursor_tag=secrets.token_hex(4))
        await self._load()
        if self._signals is None:
            dsn = self._dsn or ""
            self._signals = PgSignals(
                lambda: _connect(dsn),
                self.db.channel,
                self.db.replica_id,
                on_events=self._wake_tail,
                on_delta=self._relayed_delta,
            )
            self._signals.start()
            self.events.relay = self._signals
            # Serve only once this replica hears the others: a turn's first live delta, or a cancel
            # for a turn here, sent before its LISTEN took effect would never reach it. The listener
            # keeps trying in the background if the wait runs out.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signals.listening.wait(), _LISTENER_WAIT_SECONDS)
        self._opened = True
        self._unreachable = False

    async def _load(self) -> None:
        """Build the caches from one snapshot of the database."""
        async with self._tail_lock:
            next_serial, last_id, workers, lengths, events = await self.db.load(self.settings.event_retention)
            # Lengths only: entries are read when first used (decision 0233).
            self._transcripts.clear()
            transcripts = {w.serial: self._transcripts.transcript(w.serial, lengths.get(w.serial, 0)) for w in workers}
            log_ = self._event_log(self.db.first_event_id)
            log_.relay = self._signals
            log_.restore(events, last_id=last_id, worker_ids=(w.worker_id for w in workers))
            roster: Roster[WorkerRecord] = Roster(
                id_prefix=WORKER_ID_PREFIX, first_serial=self.db.first_serial, cursor_tag=self.db.cursor_tag
            )
            records = [self._record(worker, transcripts[worker.serial]) for worker in workers]
            self._queues.load(self.db.loaded_waiting)
            roster.restore(((r.worker_id, r.serial, r) for r in records), next_serial=next_serial)
            old = self.events
            self.roster, self.events = roster, log_
            if old is not log_:
                old.close()

    def _record(self, row: PgWorker, transcript: PgTranscript) -> WorkerRecord:
        profile = self._setup.profiles.by_name(row.profile)
        record = WorkerRecord(row.worker_id, row.label, row.intent, profile, row.created_at, row.serial, transcript)
        grantable = self._setup.profiles.tools(profile)
        record.tools = tuple(tool for name in row.tools if (tool := grantable.get(name)) is not None)
        record.status = _STATUSES.get(row.status, IDLE)
        # Busy with no replica running a turn: its input waits for a turn slot (decision 0184).
        record.waiting = record.status is BUSY and row.owner is None
        record.turn_number = row.turn_number
        record.totals = row.totals
        transcript.record = record
        return record

    async def close(self) -> None:
        """Stop the background work and the signals; leave, so another replica ends our turns at once."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._signals is not None:
            await self._signals.close()
        await self._newest.close()
        await self.db.close(leave=True)

    # -- keeping the cache current ---------------------------------------------------------

    def _wake_tail(self, newest: int | None) -> None:
        if newest is None:
            self._notified_unknown = True
            self._tick.set()
        elif newest > self.events.last_id:
            self._notified = max(self._notified, newest)
            self._tick.set()

    def _relayed_delta(self, worker_id: str, turn: int, text: str) -> None:
        self.events.publish_here(WORKER_OUTPUT_DELTA, worker_id, {"turn": turn, "text": text})

    async def refresh(self, *, deciding_on: str | None = None) -> None:
        """Catch the cache up with everything committed before now (one round trip when it is current,
        shared by the requests waiting at once; none before a decision on a worker the cache holds,
        since the decision reads the database and is replayed with all before it).

        :raises StoreUnreachable: the database cannot be reached (a 503 naming nothing of it).
        """
        if not self._opened:
            if self.unavailable is not None:
                raise RuntimeUnavailable(self.unavailable)
            raise StoreUnreachable()
        if deciding_on is not None and not self._unreachable and self.roster.find(deciding_on) is not None:
            return
        try:
            await self._catch_up(until=(await self._newest.ask((None,)))[None])
        except StoreUnreachable:
            self._unreachable = True
            raise
        self._unreachable = False

    async def _read_newest(self, _keys: list[None]) -> dict[None, int]:
        return {None: await self.db.last_event_id()}

    async def _catch_up(self, until: int | None = None) -> None:
        """Replay committed events after the cache's newest, in id order, until there are none
        (with ``until``: at once if the cache holds that id already, as after another caller's catch-up)."""
        if until is not None and self.events.last_id >= until:
            return
        async with self._tail_lock:
            self._replay_fresh()
            if until is not None and self.events.last_id >= until:
                return
            while True:
                found, rows = await self.db.tail(after=self.events.last_id, limit=_TAIL_BATCH)
                if not found:
                    return
                if found[0][0].id != self.events.last_id + 1:
                    # Retention dropped events this replica had not replayed: start over from a snapshot.
                    log.warning(
                        "embedded runtime: events %d.. are no longer in the database; reloading the replica's cache",
                        self.events.last_id + 1,
                    )
                    break
                for event, entry, size in found:
                    self._apply(event, entry, rows, size)
                if len(found) < _TAIL_BATCH:
                    return
        await self._load()

    def _apply(
        self, event: Event, entry: tuple[str, str] | None, rows: Mapping[str, PgWorker], size: int | None = None
    ) -> None:
        """Replay one committed event into the cache (the same change every replica makes).

        :param size: the JSON size of its data, if known (the event log measures it otherwise).
        """
        worker_id = event.worker_id
        kind = event.type
        worker = self.roster.find(worker_id) if worker_id is not None else None
        if kind == WORKER_CREATED and worker_id is not None and worker is None:
            row = rows.get(worker_id)
            if row is None:
                # Deleted before this replica saw it: keep its place (its
                # serial) so the deletion that follows finds it.
                row = PgWorker(
                    int(worker_id[len(WORKER_ID_PREFIX) : len(WORKER_ID_PREFIX) + 13], 16),
                    worker_id,
                    None,
                    Intent(IntentKind.ASSISTANT),
                    str(event.data.get("profile", "")),
                    event.created_at,
                    IDLE,
                    0,
                    0,
                    (),
                    None,
                )
            worker = self.roster.insert(
                worker_id, row.serial, self._record(row, self._transcripts.new_transcript(row.serial))
            )
            # The row is the worker as it is now; replay starts it as it was created, and the
            # events that follow bring it to now (its totals counted once, not twice).
            worker.status, worker.turn_number, worker.totals = IDLE, 0, NO_TOTALS
        appended = self.events.append(kind, worker_id, event.data, data_size=size, created_at=event.created_at)
        if appended.id != event.id:
            raise RuntimeError("the event cache went out of step with the database")
        if worker is None:
            return
        if entry is not None:
            worker.transcript.append(entry[0], entry[1], event.id)
        if kind in (WORKER_INPUT_ACCEPTED, WORKER_TURN_STARTED):
            worker.status = BUSY
            if kind == WORKER_TURN_STARTED:
                worker.turn_number = int(event.data["turn"])
        elif kind in TURN_ENDS:
            if worker.status is BUSY:
                worker.status = IDLE
            # The same rule the database applied in the event's transaction (decision 0201).
            worker.totals = with_event(worker.totals, kind, event.data)
        elif kind == WORKER_STOPPED:
            worker.status = STOPPED
        if kind in _QUEUE_EVENTS:
            self._queues.apply(worker, event)
        if kind in _STATUS_CHANGES:
            worker.status_since = event.created_at.timestamp()
        if kind in _ENDED_FROM_OUTSIDE:
            # A turn this replica runs was ended elsewhere (or by this replica's
            # own cancel, stop or delete): its task stops now; the database
            # already refuses its writes.
            task = worker.turn
            if task is not None:
                worker.turn = None
                task.cancel()
        if kind == WORKER_DELETED:
            if isinstance(worker.transcript, PgTranscript):
                self._transcripts.forget(worker.transcript)
            self.roster.remove(worker.worker_id)
            self.events.forget_worker(worker.worker_id)

    def _replay_fresh(self) -> None:
        """Replay this replica's own just-numbered events that are next in line (no round trip)."""
        fresh = self.db.fresh
        while (found := fresh.pop(self.events.last_id + 1, None)) is not None:
            self._apply(found[0], found[1], {}, found[2])
        # Those at or below what the cache holds were replayed from the feed.
        if fresh and min(fresh) <= self.events.last_id:
            for event_id in [event_id for event_id in fresh if event_id <= self.events.last_id]:
                del fresh[event_id]

    async def _maintain(self) -> None:
        """Renew the lease, end lost turns, prune, replay notified events; reconnect after an outage."""
        interval = min(1.0, self.db.lease_seconds / 3)
        loop = asyncio.get_running_loop()
        next_lease = 0.0
        while not self._closed:
            # Wake by the lease's renewal time at the latest: a wait that ended
            # just before it would otherwise put the renewal off a whole interval.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), max(0.0, min(interval, next_lease - loop.time())))
            self._tick.clear()
            try:
                if not self._opened:
                    await self._connect()
                    log.warning("embedded runtime: PostgreSQL store reachable again")
                    continue
                # Woken by a notification that named the newest id: read only
                # if the cache is not there yet (a replica's own decisions
                # usually got it there first). Otherwise read to find out.
                until: int | None = self._notified
                if self._notified_unknown:
                    until, self._notified_unknown = None, False
                if loop.time() >= next_lease:
                    until = None
                    next_lease = loop.time() + interval
                    await self.db.renew_lease()
                    # Events of a replica that died between a decision's commit and its numbering.
                    await self.db.sequence_pending()
                    await self._write_owed()
                    await self.db.control.end_lost_turns(
                        max_entries=self.settings.max_transcript_entries,
                        max_turns=self.settings.max_concurrent_turns,
                    )
                    await self.db.prune_events(self.settings.event_retention)
                await self._catch_up(until=until)
                await self._hand_started()
                if self._unreachable:
                    self._unreachable = False
                    log.warning("embedded runtime: PostgreSQL store reachable again")
            except StoreUnreachable:
                if not self._unreachable:
                    log.error("embedded runtime: PostgreSQL store unreachable; answering 503 until it is back")
                self._unreachable = True
                await asyncio.sleep(0.5)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("embedded runtime: PostgreSQL store maintenance failed")
                await asyncio.sleep(1)

    async def _write_owed(self) -> None:
        """Write the turn ends owed since the database went away, oldest first (one that is no longer
        this replica's turn writes nothing); stop at the first the database still does not take."""
        # Accepts whose answer was lost: a turn committed as this replica's that no task runs is owed
        # its failure too (decision 0235).
        await self.db.settle_in_doubt()
        # Turns a committed decision of the maintenance (or a turn's end) started but could not confirm.
        self._owe_orphaned()
        while self._owed:
            with contextlib.suppress(TurnLost):
                await self._owed[0]()
            self._owed.pop(0)

    def _owe(self, write: Callable[[], Awaitable[object]], worker_id: str, turn: int) -> None:
        log.warning(
            "embedded runtime: turn %d of worker %s ended while PostgreSQL was unreachable; its end is written when it is back",
            turn,
            worker_id,
        )
        self._owed.append(write)

    # -- decisions ------------------------------------------------------------------------

    async def _decide(self, decision: Any) -> Any:
        """Run a decision in the database, then replay it (and whatever came before) into the cache."""
        try:
            self.check_writable()
        except BaseException:
            decision.close()  # never started: no "never awaited" warning
            raise
        self._in_flight += 1
        started = time.perf_counter()
        try:
            result = await decision
        except StoreUnreachable:
            self._unreachable = True
            self._owe_orphaned()
            raise
        finally:
            self._in_flight -= 1
        self._commits += 1
        self._commit_seconds += time.perf_counter() - started
        try:
            # Up to this decision's events (and whatever came before them).
            await self._catch_up(until=self.db.newest_id)
        except StoreUnreachable:
            # Committed: the answer stands; the cache catches up when the database is back.
            self._unreachable = True
        await self._collect_started()
        return result

    def _owe_orphaned(self) -> None:
        """Turns a committed decision started that this replica could not confirm (their events were not
        numbered): no task runs them, so each is owed a ``store_unreachable`` failure."""
        orphaned, self.db.orphaned = self.db.orphaned, []
        for worker_id, turn in orphaned:
            worker = self.roster.find(worker_id)
            if worker is not None and worker.turn_of_task == turn:
                continue  # a task of this replica runs it: its own end is written as usual
            if worker_id in self._control_in_flight:
                # An interrupt or enqueue in flight may have started this very turn (a lost accept's
                # settlement reads the database, not the answers on their way): ask again next time.
                self.db.orphaned.append((worker_id, turn))
                continue
            self._owe_failure(worker_id, turn)

    @contextlib.contextmanager
    def _control_decision(self, worker_id: str) -> Iterator[None]:
        """Mark an ``interrupt`` or ``enqueue`` of ``worker_id`` in flight until its answer is taken."""
        self._control_in_flight[worker_id] = self._control_in_flight.get(worker_id, 0) + 1
        try:
            yield
        finally:
            left = self._control_in_flight.pop(worker_id) - 1
            if left:
                self._control_in_flight[worker_id] = left

    def _owe_failure(self, worker_id: str, turn: int) -> None:
        """A turn committed as this replica's that no task runs: it fails (``store_unreachable``) once the database is back."""
        self._owe(lambda: self._fail(worker_id, turn, "store_unreachable", UNREACHABLE_MESSAGE), worker_id, turn)

    async def _fail(self, worker_id: str, turn: int, code: str, message: str, engine_code: str | None = None) -> None:
        """``worker.turn_failed`` for a turn this replica runs; its slot is handed out. :raises TurnLost: not its turn."""
        answer = await self.db.control.fail_turn(
            worker_id,
            turn,
            turn_failed_data(turn, code, message, engine_code),
            max_entries=self.settings.max_transcript_entries,
            max_turns=self.settings.max_concurrent_turns,
        )
        if answer.outcome == "lost":
            raise TurnLost()

    async def _collect_started(self) -> None:
        """Take the turns this replica's decisions started (replayed by now) for the runtime to run."""
        if not self.db.started:
            return
        started, self.db.started = self.db.started, []
        later: list[StartedTurn] = []
        for turn in started:
            worker = self.roster.find(turn.worker_id)
            if self.events.last_id < turn.event_id or (worker is not None and worker.turn_number < turn.turn):
                # Not replayed yet: numbered by a decision still catching up (another caller, or the
                # maintenance, may collect first), or the database went away before the replay. The
                # catch-up that replays it collects it; meanwhile its lease covers it (0184).
                later.append(turn)
                continue
            if worker is None or not worker.in_turn(turn.turn):
                continue  # ended since (deleted, cancelled, or interrupted on another replica): no task
            await self._hold_history(worker)
            self._started.append(
                Started(worker, Accepted(turn.sequence, turn.event_id, turn.turn), turn.role, turn.content)
            )
        # Before those numbered while this ran: oldest first.
        self.db.started[:0] = later

    async def _hand_started(self) -> None:
        """Turns started outside the runtime's calls (a lost replica's queue going on): the runtime runs them."""
        await self._collect_started()
        if self._started and self.on_started is not None:
            self.on_started()

    def turn_slots(self) -> tuple[int, int, int, int]:
        """``(turns running, max_concurrent_turns, workers waiting for a slot, inputs queued behind turns)``
        of the runtime as a whole (every replica's turns), for ``/metrics``: as this replica's cache knows
        them, i.e. as of its last catch-up (notifications keep it close; the maintenance tick bounds the
        lag). The database is not read: a scrape costs one pass over the cached workers."""
        running = sum(1 for worker in self.roster if worker.status is BUSY and not worker.waiting)
        waiting, queued = self._queues.counts()
        return running, self.settings.max_concurrent_turns, waiting, queued

    def take_started(self) -> tuple[Started, ...]:
        """The turns this replica's decisions started from waiting inputs since last asked, oldest first, once."""
        if not self._started:
            return ()
        started, self._started = tuple(self._started), []
        return started

    async def create_worker(self, draft: WorkerDraft, *, max_workers: int) -> WorkerRecord:
        """Create the worker under ``max_workers``, counted in the database."""
        row, _ = await self._decide(
            self.db.create_worker(
                make_id=lambda serial: f"{WORKER_ID_PREFIX}{serial:013x}{secrets.token_hex(4)}",
                label=draft.label,
                intent=draft.intent,
                profile=draft.profile.name,
                tools=[tool.name for tool in draft.tools],
                created_at=draft.created_at,
                max_workers=max_workers,
                event_data=draft.event_data,
            )
        )
        worker = self.roster.find(row.worker_id)
        if worker is None:  # deleted by another replica before we replayed it
            worker = self._record(row, self._transcripts.new_transcript(row.serial))
        return worker

    async def accept_input(self, worker: WorkerRecord, role: str, content: str) -> Accepted | Queued:
        """The busy rule and admission, decided by the database for every replica."""
        self._check_length(content)
        accepted = await self._decide(
            self.db.accept_input(
                worker.worker_id,
                content=content,
                role=role,
                max_entries=self.settings.max_transcript_entries,
                entries_per_turn=self._setup.profiles.entries_per_turn(worker.profile),
                max_turns=self.settings.max_concurrent_turns,
            )
        )
        if isinstance(accepted, WaitingInput):
            return Queued(accepted.event_id, accepted.place)
        await self._hold_history(worker)
        return Accepted(accepted.transcript_sequence, accepted.event_id, accepted.worker.turn_number)

    def _check_length(self, content: str) -> None:
        limit = self.settings.max_input_chars
        if len(content) > limit:
            raise InvalidRequest(
                f"input is longer than {limit} characters",
                details=({"path": "content", "message": f"must be at most {limit} characters"},),
            )

    async def enqueue_input(
        self, worker: WorkerRecord, role: str, content: str, *, max_queued: int
    ) -> Accepted | Queued:
        """``if_busy: "enqueue"``, decided by the database: the queue is the runtime's, on every replica."""
        new = self._new_input(worker, role, content)
        with self._control_decision(worker.worker_id):
            return await self._taken(
                worker, await self._decide(self.db.control.enqueue(worker.worker_id, new, max_queued=max_queued))
            )

    async def interrupt_input(self, worker: WorkerRecord, role: str, content: str) -> Accepted | Queued:
        """``if_busy: "interrupt"``: the running turn ends wherever it runs (its owner cancels its task when it
        replays the end) and this input's turn starts on this replica, in one transaction."""
        new = self._new_input(worker, role, content)
        with self._control_decision(worker.worker_id):
            return await self._taken(worker, await self._decide(self.db.control.interrupt(worker.worker_id, new)))

    def _new_input(self, worker: WorkerRecord, role: str, content: str) -> NewInput:
        self._check_length(content)
        return NewInput(
            role,
            content,
            self.settings.max_transcript_entries,
            self._setup.profiles.entries_per_turn(worker.profile),
            self.settings.max_concurrent_turns,
        )

    async def _taken(self, worker: WorkerRecord, answer: ControlAnswer) -> Accepted | Queued:
        refused = refusal(answer, worker.worker_id, self.settings.max_transcript_entries)
        if refused is not None:
            raise refused
        if answer.outcome == "queued":
            return Queued(answer.event_id, answer.place or 1)
        await self._hold_history(worker)
        return Accepted(answer.sequence, answer.event_id, answer.turn)

    async def _hold_history(self, worker: WorkerRecord) -> None:
        """Have the transcript of a worker whose turn starts here in memory: its engine reads its history
        synchronously (a busy worker's transcript stays there until the turn ends). The database being away
        now does not undo the decision already committed: the turn starts regardless."""
        if isinstance(worker.transcript, PgTranscript):
            with contextlib.suppress(StoreUnreachable):
                await self._transcripts.load(worker.transcript)

    async def add_turn_entry(
        self, worker: WorkerRecord, turn: int, role: str, content: str, event_type: str, data: dict[str, Any]
    ) -> Event | None:
        """A tool entry, written only while turn ``turn`` is still this replica's."""
        try:
            (event,) = await self._decide(
                self.db.record_in_turn(worker.worker_id, turn, [(role, content, event_type, data)])
            )
        except TurnLost:
            return None
        data["transcript_sequence"] = event.data["transcript_sequence"]
        return event  # type: ignore[no-any-return]

    async def complete_turn(
        self, worker: WorkerRecord, turn: int, reply: str | None, data: Mapping[str, object]
    ) -> str | None:
        """The reply and the end, written only while the turn is still this replica's (once the
        database is back, if it is away now: ``None`` meanwhile, as for a turn no longer current)."""

        def write() -> Awaitable[list[Event]]:
            return self.db.complete_turn(
                worker.worker_id,
                turn,
                reply=reply,
                max_entries=self.settings.max_transcript_entries,
                completed={key: value for key, value in data.items() if key != "turn"},
                max_turns=self.settings.max_concurrent_turns,
            )

        try:
            events = await self._decide(write())
        except TurnLost:
            return None
        except StoreUnreachable:
            self._owe(write, worker.worker_id, turn)
            return None
        if events and events[-1].type == WORKER_TURN_FAILED:
            return str(events[-1].data["code"])  # transcript_full
        return COMPLETED

    async def fail_turn(
        self, worker: WorkerRecord, turn: int, code: str, message: str, *, engine_code: str | None = None
    ) -> bool:
        """``worker.turn_failed``, written only while the turn is still this replica's (once the
        database is back, if it is away now)."""

        def write() -> Awaitable[None]:
            return self._fail(worker.worker_id, turn, code, message, engine_code)

        try:
            await self._decide(write())
        except TurnLost:
            return False
        except StoreUnreachable:
            self._owe(write, worker.worker_id, turn)
            return False
        return True

    async def cancel_turn(self, worker: WorkerRecord, reason: str) -> bool:
        """End the worker's turn wherever it runs (its owner cancels the task when it replays the end), or the
        input it waits for a slot with; drop its queue."""
        return (await self._end(worker, reason=reason)).changed

    async def cancel_turn_keeping_queue(self, worker: WorkerRecord) -> bool:
        """Cancel, keeping the queue: the next queued input's turn starts, on this replica."""
        return (await self._end(worker, reason="cancel", keep=True)).changed

    async def stop_worker(self, worker: WorkerRecord, reason: str = "stop") -> bool:
        """Cancel any turn (wherever it runs), drop the queue and stop the worker."""
        return (await self._end(worker, reason=reason, stop=True)).changed

    async def delete_worker(self, worker: WorkerRecord) -> None:
        """Stop and remove the worker; its slot is free at once on every replica."""
        await self._end(worker, reason="delete", delete=True)

    async def _end(
        self, worker: WorkerRecord, *, reason: str, keep: bool = False, stop: bool = False, delete: bool = False
    ) -> ControlAnswer:
        answer: ControlAnswer = await self._decide(
            self.db.control.end_worker(
                worker.worker_id,
                reason=reason,
                keep=keep,
                stop=stop,
                delete=delete,
                max_entries=self.settings.max_transcript_entries,
                max_turns=self.settings.max_concurrent_turns,
            )
        )
        if answer.outcome == "unknown":
            raise UnknownWorker("no such worker in this runtime", worker_id=worker.worker_id)
        if answer.outcome == "stopped":
            raise WorkerStopped("the worker is stopped", worker_id=worker.worker_id)
        return answer

    async def cull(self, policy: CullPolicy) -> CullResult:
        """Stop and delete what is due in one transaction of conditional updates; exactly one replica acts on each."""
        result: CullResult = await self._decide(cull(self.db, policy))
        return result

    async def abandon_turn(self, worker: WorkerRecord) -> None:
        """Nothing is written: this replica leaves, and another ends the turn as ``replica_lost``."""

    async def settle(self) -> None:
        """Every decision was committed before it returned."""

    def commit_stats(self) -> CommitStats | None:
        """Decisions this replica committed (those refused, e.g. ``worker_busy``, are not counted), their
        time in all (round trips included), and the decisions in flight now."""
        return CommitStats(self._commits, self._commit_seconds, self._in_flight)

    def check_writable(self) -> None:
        """``store_unreachable`` (503) while the database cannot be reached."""
        if self._unreachable or not self._opened:
            raise StoreUnreachable()

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """``store_unreachable`` while the database cannot be reached (nothing of it is named)."""
        if self._unreachable or (not self._opened and self.unavailable is None):
            return (Diagnostic.error("store_unreachable", UNREACHABLE_MESSAGE),)
        return ()


async def _connect(dsn: str) -> Any:
    import asyncpg

    return await asyncpg.connect(**connect_kwargs(dsn), timeout=10)
