"""The embedded runtime: workers, turns, transcripts and the event log, over a store.

The runtime checks requests, resolves profiles, runs turns (one asyncio task
each, through the profile's engine) and serves reads; everything that must be
decided once — capacity and serials, the busy rule, a turn's writes and its
end, cancel, stop, delete, event ids — it asks its store (the seam,
:mod:`~runtime_registry.runtimes.embedded.store`; decision 0110). Operations
that change something are coroutines: a store that decides in this process's
memory (memory, SQLite) answers without suspending, so they cost a plain call
and the busy rule stays atomic without a lock; a store shared by replicas may
suspend for its database. Each such operation returns once the store made the
change as durable as it promises (``acknowledged``: committed) and answers
what the caller needs (:class:`InputOutcome`, :class:`ActionOutcome`). Reads
are plain methods over the store's cache and never suspend. A turn runs as an
asyncio task, so operations that start turns must be called from inside the
running event loop.

The runtime knows nothing of pluggy, HTTP or its own ``runtime_id``; it speaks
``registry_core``'s typed errors and kind-neutral models (decision 0004).

It checks only what it alone knows — its limits, its own list cursors, its
workers — and trusts what its caller checked before (decision 0074): the
registry checks page ``limit``s, ``start`` and event cursors' types and
ranges, and the converter checks request bodies (``content`` not blank,
``kind`` a known role). Called directly as a library, it expects the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

import attrs

from registry_core.blocks import EventLog, EventSlice, Roster
from registry_core.engines import EngineProfile, TokenUsage, TurnEngine, TurnResult
from registry_core.errors import InvalidRequest, RuntimeUnavailable
from registry_core.models import Diagnostic, Intent, IntentKind, TranscriptEntry
from registry_core.page_bytes import fit_to_bytes, json_size, text_size
from registry_core.tools import TOOL_CAPABILITY_PREFIX, WorkerTool
from runtime_registry.runtimes.embedded.builtin_engines import ends_at_once, instant_result
from runtime_registry.runtimes.embedded.culling import Culler, CullPolicy, CullResult
from runtime_registry.runtimes.embedded.memory_store import WORKER_ID_PREFIX, MemoryStore
from runtime_registry.runtimes.embedded.profiles import ProfileBook
from runtime_registry.runtimes.embedded.settings import EmbeddedSettings
from runtime_registry.runtimes.embedded.store import COMPLETED, StoreSetup, StoreUnusable, WorkerDraft, WorkerStore
from runtime_registry.runtimes.embedded.transcript import ENTRY_ENVELOPE_BYTES
from runtime_registry.runtimes.embedded.turn_queue import Queued
from runtime_registry.runtimes.embedded.turn_task import TurnTasks, end_instant_turn, log_failure, run_turn_task
from runtime_registry.runtimes.embedded.turns import EmbeddedTurn
from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = [
    "DEFAULT_INTENT",
    "WORKER_ID_PREFIX",
    "ActionOutcome",
    "CreatedWorker",
    "EmbeddedRuntime",
    "InputOutcome",
    "TranscriptSlice",
]

log = logging.getLogger("runtime_registry.runtimes.embedded")

#: The intent of a worker created without one.
DEFAULT_INTENT = Intent(IntentKind.ASSISTANT)
#: How often a runtime whose store could not be opened for a passing reason
#: (read-only or full filesystem, another server on the file) tries again.
STORE_RETRY_SECONDS = 2.0


@attrs.frozen
class CreatedWorker:
    """A new worker and the diagnostics of its creation (none today; the field stays for the provider)."""

    worker: WorkerRecord
    diagnostics: tuple[Diagnostic, ...] = ()


#: The status an input answers with while it waits for its turn.
QUEUED = "queued"


# Not frozen, as the store's Accepted: one per input, read once by the provider (decision 0263).
@attrs.define
class InputOutcome:
    """Accepted input: its transcript sequence, its ``worker.input_accepted`` event id, and the worker's status then.

    A queued input (``status`` :data:`QUEUED`) has no sequence yet; ``event_id`` is
    its ``worker.input_queued`` event and ``queue_position`` its place (1: next).
    """

    sequence: int | None
    event_id: int
    status: str
    queue_position: int | None = None


@attrs.frozen
class ActionOutcome:
    """What cancel or stop did: whether anything changed, and the worker's status then."""

    changed: bool
    status: str


