"""A turn always ends: random programs of a chaos engine, cancels, stops, deletes and shutdowns (issue 17).

Hypothesis drives an embedded runtime whose turns run :mod:`.chaos_engine`
(raises any exception, returns wrong types, hangs, ignores cancellation,
emits garbage deltas, emits and records after being cancelled) with
``max_turn_seconds`` of 20 ms, alongside creates, cancels, stops, deletes,
waits and shutdowns. Every event the runtime writes or publishes is traced in
order. After every step:

- every ``worker.turn_started`` has at most one end event (completed, failed,
  cancelled, interrupted) and a worker is ``busy`` exactly while its newest
  turn has none;
- the fence: output, deltas and tool calls of a turn appear only between its
  start and its end -- nothing an engine produces after its turn ended is
  written or published;
- every ``worker.turn_failed`` is one WARNING line with runtime, worker, turn
  and code, and there is no other; no log line above debug, event or
  transcript entry holds an exception's text.

At the end of every program, once ``max_turn_seconds`` has passed with no
client action, every turn has exactly one end event and no worker is busy,
whatever the engines still running (deaf ones) do.

The programs run over the memory store and, in :class:`TurnChaosOnSQLite`,
over the SQLite store in ``acknowledged`` mode, where a shutdown is a
restart on the same file (also right after a send, in the middle of the
turn) and the turns it leaves open end with ``worker.turn_interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from registry_core import WorkerBusy, WorkerStopped
from registry_core.event_contract import (
    WORKER_OUTPUT,
    WORKER_OUTPUT_DELTA,
    WORKER_TOOL_CALL_FINISHED,
    WORKER_TOOL_CALL_STARTED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_FAILED,
    WORKER_TURN_INTERRUPTED,
    WORKER_TURN_STARTED,
)
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings, turn_task
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.settings import Durability, StoreBackend, StoreSettings
from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore
from runtime_registry.runtimes.embedded.store import WorkerStore

from .chaos_engine import BEHAVIOURS, SECRET, Chaos

RUNTIME = "chaos"
LIMIT = 0.02
ENDS = {WORKER_TURN_COMPLETED, WORKER_TURN_FAILED, WORKER_TURN_CANCELLED, WORKER_TURN_INTERRUPTED}
WITHIN = {WORKER_OUTPUT, WORKER_OUTPUT_DELTA, WORKER_TOOL_CALL_STARTED, WORKER_TOOL_CALL_FINISHED}
FAILURE_LINE = re.compile(rf"turn failed: runtime={RUNTIME} worker=(\S+) turn=(\d+) code=(\w+)( cause=\w+)?")


class Lines(logging.Handler):
    """Every log record at debug and above, kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def short_close_grace(monkeypatch):
    # Deaf engines never end by themselves: closing waits for them briefly.
    monkeypatch.setattr(turn_task, "CLOSE_GRACE_SECONDS", 0.01)


