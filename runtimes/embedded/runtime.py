"""The embedded runtime: workers, turns, transcripts and the event log, in the backend's memory.

Every operation except :meth:`EmbeddedRuntime.wait_for_events` and
:meth:`EmbeddedRuntime.close` is a plain (synchronous) method that never
suspends. That is what makes the busy rule atomic without a lock — between
"is the worker idle?" and "the worker is busy" no other coroutine can run, so
of N concurrent inputs to an idle worker exactly one is accepted — and it
keeps each call a few microseconds. A turn runs as an asyncio task, so
operations that start turns must be called from inside the running event loop.

The runtime knows nothing of pluggy, HTTP or its own ``runtime_id``; it speaks
``registry_core``'s typed errors and kind-neutral models (decision 0004).

It checks only what it alone knows — its limits (``max_input_chars``,
capacity), its own list cursors, its workers — and trusts what its caller
checked before (decision 0074): the registry checks page ``limit``s, ``start``
and event cursors' types and ranges, and the converter checks request bodies
(``content`` not blank, ``kind`` a known role). Called directly as a library,
it expects the same.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import attrs

from registry_core.engines import TokenUsage, TurnEngine, TurnResult
from registry_core.errors import (
    CapacityExceeded,
    InvalidCursor,
    InvalidRequest,
    RuntimeUnavailable,
    UnknownWorker,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.event_contract import (
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_FAILED,
    WORKER_TURN_INTERRUPTED,
    WORKER_TURN_STARTED,
)
from registry_core.models import Diagnostic, Intent, IntentKind, TranscriptEntry
from registry_core.page_bytes import fit_to_bytes, json_size, text_size
from registry_core.tools import TOOL_CAPABILITY_PREFIX, WorkerTool
from runtime_registry.runtimes.embedded.events import EventLog, EventSlice, clock_start_id
from runtime_registry.runtimes.embedded.profiles import Profile, ProfileBook
from runtime_registry.runtimes.embedded.roster import Roster
from runtime_registry.runtimes.embedded.settings import EmbeddedSettings
from runtime_registry.runtimes.embedded.store import MemoryStore, StoreMeta, StoreSnapshot, StoreUnusable, WorkerStore
from runtime_registry.runtimes.embedded.store_budget import WORKER_RECORD_BYTES, StoreBudget
from runtime_registry.runtimes.embedded.transcript import ASSISTANT, ENTRY_ENVELOPE_BYTES
from runtime_registry.runtimes.embedded.turn_task import TurnTasks, log_failure, run_turn_task
from runtime_registry.runtimes.embedded.turns import EmbeddedTurn
from runtime_registry.runtimes.embedded.workers import BUSY, IDLE, STOPPED, WorkerRecord

__all__ = ["DEFAULT_INTENT", "WORKER_ID_PREFIX", "CreatedWorker", "EmbeddedRuntime", "TranscriptSlice"]

log = logging.getLogger("runtime_registry.runtimes.embedded")

#: The intent of a worker created without one.
DEFAULT_INTENT = Intent(IntentKind.ASSISTANT)
#: Worker ids are this prefix, the worker's creation serial in 13 hex digits and
#: 8 random hex digits: opaque, never derived from a label, and never reused,
#: since serials are (decision 0065).
WORKER_ID_PREFIX = "w-"


@attrs.frozen
class CreatedWorker:
    """A new worker and the diagnostics of its creation (``profile_fallback``)."""

    worker: WorkerRecord
    diagnostics: tuple[Diagnostic, ...] = ()


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
        cursors and event ids then continue from the previous run (decision 0086).
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
        self.events = EventLog(
            settings.event_retention,
            start_id=event_start_id,
            on_append=store.event_appended if store.durable else None,
            max_retained_bytes=settings.max_store_bytes,
        )
        # The budget bounds what the memory store holds; a durable store keeps
        # transcripts on disk, where memory does not grow with them (decision 0081).
        self.budget: StoreBudget | None = None if store.durable else StoreBudget(settings.max_store_bytes)
        self._workers: dict[str, WorkerRecord] = {}
        store.bind(self._workers)
        # Creation order, for list pages that cost O(page) and cursors that
        # survive deletes (decision 0065).
        self._roster = Roster(clock_start_id() if worker_start_serial is None else worker_start_serial)
        # Ends every list cursor this runtime issues: another runtime's cursor,
        # or one from before a restart, is then refused rather than misread.
        self._cursor_tag = secrets.token_hex(4)
        self._closed = False
        # The largest JSON size of any worker created (never lowered): a bound for list pages.
        self._largest_worker_bytes = 0
        # A durable store must be opened (start) before the runtime is used;
        # this is why it cannot be, when it is not.
        self._unavailable: str | None = "the runtime has not been started" if store.durable else None

    # -- the store ---------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and take back what it holds; a memory store holds nothing.

        A store that cannot be used (damaged, foreign, newer, in use) leaves
        the runtime unavailable with a reason (:attr:`unavailable_reason`),
        and the file untouched. Workers that were in a turn when the last run
        ended come back idle, each with a ``worker.turn_interrupted`` event
        (``reason: "restart"``); the turn is not run again.
        """
        fresh = StoreMeta(
            first_serial=self._roster.next_serial,
            next_serial=self._roster.next_serial,
            first_event_id=self.events.start_id,
            last_event_id=self.events.last_id,
            cursor_tag=self._cursor_tag,
        )
        try:
            snapshot = await self.store.open(fresh)
        except StoreUnusable as exc:
            self._unavailable = str(exc)
            log.error("embedded runtime: the store cannot be used: %s", exc)
            return
        if snapshot is not None:
            try:
                self._restore(snapshot)
            except (ValueError, KeyError, TypeError):
                # Rows that break the runtime's invariants (serials out of
                # order, events with gaps): refuse them as a damaged file.
                log.exception("embedded runtime: the store's contents are inconsistent")
                self._unavailable = "the store file's contents are inconsistent; it was left untouched"
                self._workers.clear()
                await self.store.close()
                return
        self._unavailable = None

    def _restore(self, snapshot: StoreSnapshot) -> None:
        meta = snapshot.meta
        self.events = EventLog(
            self.settings.event_retention,
            start_id=meta.first_event_id,
            on_append=self.store.event_appended,
            max_retained_bytes=self.settings.max_store_bytes,
        )
        self.events.restore(
            snapshot.events, last_id=meta.last_event_id, worker_ids=(w.worker_id for w in snapshot.workers)
        )
        self._cursor_tag = meta.cursor_tag
        records = []
        for stored in snapshot.workers:
            profile = self.profiles.by_name(stored.profile)
            record = WorkerRecord(
                stored.worker_id,
                stored.label,
                stored.intent,
                profile,
                stored.created_at,
                stored.serial,
                self.store.restored_transcript(stored.serial, stored.entries),
            )
            # Tools come back as the profile grants them now: one it no longer
            # lists is not granted again (as a removed profile falls back).
            record.tools = tuple(tool for name in stored.tools if (tool := profile.tools.get(name)) is not None)
            # The runtime compares statuses by identity: take the shared constants.
            record.status = _STATUSES.get(stored.status, IDLE)
            record.turn_number = stored.turn_number
            records.append(record)
            self._workers[record.worker_id] = record
            self._largest_worker_bytes = max(self._largest_worker_bytes, _worker_page_bytes(record))
        self._roster = Roster.restored(meta.first_serial, meta.next_serial, records)
        for record in records:
            if record.status is BUSY:
                # The turn died with the last run; it is not re-run (its input
                # stays in the transcript with no reply).
                record.status = IDLE
                self.events.append(
                    WORKER_TURN_INTERRUPTED, record.worker_id, {"turn": record.turn_number, "reason": "restart"}
                )

    @property
    def unavailable_reason(self) -> str | None:
        """Why the runtime cannot be used (client-safe), or ``None`` when it can."""
        return self._unavailable

    def _check_writable(self) -> None:
        self._check_open()
        self.store.check_writable()

    # -- workers -----------------------------------------------------------------

    def create_worker(
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
        :raises InvalidRequest: a capability the profile cannot grant;
            ``details`` names each such ``capabilities[i]``.
        :raises CapacityExceeded: the runtime holds ``max_workers`` workers.
        """
        self._check_writable()
        resolution = self.profiles.resolve(profile)
        tools = _granted_tools(capabilities, resolution.profile)
        if len(self._workers) >= self.settings.max_workers:
            raise CapacityExceeded(f"this runtime holds at most {self.settings.max_workers} workers")
        intent = intent or DEFAULT_INTENT
        worker_bytes = _worker_bytes(label, intent)
        if self.budget is not None:
            self.budget.require(worker_bytes, what="the worker")
        diagnostics: tuple[Diagnostic, ...] = ()
        if resolution.fell_back:
            diagnostics = (
                Diagnostic.warning(
                    "profile_fallback",
                    f"profile {profile!r} is not defined in this runtime; using {resolution.profile.name!r}",
                ),
            )
        serial = self._roster.next_serial
        worker = WorkerRecord(
            _worker_id(serial),
            label,
            intent,
            resolution.profile,
            datetime.now(UTC),
            serial,
            self.store.new_transcript(serial),
        )
        worker.tools = tools
        self._roster.append(worker)
        self._workers[worker.worker_id] = worker
        self.store.worker_added(worker)
        if self.budget is not None:
            self.budget.charge(worker.worker_id, worker_bytes)
        self._largest_worker_bytes = max(self._largest_worker_bytes, _worker_page_bytes(worker))
        data: dict[str, object] = {"profile": worker.profile.name, "intent": worker.intent.kind.value}
        if resolution.fell_back:
            data["requested_profile"] = profile
        self.events.append(WORKER_CREATED, worker.worker_id, data)
        return CreatedWorker(worker, diagnostics)

    def get_worker(self, worker_id: str) -> WorkerRecord:
        """One worker. :raises UnknownWorker: no such worker in this runtime."""
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)
        worker = self._workers.get(worker_id)
        if worker is None:
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
        return worker

    def list_workers(self, *, limit: int, cursor: str | None = None) -> tuple[list[WorkerRecord], str | None]:
        """Workers in creation order after ``cursor``, at most ``limit``, and the next cursor.

        The cursor is the creation serial of the last worker of the previous
        page and this runtime's cursor tag: it stays valid when that worker
        (or any other) is deleted, and a page costs O(page) (decision 0065).

        :raises InvalidCursor: a cursor this runtime did not issue.
        """
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)
        after = None
        if cursor is not None:
            after = self._parse_cursor(cursor)
            if after is None or not self._roster.issued(after):
                raise InvalidCursor("cursor is not one this runtime issued")
        workers, more = self._roster.page(after=after, limit=limit)
        # Measuring each worker cost a third of a 50-worker page; while no
        # worker is large, no page of this many can be over the bound.
        if workers and len(workers) * self._largest_worker_bytes > self.settings.max_page_bytes:
            kept = fit_to_bytes(map(_worker_page_bytes, workers), self.settings.max_page_bytes)
            if kept < len(workers):
                workers, more = workers[:kept], True
        return workers, (f"{workers[-1].serial}-{self._cursor_tag}" if more and workers else None)

    def _parse_cursor(self, cursor: str) -> int | None:
        """The serial a list cursor names, or ``None`` if it is not a cursor of this runtime's form and tag."""
        serial, dash, tag = cursor.partition("-")
        if not dash or tag != self._cursor_tag or not (serial.isascii() and serial.isdigit()):
            return None
        if len(serial) > 19 or serial[0] == "0":  # 19 digits: every int64 serial, and no aliases
            return None
        return int(serial)

    def __len__(self) -> int:
        """How many workers the runtime holds (stopped ones included, deleted ones not)."""
        return len(self._workers)

    # -- turns -------------------------------------------------------------------

    def send_input(self, worker_id: str, content: str, *, role: str = "user") -> tuple[int, int]:
        """Accept input into the transcript and start a turn; return ``(transcript_sequence, event_id)``.

        :raises UnknownWorker: no such worker.
        :raises WorkerStopped: the worker was stopped.
        :raises WorkerBusy: a turn is in flight (the input is not queued).
        :raises InvalidRequest: content longer than ``max_input_chars`` (names ``content``).
        :raises CapacityExceeded: the transcript has no room for the input and its reply.
        """
        self._check_writable()
        # Before anything changes: outside a running loop this raises, and the
        # worker must not be left busy with no turn.
        asyncio.get_running_loop()
        worker = self.get_worker(worker_id)
        if worker.status is STOPPED:
            raise WorkerStopped("the worker is stopped and takes no more input", worker_id=worker_id)
        if worker.status is BUSY:
            raise WorkerBusy("the worker is in a turn; wait for it to finish or cancel it", worker_id=worker_id)
        limit = self.settings.max_input_chars
        if len(content) > limit:
            raise InvalidRequest(
                f"input is longer than {limit} characters",
                details=({"path": "content", "message": f"must be at most {limit} characters"},),
            )
        room = self.settings.max_transcript_entries - len(worker.transcript)
        if room < worker.profile.entries_per_turn:
            raise CapacityExceeded(
                f"the worker's transcript is full ({self.settings.max_transcript_entries} entries)",
                worker_id=worker_id,
            )
        # The input and, for a replying profile, its reply (the same text).
        content_size = text_size(content)
        entry_bytes = ENTRY_ENVELOPE_BYTES + content_size
        budget = self.budget
        if budget is not None:
            reply_bytes = entry_bytes if worker.profile.replies else 0
            budget.require(entry_bytes + reply_bytes, worker_id=worker_id, what="the input and its reply")
        # From the checks above to the status change below nothing awaits:
        # that is the whole of the busy rule's atomicity.
        worker.status = BUSY
        worker.turn_number += 1
        sequence = len(worker.transcript) + 1
        accepted = self.events.append(
            WORKER_INPUT_ACCEPTED,
            worker_id,
            {"transcript_sequence": sequence, "role": role, "content": content},
            data_size=_CONTENT_EVENT_DATA_BYTES + content_size,
        )
        worker.transcript.append(role, content, accepted.id)
        if budget is not None:
            budget.charge(worker_id, entry_bytes)
            budget.reserve(worker_id, reply_bytes)
        self.events.append(WORKER_TURN_STARTED, worker_id, {"turn": worker.turn_number})
        profile = worker.profile
        turn = EmbeddedTurn(
            worker=worker,
            number=worker.turn_number,
            history_length=sequence - 1,
            content=content,
            role=role,
            profile=profile.settings,
            tools=worker.tools,
            events=self.events,
            max_transcript_entries=self.settings.max_transcript_entries,
            deltas_per_second=self.settings.output_deltas_per_second,
            budget=budget,
        )
        worker.turn = self._turn_tasks.start(
            run_turn_task(
                turn,
                profile.engine,
                complete=lambda result: self._end_turn(worker, turn.number, result),
                fail=lambda code, message, cause: self._fail_turn(turn, code, message, cause),
            )
        )
        return sequence, accepted.id

    def _end_turn(self, worker: WorkerRecord, turn_number: int, result: TurnResult) -> None:
        """Add the reply, if any, and make the worker idle."""
        text = result.text
        if text and worker.profile.replies:
            if len(worker.transcript) >= self.settings.max_transcript_entries:
                self._fail_turn_of(
                    worker, turn_number, "transcript_full", "the worker's transcript has no room for the reply"
                )
                return
            sequence = len(worker.transcript) + 1
            content_size = text_size(text)
            output = self.events.append(
                WORKER_OUTPUT,
                worker.worker_id,
                {"transcript_sequence": sequence, "role": ASSISTANT, "content": text},
                data_size=_CONTENT_EVENT_DATA_BYTES + content_size,
            )
            worker.transcript.append(ASSISTANT, text, output.id)
            if self.budget is not None:
                self.budget.charge(worker.worker_id, ENTRY_ENVELOPE_BYTES + content_size)
        if self.budget is not None:
            self.budget.settle(worker.worker_id)
        worker.turn = None
        worker.status = IDLE
        self.events.append(
            WORKER_TURN_COMPLETED,
            worker.worker_id,
            {"turn": turn_number, "usage": _usage_data(result.usage), "stop_reason": result.stop_reason},
        )

    def _fail_turn(self, turn: EmbeddedTurn, code: str, message: str, cause: str | None = None) -> None:
        turn.deltas.discard()
        self._fail_turn_of(turn._worker, turn.number, code, message, cause)

    def _fail_turn_of(
        self, worker: WorkerRecord, turn_number: int, code: str, message: str, cause: str | None = None
    ) -> None:
        # Only while the turn is still the worker's (not cancelled, or superseded).
        if worker.turn is not None and worker.turn_number == turn_number:
            log_failure(self.name, worker.worker_id, turn_number, code, cause)
            if self.budget is not None:
                self.budget.settle(worker.worker_id)
            worker.turn = None
            worker.status = IDLE
            self.events.append(
                WORKER_TURN_FAILED, worker.worker_id, {"turn": turn_number, "code": code, "message": message}
            )

    def cancel(self, worker_id: str) -> bool:
        """Cancel the in-flight turn; the worker is idle and usable afterwards.

        :return: whether there was a turn to cancel (``False``: a no-op).
        :raises WorkerStopped: the worker was stopped.
        """
        worker = self.get_worker(worker_id)
        self.store.check_writable()
        if worker.status is STOPPED:
            raise WorkerStopped("the worker is stopped", worker_id=worker_id)
        if not self._cancel_turn(worker, "cancel"):
            return False
        worker.status = IDLE
        return True

    def stop(self, worker_id: str) -> bool:
        """Cancel any turn and stop the worker for good. Idempotent.

        :return: whether the worker was running (``False``: already stopped).
        """
        worker = self.get_worker(worker_id)
        self.store.check_writable()
        if worker.status is STOPPED:
            return False
        self._cancel_turn(worker, "stop")
        worker.status = STOPPED
        self.events.append(WORKER_STOPPED, worker_id, {})
        return True

    def delete(self, worker_id: str) -> None:
        """Remove the worker for good: cancel any turn, stop it, and forget its record and transcript.

        Its capacity slot is free at once; afterwards the worker is unknown and
        its id is never issued again. A ``worker.deleted`` event is appended;
        the worker's earlier events stay in the log until retention drops them.

        :raises UnknownWorker: no such worker (deleting twice is an error, not a no-op).
        """
        worker = self.get_worker(worker_id)
        self.store.check_writable()
        if worker.status is not STOPPED:
            self._cancel_turn(worker, "delete")
            worker.status = STOPPED
            self.events.append(WORKER_STOPPED, worker_id, {})
        del self._workers[worker_id]
        self._roster.remove(worker)
        self.store.worker_removed(worker)
        if self.budget is not None:
            self.budget.release_worker(worker_id)
        self.events.append(WORKER_DELETED, worker_id, {})
        self.events.forget_worker(worker_id)

    def _cancel_turn(self, worker: WorkerRecord, reason: str) -> bool:
        turn = worker.turn
        if turn is None:
            return False
        worker.turn = None
        turn.cancel()
        if self.budget is not None:
            self.budget.settle(worker.worker_id)
        self.events.append(WORKER_TURN_CANCELLED, worker.worker_id, {"turn": worker.turn_number, "reason": reason})
        return True

    # -- transcripts -------------------------------------------------------------

    def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptSlice:
        """Entries with ``sequence >= start`` (1-based), at most ``limit``; O(page)."""
        transcript = self.get_worker(worker_id).transcript
        items, next_start = transcript.page(start=start, limit=limit)
        if items:
            # Bounded by bytes too (decision 0080); the sizes are measured
            # lazily, only as far as the bound reaches.
            sizes = (ENTRY_ENVELOPE_BYTES + text_size(entry.content) for entry in items)
            kept = fit_to_bytes(sizes, self.settings.max_page_bytes)
            if kept < len(items):
                items, next_start = items[:kept], start + kept
        return TranscriptSlice(items, len(transcript), next_start)

    # -- events ------------------------------------------------------------------

    def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventSlice:
        """Events after ``cursor``; one worker's only with ``worker_id`` (see :meth:`EventLog.read`)."""
        if worker_id is not None:
            self.get_worker(worker_id)
        elif self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)
        return self.events.read(cursor=cursor, limit=limit, worker_id=worker_id, max_bytes=self.settings.max_page_bytes)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``cursor``; ``False`` at once after close."""
        return await self.events.wait(cursor=cursor, timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Cancel every in-flight turn, wake every waiter and close the store; idempotent and prompt.

        With a memory store each cancelled turn is a ``worker.turn_cancelled``
        event (``reason: "shutdown"``). With a durable store nothing is
        written for them: the store keeps those workers busy, and the next run
        brings them back idle with ``worker.turn_interrupted`` — the same as
        after a crash (decision 0086).
        """
        if self._closed:
            return
        self._closed = True
        durable = self.store.durable
        for worker in self._workers.values():
            turn = worker.turn
            if turn is not None:
                if durable:
                    worker.turn = None
                    turn.cancel()
                else:
                    self._cancel_turn(worker, "shutdown")
                    worker.status = IDLE
        self.events.close()
        # Let the cancelled tasks finish so none is destroyed pending (for a
        # bounded time: an engine that ignores cancellation may never finish).
        await self._turn_tasks.drain()
        await self.store.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeUnavailable("the runtime is closed")
        if self._unavailable is not None:
            raise RuntimeUnavailable(self._unavailable)


