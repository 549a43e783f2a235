"""The runtime against a model, driven by Hypothesis through random operation sequences.

Two profiles keep the model deterministic: ``now`` (an echo turn that is
finished before the next operation) and ``hold`` (a turn that lasts until it
is cancelled or stopped).
"""

from __future__ import annotations

import asyncio

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from registry_core import CapacityExceeded, WorkerBusy, WorkerStopped
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileBase, ProfileSettings

MAX_ENTRIES = 4


@attrs.define
class ModelWorker:
    profile: str
    status: str = "idle"
    entries: list[tuple[str, str]] = attrs.Factory(list)


class EmbeddedRuntimeMachine(RuleBasedStateMachine):
    workers = Bundle("workers")

    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.runtime = EmbeddedRuntime(
            EmbeddedSettings(
                max_transcript_entries=MAX_ENTRIES,
                event_retention=50,
                profiles={
                    "now": ProfileSettings(base=ProfileBase.ECHO),
                    "hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60),
                },
            )
        )
        self.model: dict[str, ModelWorker] = {}

    def teardown(self) -> None:
        if hasattr(self, "loop"):
            self.loop.run_until_complete(self.runtime.close())
            self.loop.close()

    def call(self, operation):
        """Run a runtime operation inside the loop, then let instant turns finish."""

        async def run():
            try:
                return await operation()
            finally:
                for _ in range(100):
                    if not any(
                        w.turn is not None and w.profile.name == "now" for w in map(self.runtime.get_worker, self.model)
                    ):
                        break
                    await asyncio.sleep(0)

        return self.loop.run_until_complete(run())

    @rule(target=workers, profile=st.sampled_from(["now", "hold"]))
    def create(self, profile: str) -> str:
        worker_id = self.call(lambda: self.runtime.create_worker(profile=profile)).worker.worker_id
        self.model[worker_id] = ModelWorker(profile)
        return worker_id

    @rule(worker_id=workers, content=st.text(min_size=1, max_size=5).filter(str.strip))
    def send(self, worker_id: str, content: str) -> None:
        model = self.model[worker_id]
        expected: type[Exception] | None = None
        if model.status == "stopped":
            expected = WorkerStopped
        elif model.status == "busy":
            expected = WorkerBusy
        elif len(model.entries) + 2 > MAX_ENTRIES:
            expected = CapacityExceeded
        try:
            sequence = self.call(lambda: self.runtime.send_input(worker_id, content)).sequence
        except (WorkerStopped, WorkerBusy, CapacityExceeded) as error:
            assert type(error) is expected
            return
        assert expected is None and sequence == len(model.entries) + 1
        model.entries.append(("user", content))
        if model.profile == "now":
            model.entries.append(("assistant", content))
        else:
            model.status = "busy"

    @rule(worker_id=workers)
    def cancel(self, worker_id: str) -> None:
        model = self.model[worker_id]
        try:
            changed = self.call(lambda: self.runtime.cancel(worker_id)).changed
        except WorkerStopped:
            assert model.status == "stopped"
            return
        assert changed == (model.status == "busy")
        model.status = "idle"

    @rule(worker_id=workers)
    def stop(self, worker_id: str) -> None:
        model = self.model[worker_id]
        assert self.call(lambda: self.runtime.stop(worker_id)).changed == (model.status != "stopped")
        model.status = "stopped"

    @invariant()
    def workers_match_the_model(self) -> None:
        for worker_id, model in getattr(self, "model", {}).items():
            worker = self.runtime.get_worker(worker_id)
            assert worker.status == model.status
            page = self.runtime.read_transcript(worker_id, start=1, limit=MAX_ENTRIES)
            assert [(e.role, e.content) for e in page.items] == model.entries
            assert [e.sequence for e in page.items] == list(range(1, len(model.entries) + 1))

    @invariant()
    def event_ids_are_gapless_and_increasing(self) -> None:
        if hasattr(self, "runtime"):
            events = self.runtime.read_events(cursor=None, limit=100).events
            ids = [event.id for event in events]
            assert ids == list(range(self.runtime.events.first_id, self.runtime.events.last_id + 1))


EmbeddedRuntimeMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestEmbeddedRuntimeMachine = EmbeddedRuntimeMachine.TestCase
