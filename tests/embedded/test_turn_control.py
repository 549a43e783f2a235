"""Turn control inside one embedded runtime (decisions 0190, 0191): what HTTP tests cannot reach easily."""

from __future__ import annotations

import pytest

from registry_core import InvalidRequest
from registry_core.event_contract import order_problems
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileBase, ProfileSettings

HOLD = {"hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60.0)}


def runtime(**settings) -> EmbeddedRuntime:
    return EmbeddedRuntime(EmbeddedSettings(profiles=HOLD, max_input_chars=10, **settings), event_start_id=1)


def worker_events(rt: EmbeddedRuntime, worker_id: str):
    return rt.read_events(cursor=None, limit=1000, worker_id=worker_id).events


async def test_a_refused_interrupt_leaves_the_running_turn_running():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="hold")).worker.worker_id
    await rt.send_input(worker_id, "first")
    with pytest.raises(InvalidRequest):
        await rt.send_input(worker_id, "far too long for it", if_busy="interrupt")
    assert rt.get_worker(worker_id).status == "busy" and rt.get_worker(worker_id).turn is not None
    assert "worker.turn_cancelled" not in [e.type for e in worker_events(rt, worker_id)]
    await rt.close()


async def test_an_interrupt_of_a_worker_waiting_for_a_slot_replaces_its_input_in_its_place():
    rt = runtime(max_concurrent_turns=1)
    holder, first, second = [(await rt.create_worker(profile="hold")).worker.worker_id for _ in range(3)]
    await rt.send_input(holder, "hold")
    waiting_first = await rt.send_input(first, "one")
    await rt.send_input(second, "two")
    replaced = await rt.send_input(first, "uno", if_busy="interrupt")
    assert (replaced.status, replaced.queue_position) == ("queued", 1), "it keeps its place in the line"
    dropped = [e.data for e in worker_events(rt, first) if e.type == "worker.input_dropped"]
    assert dropped == [{"queued_event_id": waiting_first.event_id, "reason": "interrupt"}]
    await rt.cancel(holder)
    started = [e.data for e in worker_events(rt, first) if e.type == "worker.input_accepted"]
    assert [(d["content"], d["queued_event_id"]) for d in started] == [("uno", replaced.event_id)]
    assert rt.get_worker(second).status == "busy" and len(rt.get_worker(second).transcript) == 0
    assert rt.turn_slots() == (1, 1, 1, 0)
    for worker_id in (holder, first, second):
        assert order_problems(worker_events(rt, worker_id)) == []
    await rt.close()


async def test_closing_a_memory_runtime_drops_the_queue_with_reason_shutdown():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="hold")).worker.worker_id
    await rt.send_input(worker_id, "first")
    queued = [await rt.send_input(worker_id, f"q{n}", if_busy="enqueue") for n in range(2)]
    events = rt.events
    await rt.close()
    kept = events.read(cursor=None, limit=100, worker_id=worker_id).events
    assert [(e.type, e.data.get("reason")) for e in kept[-3:]] == [
        ("worker.turn_cancelled", "shutdown"),
        ("worker.input_dropped", "shutdown"),
        ("worker.input_dropped", "shutdown"),
    ]
    assert [e.data["queued_event_id"] for e in kept[-2:]] == [q.event_id for q in queued]
    assert order_problems(kept, finished=True) == []


async def test_a_stopped_worker_takes_no_policy():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="hold")).worker.worker_id
    await rt.stop(worker_id)
    for policy in ("reject", "enqueue", "interrupt"):
        with pytest.raises(Exception, match="stopped"):
            await rt.send_input(worker_id, "late", if_busy=policy)
    await rt.close()


async def test_an_interrupt_answered_after_a_later_one_leaves_the_later_turn_running():
    """Two interrupts of one worker whose answers come back out of their commit order (a PostgreSQL
    replica's concurrent decisions can): the later one's turn runs; the earlier one's continuation,
    whose turn the later one already ended, neither cancels that task nor starts its own."""
    from runtime_registry.runtimes.embedded.memory_store import MemoryStore

    class AnsweredLate(MemoryStore):
        overtaken = False

        async def interrupt_input(self, worker, role, content):
            taken = await super().interrupt_input(worker, role, content)
            if not self.overtaken:
                # A second interrupt is decided and answered before this one's answer arrives.
                self.overtaken = True
                await rt.send_input(worker.worker_id, "later", if_busy="interrupt")
            return taken

    rt = EmbeddedRuntime(EmbeddedSettings(profiles=HOLD), store=AnsweredLate(), event_start_id=1)
    worker_id = (await rt.create_worker(profile="hold")).worker.worker_id
    await rt.send_input(worker_id, "first")
    earlier = await rt.send_input(worker_id, "earlier", if_busy="interrupt")
    worker = rt.get_worker(worker_id)
    assert earlier.status == "busy" and worker.turn_number == 3
    task = worker.turn
    assert task is not None and not task.done(), "the later interrupt's turn has its task"
    cancelled = [e.data for e in worker_events(rt, worker_id) if e.type == "worker.turn_cancelled"]
    assert cancelled == [{"turn": 1, "reason": "interrupt"}, {"turn": 2, "reason": "interrupt"}]
    await rt.close()