_STATUSES = {status: status for status in (IDLE, BUSY, STOPPED)}


#: An upper bound of the JSON of an input or output event's data besides its content.
_CONTENT_EVENT_DATA_BYTES = 80
#: An upper bound of a worker's JSON besides its texts (ids, kind, status,
#: profile, timestamp, keys); runtime ids are at most 120 characters.
_WORKER_ENVELOPE_BYTES = 640


def _intent_bytes(intent: Intent | None) -> int:
    if intent is None:
        return 4
    return 64 + sum(json_size(text) for text in (intent.purpose, intent.objective, intent.role))


def _worker_bytes(label: str | None, intent: Intent | None) -> int:
    """What a worker's own texts charge against the store budget."""
    return WORKER_RECORD_BYTES + json_size(label) + _intent_bytes(intent)


def _worker_page_bytes(worker: WorkerRecord) -> int:
    """An upper bound of a worker's JSON in a list page."""
    return _WORKER_ENVELOPE_BYTES + json_size(worker.label) + _intent_bytes(worker.intent)


def _granted_tools(capabilities: Sequence[str], profile: Profile) -> tuple[WorkerTool, ...]:
    """The tools ``capabilities`` asks for, each one the profile may grant; else ``InvalidRequest``."""
    granted = []
    problems = []
    for index, capability in enumerate(capabilities):
        name = capability[len(TOOL_CAPABILITY_PREFIX) :] if capability.startswith(TOOL_CAPABILITY_PREFIX) else None
        tool = profile.tools.get(name) if name else None
        if tool is None:
            problems.append(
                {"path": f"capabilities[{index}]", "message": f"not a tool profile {profile.name!r} can grant"}
            )
        elif tool not in granted:
            granted.append(tool)
    if problems:
        allowed = ", ".join(TOOL_CAPABILITY_PREFIX + name for name in profile.tools) or "none"
        raise InvalidRequest(
            f"a capability cannot be granted (profile {profile.name!r} grants: {allowed})", details=problems
        )
    return tuple(granted)


def _usage_data(usage: TokenUsage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


def _worker_id(serial: int) -> str:
    """A worker's id: unique because its serial is, and unguessable by its random tail."""
    return f"{WORKER_ID_PREFIX}{serial:013x}{secrets.token_hex(4)}"
