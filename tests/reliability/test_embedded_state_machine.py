"""The embedded runtime, driven through a RuntimeRegistry by random programs, against a model.

Hypothesis generates sequences of creates, inputs (one at a time and in
concurrent bursts), cancels, stops, deletes and reads, with small limits so that every
boundary (worker capacity, transcript capacity, input length, event
retention, page sizes) is hit often. After every step the runtime must agree
with a plain-Python model of the contract:

- a worker's status, transcript (contents, roles, gapless sequences) and
  transcript length are exactly what the model predicts: nothing accepted is
  lost, nothing refused is recorded;
- of a burst of concurrent inputs to an idle worker exactly one is accepted;
- event ids are gapless and strictly increasing, the log holds exactly the
  newest ``event_retention`` of them, one worker's events are the runtime's
  events filtered by worker, and a cursor outside the retained range (one
  from an earlier run included) is ``cursor_expired``;
- listing pages through every worker exactly once, in creation order, deleted
  ones left out; a deleted worker is unknown, frees its capacity slot, and its
  id is never issued again;
- a worker of one runtime is unknown to the other.

Turns of the ``stuck`` profile never finish on their own (an hour's delay), so
busy is deterministic; instant turns are awaited before the next step.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    CursorExpired,
    InputKind,
    InputRequest,
    InvalidRequest,
    RuntimeContext,
    UnknownProfile,
    UnknownWorker,
    WorkerBusy,
    WorkerStopped,
)
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import Durability, StoreBackend, StoreSettings

RUNTIME = "machine"
OTHER_RUNTIME = "machine-other"
SETTINGS = EmbeddedSettings(
    max_workers=5,
    max_transcript_entries=7,
    max_input_chars=12,
    worker_page_max=2,
    transcript_page_max=3,
    event_page_max=4,
    event_retention=23,
    # Fewer in memory than retained: older events are read from the SQLite file (decision 0182).
    events_in_memory=6,
    profiles={
        "stuck": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=3600.0),
        "quiet": ProfileSettings(base=ProfileBase.DEFAULT),
    },
    # batched: the same semantics as acknowledged without a sync per step
    # (which made this test four times slower); the SQLite tests cover both.
    store=StoreSettings(durability=Durability.BATCHED),
)
#: Profile selector -> (resolved name, replies, turns finish by themselves).
PROFILES = {
    None: ("builtin:default", False, True),
    "default": ("builtin:default", False, True),
    "builtin:default": ("builtin:default", False, True),
    "builtin:echo": ("builtin:echo", True, True),
    "quiet": ("quiet", False, True),
    "stuck": ("stuck", True, False),
}
#: A selector no profile has: refused with UnknownProfile, nothing created.
MISSING = "no-such-profile"


@attrs.define
class ModelWorker:
    """What the contract says one worker is."""

    worker_id: str
    replies: bool
    finishes: bool
    status: str = "idle"
    transcript: list[tuple[str, str]] = attrs.Factory(list)


class EmbeddedRuntimeMachine(RuleBasedStateMachine):
    """Random programs against two embedded runtimes in one registry, checked against a model."""

    workers = Bundle("workers")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.registry = RuntimeRegistry(call_timeout=5)
        # The runtime under test keeps its state in a SQLite store (the
        # default) of its own: the model holds for it exactly as for memory.
        self.data_dir = tempfile.TemporaryDirectory(prefix="machine-")
        context = RuntimeContext(Path(self.data_dir.name))
        self.registry.register(EmbeddedProvider(RUNTIME, SETTINGS, context=context))
        self.registry.register(
            EmbeddedProvider(OTHER_RUNTIME, EmbeddedSettings(store=StoreSettings(backend=StoreBackend.MEMORY)))
        )
        self.run(self.registry.start())
        self.model: dict[str, ModelWorker] = {}
        self.order: list[str] = []
        self.deleted: list[str] = []
        self.events_issued = 0
        # Ids continue from a per-run base (decision 0055): the model counts
        # events and adds this offset, so it checks ids without knowing the base.
        self.id_offset = self.registry.provider(RUNTIME).runtime.events.start_id - 1

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.registry.close())
        self.loop.close()
        self.data_dir.cleanup()

    # -- workers -------------------------------------------------------------------

    @initialize(target=workers)
    def first_worker(self):
        return self._create(None)

    @rule(target=workers, profile=st.sampled_from([*PROFILES, MISSING]))
    def create(self, profile):
        if profile == MISSING:
            event("create: UnknownProfile")
            with pytest.raises(UnknownProfile):
                self.run(self.registry.create_worker(RUNTIME, CreateWorkerRequest(profile=profile)))
            return multiple()
        if len(self.model) >= SETTINGS.max_workers:
            event("create: CapacityExceeded")
            with pytest.raises(CapacityExceeded):
                self.run(self.registry.create_worker(RUNTIME, CreateWorkerRequest(profile=profile)))
            return multiple()
        return self._create(profile)

    def _create(self, profile):
        worker = self.run(self.registry.create_worker(RUNTIME, CreateWorkerRequest(profile=profile)))
        name, replies, finishes = PROFILES[profile]
        assert worker.profile == name
        assert worker.diagnostics == ()
        assert (worker.status, worker.transcript_length) == ("idle", 0)
        assert worker.worker_id not in self.deleted
        self.model[worker.worker_id] = ModelWorker(worker.worker_id, replies, finishes)
        self.order.append(worker.worker_id)
        self.events_issued += 1
        return worker.worker_id

    @rule(capability=st.sampled_from(["tools", "shell", "file_system"]))
    def create_with_a_capability_is_refused_and_creates_nothing(self, capability):
        with pytest.raises(InvalidRequest):
            self.run(self.registry.create_worker(RUNTIME, CreateWorkerRequest(capabilities=(capability,))))

    # -- input ---------------------------------------------------------------------

    @rule(worker_id=workers, content=st.text(min_size=1, max_size=16), kind=st.sampled_from(InputKind))
    def send_input(self, worker_id, content, kind):
        worker = self.model[worker_id]
        expected = self._expected_refusal(worker, content)
        request = InputRequest(content, kind)
        if expected is not None:
            with pytest.raises(expected):
                self.run(self.registry.send_input(RUNTIME, worker_id, request))
            return
        accepted = self.run(self.registry.send_input(RUNTIME, worker_id, request))
        self._accept(worker, accepted, content, kind)

    @rule(worker_id=workers, burst=st.integers(min_value=2, max_value=12))
    def concurrent_inputs_to_one_worker_accept_at_most_one(self, worker_id, burst):
        worker = self.model[worker_id]
        expected = self._expected_refusal(worker, "burst")

        async def send_all():
            return await asyncio.gather(
                *(self.registry.send_input(RUNTIME, worker_id, InputRequest(f"b{i}")) for i in range(burst)),
                return_exceptions=True,
            )

        results = self.run(send_all())
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        if expected is not None:
            assert accepted == []
            # The first refusal has the reason; the rest may be the same reason.
            assert all(isinstance(r, expected) for r in refused), refused
            return
        assert len(accepted) == 1, results
        assert all(isinstance(r, WorkerBusy) for r in refused), refused
        self._accept(worker, accepted[0], f"b{results.index(accepted[0])}", InputKind.USER)

    def _expected_refusal(self, worker: ModelWorker, content: str):
        refusal = self._refusal(worker, content)
        event(f"input: {refusal.__name__ if refusal else 'accepted'}")
        return refusal

    def _refusal(self, worker: ModelWorker, content: str):
        if worker.status == "stopped":
            return WorkerStopped
        if worker.status == "busy":
            return WorkerBusy
        if not content.strip() or len(content) > SETTINGS.max_input_chars:
            return InvalidRequest
        if len(worker.transcript) + (2 if worker.replies else 1) > SETTINGS.max_transcript_entries:
            return CapacityExceeded
        return None

    def _accept(self, worker: ModelWorker, accepted, content: str, kind: InputKind) -> None:
        assert accepted.transcript_sequence == len(worker.transcript) + 1
        assert accepted.event_id == self.id_offset + self.events_issued + 1
        worker.transcript.append((kind.value, content))
        worker.status = "busy"
        self.events_issued += 2  # input_accepted, turn_started
        if worker.finishes:
            self.run(self._until_idle(worker.worker_id))
            if worker.replies:
                worker.transcript.append(("assistant", content))
                self.events_issued += 1  # output
            worker.status = "idle"
            self.events_issued += 1  # turn_completed

    async def _until_idle(self, worker_id: str) -> None:
        for _ in range(100):
            if (await self.registry.get_worker(RUNTIME, worker_id)).status != "busy":
                return
            await asyncio.sleep(0)
        raise AssertionError("an instant turn did not finish")

    # -- cancel and stop -------------------------------------------------------------

    @rule(worker_id=workers)
    def cancel(self, worker_id):
        worker = self.model[worker_id]
        if worker.status == "stopped":
            with pytest.raises(WorkerStopped):
                self.run(self.registry.cancel_worker(RUNTIME, worker_id))
            return
        result = self.run(self.registry.cancel_worker(RUNTIME, worker_id))
        assert (result.changed, result.status) == (worker.status == "busy", "idle")
        if worker.status == "busy":
            self.events_issued += 1  # turn_cancelled
        worker.status = "idle"

    @rule(worker_id=workers)
    def stop(self, worker_id):
        worker = self.model[worker_id]
        result = self.run(self.registry.stop_worker(RUNTIME, worker_id))
        assert (result.changed, result.status) == (worker.status != "stopped", "stopped")
        if worker.status == "busy":
            self.events_issued += 1  # turn_cancelled
        if worker.status != "stopped":
            self.events_issued += 1  # stopped
        worker.status = "stopped"

    @rule(worker_id=consumes(workers))
    def delete(self, worker_id):
        worker = self.model.pop(worker_id)
        event(f"delete: {worker.status}")
        result = self.run(self.registry.delete_worker(RUNTIME, worker_id))
        assert (result.action, result.changed, result.status) == ("delete", True, "stopped")
        if worker.status == "busy":
            self.events_issued += 1  # turn_cancelled
        if worker.status != "stopped":
            self.events_issued += 1  # stopped
        self.events_issued += 1  # deleted
        self.order.remove(worker_id)
        self.deleted.append(worker_id)

    @precondition(lambda self: self.deleted)
    @rule(data=st.data())
    def a_deleted_worker_is_unknown(self, data):
        worker_id = data.draw(st.sampled_from(self.deleted))
        for call in (self.registry.get_worker, self.registry.delete_worker, self.registry.stop_worker):
            with pytest.raises(UnknownWorker):
                self.run(call(RUNTIME, worker_id))

    @rule(worker_id=workers)
    def a_worker_is_unknown_in_the_other_runtime(self, worker_id):
        with pytest.raises(UnknownWorker):
            self.run(self.registry.get_worker(OTHER_RUNTIME, worker_id))
        with pytest.raises(UnknownWorker):
            self.run(self.registry.send_input(OTHER_RUNTIME, worker_id, InputRequest("x")))

    # -- events ----------------------------------------------------------------------

    @precondition(lambda self: self.events_issued > SETTINGS.event_retention + 1)
    @rule(behind=st.integers(min_value=2, max_value=40))
    def a_cursor_older_than_retention_expires(self, behind):
        first_retained = self.id_offset + self.events_issued - SETTINGS.event_retention + 1
        cursor = first_retained - behind
        with pytest.raises(CursorExpired):
            self.run(self.registry.read_events(RUNTIME, cursor=cursor))

    @rule(ahead=st.integers(min_value=1, max_value=1000))
    def a_cursor_from_the_future_expires(self, ahead):
        with pytest.raises(CursorExpired):
            self.run(self.registry.read_events(RUNTIME, cursor=self.id_offset + self.events_issued + ahead))

    @rule(behind=st.integers(min_value=1, max_value=10**6))
    def a_cursor_from_an_earlier_run_expires(self, behind):
        # An earlier run's ids are all below this run's base, whatever this run has issued.
        with pytest.raises(CursorExpired):
            self.run(self.registry.read_events(RUNTIME, cursor=self.id_offset - behind))

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def every_worker_matches_the_model(self):
        for worker_id, worker in self.model.items():
            detail = self.run(self.registry.get_worker(RUNTIME, worker_id))
            assert (detail.status, detail.transcript_length) == (worker.status, len(worker.transcript))
            entries = self._whole_transcript(worker_id)
            assert [(e.role, e.content) for e in entries] == worker.transcript
            assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))

    def _whole_transcript(self, worker_id):
        entries, start = [], 1
        while True:
            page = self.run(self.registry.read_transcript(RUNTIME, worker_id, start=start))
            assert len(page.items) <= SETTINGS.transcript_page_max
            entries.extend(page.items)
            if page.next_start is None:
                return entries
            start = page.next_start

    @invariant()
    def listing_pages_through_every_worker_once_in_creation_order(self):
        seen, cursor = [], None
        while True:
            page = self.run(self.registry.list_workers(RUNTIME, cursor=cursor))
            assert len(page.items) <= SETTINGS.worker_page_max
            seen.extend(w.worker_id for w in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == self.order

    @invariant()
    def the_store_budget_counts_exactly_what_is_stored_and_reserved(self):
        # Decision 0081: every charge is given back by a reply, a cancel, a stop or a delete.
        from registry_core.page_bytes import text_size
        from runtime_registry.runtimes.embedded.memory_store import MemoryStore, worker_bytes

        store = self.registry.provider(RUNTIME).runtime.store
        if not isinstance(store, MemoryStore):  # a durable store: transcripts live on disk, unbudgeted
            return
        budget = store.budget
        stored = sum(budget.charged(record.worker_id) + budget.reserved(record.worker_id) for record in store.roster)
        assert budget.used == stored <= store.settings.max_store_bytes
        for record in store.roster:
            content = sum(128 + text_size(entry.content) for entry in self._whole_transcript(record.worker_id))
            assert budget.charged(record.worker_id) == worker_bytes(record) + content

    @invariant()
    def the_event_log_holds_exactly_the_newest_retained_events(self):
        events = self._all_events()
        ids = [event.id for event in events]
        first = self.id_offset + max(1, self.events_issued - SETTINGS.event_retention + 1)
        assert ids == list(range(first, self.id_offset + self.events_issued + 1))
        for worker_id in self.model:
            own = self._all_events(worker_id)
            assert own == [event for event in events if event.worker_id == worker_id]

    def _all_events(self, worker_id=None):
        events, cursor = [], None
        while True:
            page = self.run(self.registry.read_events(RUNTIME, cursor=cursor, worker_id=worker_id))
            assert len(page.events) <= SETTINGS.event_page_max
            events.extend(page.events)
            cursor = page.next_cursor
            if not page.has_more:
                break
        assert cursor == self.id_offset + self.events_issued
        return events


EmbeddedRuntimeMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEmbeddedRuntimeAgainstTheModel = EmbeddedRuntimeMachine.TestCase