@attrs.frozen
class TranscriptSlice:
    """A transcript page's entries, the worker's transcript length and the next start."""

    items: tuple[TranscriptEntry, ...]
    total: int
    next_start: int | None


class EmbeddedRuntime:
    """An in-process worker runtime over a store (memory unless one is given).

    :param settings: limits and profiles; ``EmbeddedSettings()`` for the defaults.
    :param event_start_id: the first event's id; ``None`` (the default) for the
        clock in microseconds, so that event ids are never reused across
        restarts (decision 0055). Tests that reason about small ids pin it.
    :param worker_start_serial: the first worker's creation serial; ``None``
        (the default) for the clock in microseconds, so that worker ids and
        list cursors are never reused across restarts either (decision 0065).
    :param store: where workers, transcripts and events live; ``None`` for a
        :class:`MemoryStore` (this runtime is usable at once). A durable store
        is usable after :meth:`start` has restored what it holds: ids, list
        cursors and event ids then continue from the previous run (decision 0111).
    :param engines: the turn engines profiles may use (what the loaded
        plugins registered); ``None`` for the builtin ``record`` and ``echo``.
    :param tools: the tools profiles may list (none if omitted).
    :param name: what log lines call this runtime (the provider gives its runtime id).
    :raises InvalidRequest: a profile names an engine or tool that is not
        there, or its engine refused a setting (paths relative to the settings).
    """

    def __init__(
        self,
        settings: EmbeddedSettings | None = None,
        *,
        event_start_id: int | None = None,
        worker_start_serial: int | None = None,
        store: WorkerStore | None = None,
        engines: Mapping[str, TurnEngine] | None = None,
        tools: Mapping[str, WorkerTool] | None = None,
        name: str = "embedded",
    ) -> None:
        self.settings = settings = settings or EmbeddedSettings()
        self.name = name
        # Every turn task until it ends (cancelled ones too): close waits for them.
        self._turn_tasks = TurnTasks()
        self.profiles = ProfileBook(settings.profiles, settings.default_profile, engines=engines, tools=tools)
        self.store = store = MemoryStore() if store is None else store
        store.setup(StoreSetup(settings, event_start_id, worker_start_serial, self.profiles))
        # Turns a store starts by itself (a replica taking over a lost replica's queue) run here too.
        store.on_started = self._run_started
        self._closed = False
        # The largest JSON size of any worker created (never lowered): a bound for list pages.
        self._largest_worker_bytes = 0
        # Why the runtime cannot be used (a store that must be opened first says so).
        self._unavailable: str | None = store.unavailable
        self._reopening: asyncio.Task[None] | None = None
        #: What culling removes (``idle_stop_seconds``, ``stopped_delete_seconds``; decision 0220).
        self.cull_policy = CullPolicy(settings.idle_stop_seconds, settings.stopped_delete_seconds)
        #: The sweeping task, once the runtime is started; ``None`` while culling is off.
        self.culler = Culler(self.cull, self.cull_policy, name=name) if self.cull_policy.enabled else None

    # The store's caches, read through the store each time: a replica's store replaces them
    # whenever it reloads (it fell behind retention), not only in open().
    @property
    def _roster(self) -> Roster[WorkerRecord]:
        return self.store.roster

    @property
    def _events(self) -> EventLog:
        return self.store.events

    @property
    def events(self) -> EventLog:
        """The event log (the store's): reads, waits and live-only publishing."""
        return self._events

    # -- the store ---------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and take back what it holds; a memory store holds nothing.

        A store that cannot be used (damaged, foreign, newer, in use) leaves
        the runtime unavailable with a reason (:attr:`unavailable_reason`),
        and the file untouched. Workers that were in a turn when the last run
        ended come back idle, each with a ``worker.turn_interrupted`` event
        (``reason: "restart"``); the turn is not run again.
        """
        try:
            await self.store.open()
        except StoreUnusable as exc:
            self._unavailable = str(exc)
            log.error("embedded runtime: the store cannot be used: %s", exc)
            if exc.transient and not self._closed:
                # A read-only or full filesystem, or another server on the
                # file: try again until it goes away (issue 24, point 7).
                self._reopening = asyncio.create_task(self._reopen(), name="embedded-store-reopen")
            return
        self._opened()

    def _opened(self) -> None:
        for worker in self._roster:
            self._largest_worker_bytes = max(self._largest_worker_bytes, _worker_page_bytes(worker))
        self._unavailable = None
        if self.culler is not None and not self._closed:
            self.culler.start()

    async def _reopen(self) -> None:
        """Open the store again every :data:`STORE_RETRY_SECONDS` while the reason it could not is transient."""
        while not self._closed:
            await asyncio.sleep(STORE_RETRY_SECONDS)
            try:
                await self.store.open()
            except StoreUnusable as exc:
                if str(exc) != self._unavailable:
                    log.error("embedded runtime: the store cannot be used: %s", exc)
                self._unavailable = str(exc)
                if not exc.transient:
                    return
                continue
            except Exception:
                log.exception("embedded runtime: opening the store again failed")
                return
            if self._closed:
                await self.store.close()
                return
            self._opened()
            log.warning("embedded runtime: the store can be used again")
            return

    def refresh(self, *, deciding_on: str | None = None) -> Awaitable[None]:
        """Bring the store's caches up to what is committed (a store shared by replicas); at once otherwise.

        Await it: it is the store's own coroutine, without one of the runtime's around it (every
        request awaits it; decision 0263).

        :param deciding_on: the request is a store decision on this worker
            (send input): see :meth:`WorkerStore.refresh`.
        :raises RuntimeUnavailable: the runtime cannot be used, or its store cannot be reached.
        """
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)
        return self.store.refresh(deciding_on=deciding_on)

    @property
    def unavailable_reason(self) -> str | None:
        """Why the runtime cannot be used (client-safe), or ``None`` when it can."""
        return self._unavailable

    def _check_writable(self) -> None:
        self._check_open()
        self.store.check_writable()

    async def cull(self) -> CullResult:
        """One culling sweep now (the culler calls it every interval): stop idle workers, delete expired ones.

        Returns what it stopped and deleted; nothing while culling is off.

        :raises RuntimeUnavailable: the runtime or its store cannot take writes now.
        """
        self._check_writable()
        if not self.cull_policy.enabled:
            return CullResult()
        result = await self.store.cull(self.cull_policy)
        await self.store.settle()
        return result

    # -- workers -----------------------------------------------------------------

    async def create_worker(
        self,
        *,
        intent: Intent | None = None,
        profile: str | None = None,
        label: str | None = None,
        capabilities: Sequence[str] = (),
    ) -> CreatedWorker:
        """Create an idle worker.

        :param capabilities: the tools to grant, as ``tool:NAME``; each must
            be one the profile may grant. None asked for: the worker has no tools.
        :param profile: a profile selector; omitted or ``"default"``: the default.
        :raises UnknownProfile: the runtime has no such profile (the closest names in the message).
        :raises InvalidRequest: a capability the profile cannot grant;
            ``details`` names each such ``capabilities[i]``.
        :raises CapacityExceeded: the runtime holds ``max_workers`` workers.
        """
        self._check_writable()
        resolved = self.profiles.resolve(profile)
        tools = _granted_tools(capabilities, resolved, self.profiles.tools(resolved))
        intent = intent or DEFAULT_INTENT
        data: dict[str, object] = {"profile": resolved.name, "intent": intent.kind.value}
        draft = WorkerDraft(label, intent, resolved, datetime.now(UTC), tools, data)
        worker = await self.store.create_worker(draft, max_workers=self.settings.max_workers)
        self._largest_worker_bytes = max(self._largest_worker_bytes, _worker_page_bytes(worker))
        await self.store.settle()
        return CreatedWorker(worker)

    def get_worker(self, worker_id: str) -> WorkerRecord:
        """One worker. :raises UnknownWorker: no such worker in this runtime."""
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)
        return self._roster.get(worker_id)

    def list_workers(
        self, *, limit: int, cursor: str | None = None, where: Callable[[WorkerRecord], bool] | None = None
    ) -> tuple[list[WorkerRecord], str | None]:
        """Workers in creation order after ``cursor``, at most ``limit``, and the next cursor.

        The cursor is the creation serial of the last worker of the previous
        page and this runtime's cursor tag: it stays valid when that worker
        (or any other) is deleted, and a page costs O(page) (decision 0065).

        With ``where``, only the workers it is true of (a list filter; the
        cursor is the same, so it stays valid under another filter).

        :raises InvalidCursor: a cursor this runtime did not issue.
        """
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)
        roster = self._roster
        workers, next_cursor = roster.page(cursor=cursor, limit=limit, where=where)
        # Measuring each worker cost a third of a 50-worker page; while no
        # worker is large, no page of this many can be over the bound.
        if workers and len(workers) * self._largest_worker_bytes > self.settings.max_page_bytes:
            kept = fit_to_bytes(map(_worker_page_bytes, workers), self.settings.max_page_bytes)
            if kept < len(workers):
                workers = workers[:kept]
                next_cursor = roster.cursor_after(workers[-1].worker_id)
        return workers, next_cursor

    def __len__(self) -> int:
        """How many workers the runtime holds (stopped ones included, deleted ones not)."""
        return len(self._roster)

    # -- turns -------------------------------------------------------------------

    @property
    def busy_policies(self) -> tuple[str, ...]:
        """The ``if_busy`` policies :meth:`send_input` takes: those its store decides (decision 0190)."""
        return self.store.busy_policies

    async def send_input(
        self, worker_id: str, content: str, *, role: str = "user", if_busy: str = "reject"
    ) -> InputOutcome:
        """Accept input into the transcript and start a turn; ``if_busy`` says what happens while one runs.

        ``reject``: ``WorkerBusy``. ``interrupt``: the running turn ends with
        ``worker.turn_cancelled`` (``reason: "interrupt"``) and this input's
        turn starts. ``enqueue``: the input waits behind the turn
        (``status: "queued"``) and starts when the turns before it have ended.

        :raises UnknownWorker: no such worker.
        :raises WorkerStopped: the worker was stopped.
        :raises WorkerBusy: a turn is in flight and ``if_busy`` is ``reject``.
        :raises QueueFull: ``enqueue`` while ``max_queued_inputs`` inputs wait already.
        :raises InvalidRequest: content longer than ``max_input_chars`` (names ``content``).
        :raises CapacityExceeded: the transcript has no room for the input and its reply.
        :raises UnsupportedOperation: a policy the store does not decide.
        """
        self._check_writable()
        # Before anything changes: outside a running loop this raises, and the
        # worker must not be left busy with no turn. The turn's task is made on it.
        loop = asyncio.get_running_loop()
        worker = self.get_worker(worker_id)
        if if_busy == "enqueue":
            taken = await self.store.enqueue_input(worker, role, content, max_queued=self.settings.max_queued_inputs)
        elif if_busy == "interrupt":
            taken = await self.store.interrupt_input(worker, role, content)
            # The store ended the running turn: its task writes nothing more. Only a task of a
            # turn that ended: another call's interrupt, decided after this one on another
            # connection, may have started this worker's next turn here already (PostgreSQL).
            if not worker.in_turn(worker.turn_of_task):
                _cancel_task(worker)
        else:
            taken = await self.store.accept_input(worker, role, content)
        # Turns a store's other decisions started that this call's catch-up took in (PostgreSQL).
        self._run_started()
        if isinstance(taken, Queued):
            # Behind the worker's turn, or for a turn slot (admission): not in the transcript yet.
            await self.store.settle()
            return InputOutcome(None, taken.event_id, QUEUED, taken.position)
        self._run_turn(worker, taken.turn, taken.sequence, role, content, loop)
        status = worker.status
        await self.store.settle()
        return InputOutcome(taken.sequence, taken.event_id, status)

    def _run_turn(
        self,
        worker: WorkerRecord,
        number: int,
        sequence: int,
        role: str,
        content: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Run turn ``number`` (its input is entry ``sequence``) as the worker's task on ``loop`` (the running
        one if not given); none for a turn that already ended (a decision of another replica, replayed with
        this one's, ended it first)."""
        if not worker.in_turn(number):
            return
        if loop is None:
            loop = asyncio.get_running_loop()
        worker.turn_of_task = number
        engine = self.profiles.engine(worker.profile)
        if self.store.ends_turns_at_once and ends_at_once(engine, worker.profile):
            # A turn that ends at once runs in one step of the loop, without a task (decision 0247);
            # its engine is a builtin one whose result is known now (decision 0257).
            ending = end_instant_turn(
                worker, number, instant_result(engine, content), self._complete_turn, self._fail_turn
            )
            worker.turn = self._turn_tasks.start_instant(ending, loop)
            return
        turn = EmbeddedTurn(
            worker=worker,
            number=number,
            history_length=sequence - 1,
            content=content,
            role=role,
            profile=worker.profile,
            tools=worker.tools,
            store=self.store,
            max_transcript_entries=self.settings.max_transcript_entries,
            deltas_per_second=self.settings.output_deltas_per_second,
        )
        running = run_turn_task(
            turn,
            engine,
            complete=lambda result: self._complete_turn(worker, number, result),
            fail=lambda code, message, cause, engine_code: self._fail_turn(
                worker, number, code, message, cause, engine_code, turn
            ),
            loop=loop,
        )
        worker.turn = self._turn_tasks.start(running, loop)

    def _run_started(self) -> None:
        """Run the turns the store started from waiting inputs (a turn ended, or a worker left the line)."""
        for started in self.store.take_started():
            if self._closed:
                return
            accepted = started.accepted
            self._run_turn(started.worker, accepted.turn, accepted.sequence, started.role, started.content)

    def turn_slots(self) -> tuple[int, int, int, int] | None:
        """``(turns running, max_concurrent_turns, workers waiting for a slot, inputs queued behind turns)``
        for ``/metrics``; ``None`` for a store that keeps no such count."""
        slots = getattr(self.store, "turn_slots", None)
        return slots() if callable(slots) else None

    async def _complete_turn(self, worker: WorkerRecord, number: int, result: TurnResult) -> None:
        """Ask the store to end turn ``number`` with the reply (if the profile replies) and ``worker.turn_completed``."""
        data = {"turn": number, "usage": _usage_data(result.usage), "stop_reason": result.stop_reason}
        reply = result.text if self.profiles.replies(worker.profile) else None
        ended = await self.store.complete_turn(worker, number, reply, data)
        if ended is not None:
            _detach(worker)
            self._run_started()
            if ended != COMPLETED:
                log_failure(self.name, worker.worker_id, number, ended)

    async def _fail_turn(
        self,
        worker: WorkerRecord,
        number: int,
        code: str,
        message: str,
        cause: str | None = None,
        engine_code: str | None = None,
        turn: EmbeddedTurn | None = None,
    ) -> None:
        """Ask the store to end turn ``number`` with ``worker.turn_failed``; log it if it was still the worker's.

        :param turn: the turn's ``Turn``, whose unsent deltas are dropped (an instant turn has none: decision 0257).
        """
        if turn is not None:
            turn.discard_deltas()
        if await self.store.fail_turn(worker, number, code, message, engine_code=engine_code):
            log_failure(self.name, worker.worker_id, number, code, cause or engine_code)
            _detach(worker)
            self._run_started()

    async def cancel(self, worker_id: str, *, keep_queued: bool = False) -> ActionOutcome:
        """Cancel the in-flight turn and drop the inputs queued behind it; the worker is idle and usable afterwards.

        :param keep_queued: keep the queued inputs instead: the next one's turn starts at once.
        :return: whether there was a turn to cancel (``changed=False``: a no-op).
        :raises WorkerStopped: the worker was stopped.
        """
        worker = self.get_worker(worker_id)
        self.store.check_writable()
        if keep_queued and "enqueue" in self.store.busy_policies:
            changed = await self.store.cancel_turn_keeping_queue(worker)
        else:
            changed = await self.store.cancel_turn(worker, "cancel")
        _cancel_task(worker)
        self._run_started()
        outcome = ActionOutcome(changed, worker.status)
        await self.store.settle()
        return outcome

    async def stop(self, worker_id: str) -> ActionOutcome:
        """Cancel any turn and stop the worker for good. Idempotent.

        :return: whether the worker was running (``changed=False``: already stopped).
        """
        worker = self.get_worker(worker_id)
        self.store.check_writable()
        changed = await self.store.stop_worker(worker)
        _cancel_task(worker)
        self._run_started()  # its turn's slot went to a worker waiting for one
        outcome = ActionOutcome(changed, worker.status)
        await self.store.settle()
        return outcome

    async def delete(self, worker_id: str) -> None:
        """Remove the worker for good: cancel any turn, stop it, and forget its record and transcript.

        Its capacity slot is free at once; afterwards the worker is unknown and
        its id is never issued again. A ``worker.deleted`` event is appended;
        the worker's earlier events stay in the log until retention drops them.

        :raises UnknownWorker: no such worker (deleting twice is an error, not a no-op).
        """
        worker = self.get_worker(worker_id)
        self.store.check_writable()
        await self.store.delete_worker(worker)
        _cancel_task(worker)
        self._run_started()
        await self.store.settle()

    # -- transcripts -------------------------------------------------------------

    def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptSlice:
        """Entries with ``sequence >= start`` (1-based), at most ``limit``; O(page)."""
        transcript = self.get_worker(worker_id).transcript
        items, next_start = transcript.entries(start=start, limit=limit)
        if items:
            # Bounded by bytes too (decision 0080); the sizes are measured
            # lazily, only as far as the bound reaches.
            sizes = (ENTRY_ENVELOPE_BYTES + text_size(entry.content) for entry in items)
            kept = fit_to_bytes(sizes, self.settings.max_page_bytes)
            if kept < len(items):
                items, next_start = items[:kept], start + kept
        return TranscriptSlice(items, len(transcript), next_start)

    async def read_transcript_bounded(self, worker_id: str, *, start: int, limit: int) -> TranscriptSlice:
        """:meth:`read_transcript` as the API serves it: a store that reads a file does it off the loop's
        thread and stops at ``max_page_bytes`` (issue 24, points 5 and 8); others answer in memory."""
        transcript = self.get_worker(worker_id).transcript
        bounded = getattr(transcript, "bounded_entries", None)
        if bounded is None:
            return self.read_transcript(worker_id, start=start, limit=limit)
        items, next_start, length = await bounded(start=start, limit=limit, max_bytes=self.settings.max_page_bytes)
        return TranscriptSlice(items, length, next_start)

    # -- events ------------------------------------------------------------------

    def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventSlice:
        """Committed events after ``cursor`` held in memory; one worker's only with ``worker_id`` (see :meth:`EventLog.read`).

        A durable store keeps only its newest ``events_in_memory`` events
        here: :meth:`page_events` reads the older retained ones too.
        """
        self._check_event_read(worker_id)
        return self._events.read(
            cursor=cursor, limit=limit, worker_id=worker_id, max_bytes=self.settings.max_page_bytes
        )

    async def page_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventSlice:
        """:meth:`read_events` over every retained event: older than the in-memory window, from the store."""
        self._check_event_read(worker_id)
        return await self.store.read_events(
            cursor=cursor, limit=limit, worker_id=worker_id, max_bytes=self.settings.max_page_bytes
        )

    def _check_event_read(self, worker_id: str | None) -> None:
        if worker_id is not None:
            self.get_worker(worker_id)
        elif self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a committed event after ``cursor``; ``False`` at once after close."""
        return await self._events.wait(cursor=cursor, timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Cancel every in-flight turn, wake every waiter and close the store; idempotent and prompt.

        Each in-flight turn is handed to the store first (:meth:`WorkerStore.abandon_turn`):
        a memory store ends it with ``worker.turn_cancelled`` (``reason:
        "shutdown"``); a durable store writes nothing, and the next run brings
        the worker back idle with ``worker.turn_interrupted`` — the same as
        after a crash (decision 0086).
        """
        if self._closed:
            return
        self._closed = True
        if self.culler is not None:
            await self.culler.stop()
        if self._reopening is not None:
            self._reopening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reopening
        for worker in list(self._roster):
            task = worker.turn
            if task is not None:
                worker.turn = None
                await self.store.abandon_turn(worker)
                task.cancel()
        self._events.close()
        # Let the cancelled tasks finish so none is destroyed pending (for a
        # bounded time: an engine that ignores cancellation may never finish).
        await self._turn_tasks.drain()
        await self.store.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeUnavailable("the runtime is closed")
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)