class TurnChaos(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.chaos = Chaos()
        self.trace: list[tuple[str, str | None, dict]] = []
        self.lines = Lines()
        self.logger = logging.getLogger("runtime_registry")
        self.old_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.lines)
        #: The id of the newest event traced (a restart's own events are those after it).
        self.last_id: int | None = None
        self.runtime = self._open()
        self.workers: list[str] = []

    def _store(self) -> WorkerStore | None:
        return None  # the memory store

    def _open(self) -> EmbeddedRuntime:
        settings = EmbeddedSettings(
            profiles={"p": ProfileSettings(engine="chaos", max_turn_seconds=LIMIT)},
            default_profile="p",
            output_deltas_per_second=1000,
            store=StoreSettings(backend=StoreBackend.MEMORY),
        )
        store = self._store()
        runtime = EmbeddedRuntime(
            settings, engines={**BUILTIN_ENGINES, "chaos": self.chaos.engine}, name=RUNTIME, store=store
        )
        self.run(runtime.start())
        events = runtime.events
        if store is not None and self.last_id is not None:
            # A durable store's restart: the events it wrote while opening (turn_interrupted) are traced too.
            for event in events.read(cursor=self.last_id, limit=10_000).events:
                self.trace.append((event.type, event.worker_id, dict(event.data)))
                self.last_id = event.id
        append, publish = events.append, events.publish

        def traced_append(type_, worker_id, data, **sizes):
            self.trace.append((type_, worker_id, dict(data)))
            event = append(type_, worker_id, data, **sizes)
            self.last_id = event.id
            return event

        def traced_publish(type_, worker_id, data):
            self.trace.append((type_, worker_id, dict(data)))
            return publish(type_, worker_id, data)

        events.append, events.publish = traced_append, traced_publish
        return runtime

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        try:
            # No client action for longer than the limit: every turn has ended.
            self.run(asyncio.sleep(LIMIT * 3))
            self._check_trace(settled=True)
            self.chaos.released = True
            self.run(self.runtime.close())
            self.run(asyncio.sleep(0.01))  # the released deaf engines finish
            self._check_trace(settled=True)
            self._check_log()
        finally:
            self.logger.removeHandler(self.lines)
            self.logger.setLevel(self.old_level)
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.run(asyncio.sleep(0))
            self.loop.close()

    # -- rules -------------------------------------------------------------------

    @precondition(lambda self: len(self.workers) < 4)
    @rule()
    def create(self):
        self.workers.append(self.run(self.runtime.create_worker()).worker.worker_id)

    @precondition(lambda self: self.workers)
    @rule(data=st.data(), behaviour=st.sampled_from(sorted(BEHAVIOURS)))
    def send(self, data, behaviour):
        worker = data.draw(st.sampled_from(self.workers))

        async def send():
            with contextlib.suppress(WorkerBusy, WorkerStopped):
                await self.runtime.send_input(worker, f"{behaviour}:x")
            await asyncio.sleep(0)

        self.run(send())

    @precondition(lambda self: self.workers)
    @rule(data=st.data(), action=st.sampled_from(["cancel", "stop", "delete"]))
    def act(self, data, action):
        worker = data.draw(st.sampled_from(self.workers))

        async def act():
            with contextlib.suppress(WorkerStopped):
                await getattr(self.runtime, action)(worker)
            await asyncio.sleep(0)

        self.run(act())
        if action == "delete":
            self.workers.remove(worker)

    @rule(seconds=st.sampled_from([0.0, 0.002, 0.01, 0.03]))
    def wait(self, seconds):
        self.run(asyncio.sleep(seconds))

    @rule()
    def shutdown(self):
        self.run(self.runtime.close())
        self._check_trace(settled=True)
        self.runtime = self._open()
        self.workers = []

    def _restart(self) -> None:
        self.run(self.runtime.close())
        self.runtime = self._open()
        self._check_trace(settled=True)  # the turns the stop left open came back interrupted

    # -- invariants --------------------------------------------------------------

    @invariant()
    def turns_end_once_and_nothing_leaks_past_their_end(self):
        self._check_trace(settled=False)

    @invariant()
    def every_failure_is_one_warning_line_and_no_text_leaks(self):
        self._check_log()

    def _check_trace(self, *, settled: bool) -> None:
        open_turn: dict[str, int | None] = {}
        ended: set[tuple[str, int]] = set()
        for type_, worker, data in self.trace:
            assert SECRET not in repr(data), (type_, data)
            if worker is None:
                continue
            current = open_turn.get(worker)
            if type_ == WORKER_TURN_STARTED:
                assert current is None, f"turn {data['turn']} started while turn {current} of {worker} was open"
                open_turn[worker] = data["turn"]
            elif type_ in ENDS:
                assert current == data["turn"], f"{type_} of turn {data['turn']} of {worker}; open: {current}"
                assert (worker, data["turn"]) not in ended
                ended.add((worker, data["turn"]))
                open_turn[worker] = None
            elif type_ in WITHIN:
                assert current is not None, f"{type_} of {worker} outside any turn: {data}"
                if "turn" in data:
                    assert data["turn"] == current, f"{type_} of turn {data['turn']} during turn {current}"
        live = {w: self.runtime.get_worker(w) for w in self.workers} if not self.runtime.closed else {}
        for worker, record in live.items():
            busy = open_turn.get(worker) is not None
            assert (record.status == "busy") == busy, (worker, record.status, open_turn.get(worker))
        if settled:
            assert all(turn is None for turn in open_turn.values()), open_turn

    def _check_log(self) -> None:
        failures = [(w, d["turn"], d["code"]) for t, w, d in self.trace if t == WORKER_TURN_FAILED]
        logged = []
        for record in self.lines.records:
            message = record.getMessage()
            if record.levelno > logging.DEBUG:
                assert SECRET not in message and record.exc_info is None, message
            if record.levelno == logging.WARNING and (match := FAILURE_LINE.fullmatch(message)):
                logged.append((match[1], int(match[2]), match[3]))
        assert logged == failures


PROGRAMS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TurnChaos.TestCase.settings = PROGRAMS
TestTurnChaos = TurnChaos.TestCase


class TurnChaosOnSQLite(TurnChaos):
    """The same programs over the SQLite store (``acknowledged``), where a shutdown is a restart.

    A durable store writes nothing for the turns a stop leaves open; the next
    run on the same file ends each with ``worker.turn_interrupted`` (decision
    0086), so after every restart every turn has its one end, and the workers
    are still there.
    """

    def __init__(self) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="chaos-sqlite-")
        self.restarted_at = 0
        super().__init__()

    def _store(self) -> WorkerStore | None:
        return SQLiteStore(Path(self.directory.name) / "chaos.db", durability=Durability.ACKNOWLEDGED)

    def _a_turn_started_since_the_last_restart(self) -> bool:
        return any(type_ == WORKER_TURN_STARTED for type_, _, _ in self.trace[self.restarted_at :])

    # A restart only once turns ran since the last (else programs would be mostly restarts).
    @precondition(_a_turn_started_since_the_last_restart)
    @rule()
    def shutdown(self):
        self._restart()
        self.restarted_at = len(self.trace)

    @precondition(lambda self: self.workers)
    @rule(data=st.data(), behaviour=st.sampled_from(sorted(BEHAVIOURS)))
    def send_and_restart_at_once(self, data, behaviour):
        # The restart a crash test cares about: in the middle of the turn just started.
        self.send(data, behaviour)
        self._restart()
        self.restarted_at = len(self.trace)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.directory.cleanup()


TurnChaosOnSQLite.TestCase.settings = settings(PROGRAMS, max_examples=15, stateful_step_count=20)
TestTurnChaosOnSQLite = TurnChaosOnSQLite.TestCase