def _detach(worker: WorkerRecord) -> None:
    """The turn ended by itself: the worker no longer holds its task."""
    worker.turn = None


def _cancel_task(worker: WorkerRecord) -> None:
    """The store ended the turn: detach the task, then cancel it (it writes nothing more)."""
    task = worker.turn
    if task is not None:
        worker.turn = None
        task.cancel()


#: An upper bound of a worker's JSON besides its texts (ids, kind, status,
#: profile, timestamp, keys); runtime ids are at most 120 characters.
_WORKER_ENVELOPE_BYTES = 640


def _intent_bytes(intent: Intent | None) -> int:
    if intent is None:
        return 4
    return 64 + sum(json_size(text) for text in (intent.purpose, intent.objective, intent.role))


def _worker_page_bytes(worker: WorkerRecord) -> int:
    """An upper bound of a worker's JSON in a list page."""
    return _WORKER_ENVELOPE_BYTES + json_size(worker.label) + _intent_bytes(worker.intent)


def _granted_tools(
    capabilities: Sequence[str], profile: EngineProfile, grantable: Mapping[str, WorkerTool]
) -> tuple[WorkerTool, ...]:
    """The tools ``capabilities`` asks for, each one of ``grantable`` (the profile's); else ``InvalidRequest``."""
    granted = []
    problems = []
    for index, capability in enumerate(capabilities):
        name = capability[len(TOOL_CAPABILITY_PREFIX) :] if capability.startswith(TOOL_CAPABILITY_PREFIX) else None
        tool = grantable.get(name) if name else None
        if tool is None:
            problems.append(
                {"path": f"capabilities[{index}]", "message": f"not a tool profile {profile.name!r} can grant"}
            )
        elif tool not in granted:
            granted.append(tool)
    if problems:
        allowed = ", ".join(TOOL_CAPABILITY_PREFIX + name for name in grantable) or "none"
        raise InvalidRequest(
            f"a capability cannot be granted (profile {profile.name!r} grants: {allowed})", details=problems
        )
    return tuple(granted)


def _usage_data(usage: TokenUsage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
