"""Streamed output: coalesced worker.output_delta events, live-only, never in the stored log."""

from __future__ import annotations

import asyncio

from registry_core import TurnEngine, TurnResult
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

from .test_engines import events_of, until_idle


def streaming(pieces: int, gap: float) -> TurnEngine:
    async def run(turn):
        for index in range(pieces):
            turn.emit(f"{index},")
            await asyncio.sleep(gap)
        return TurnResult("".join(f"{index}," for index in range(pieces)))

    return TurnEngine("streaming", run)


def runtime_for(engine: TurnEngine, rate: float = 20.0, retention: int = 10_000) -> EmbeddedRuntime:
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine=engine.name)},
        default_profile="p",
        output_deltas_per_second=rate,
        event_retention=retention,
    )
    return EmbeddedRuntime(settings, event_start_id=1, engines={**BUILTIN_ENGINES, engine.name: engine})


def drain(subscription) -> list:
    return subscription.take(up_to=2**62)


async def test_deltas_are_coalesced_to_the_configured_rate_and_lose_no_text():
    runtime = runtime_for(streaming(pieces=100, gap=0.002), rate=20)
    live = runtime.events.subscribe()
    worker = (await runtime.create_worker()).worker.worker_id
    started = asyncio.get_running_loop().time()
    await runtime.send_input(worker, "go")
    await until_idle(runtime, worker)
    elapsed = asyncio.get_running_loop().time() - started
    deltas = [e for e in drain(live) if e.type == "worker.output_delta"]
    assert "".join(e.data["text"] for e in deltas) == "".join(f"{i}," for i in range(100))
    assert len(deltas) <= elapsed * 20 + 2  # at most ~20 per second (plus the leading one and the final flush)
    assert len(deltas) >= 2
    assert {e.data["turn"] for e in deltas} == {1}


async def test_a_piece_after_a_quiet_spell_goes_out_at_once():
    gate = asyncio.Event()

    async def run(turn):
        turn.emit("first")
        await gate.wait()
        return TurnResult("first")

    runtime = runtime_for(TurnEngine("once", run), rate=1)  # one per second: a trailing delta would wait
    live = runtime.events.subscribe()
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "go")
    await asyncio.sleep(0.01)
    assert [e.data["text"] for e in drain(live) if e.type == "worker.output_delta"] == ["first"]
    gate.set()
    await until_idle(runtime, worker)


async def test_deltas_come_before_the_output_event_and_carry_the_id_of_the_stored_event_they_follow():
    runtime = runtime_for(streaming(pieces=5, gap=0.001), rate=1000)
    live = runtime.events.subscribe()
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "go")
    await until_idle(runtime, worker)
    stored = runtime.read_events(cursor=None, limit=100).events
    output_id = next(e.id for e in stored if e.type == "worker.output")
    deltas = [e for e in drain(live) if e.type == "worker.output_delta"]
    assert all(e.id < output_id for e in deltas)
    assert {e.id for e in deltas} <= {e.id for e in stored}


async def test_deltas_are_never_stored_so_a_long_reply_cannot_push_state_events_out_of_retention():
    runtime = runtime_for(streaming(pieces=300, gap=0), rate=1000, retention=20)
    live = runtime.events.subscribe()
    quiet = (await runtime.create_worker()).worker.worker_id  # its worker.created must survive the long reply
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "go")
    await until_idle(runtime, worker)
    assert any(e.type == "worker.output_delta" for e in drain(live))
    assert all(t != "worker.output_delta" for t, _ in events_of(runtime, worker))
    assert [t for t, _ in events_of(runtime, quiet)] == ["worker.created"]


async def test_nothing_is_built_for_deltas_when_nobody_is_subscribed():
    runtime = runtime_for(streaming(pieces=3, gap=0))
    assert runtime.events.publish("worker.output_delta", "w", {"turn": 1, "text": "x"}) is None


async def test_a_cancelled_turn_publishes_no_more_deltas():
    async def run(turn):
        turn.emit("a")
        await asyncio.sleep(0)
        turn.emit("b")  # buffered: the next delta is due an interval later
        await asyncio.sleep(30)
        return TurnResult("ab")

    runtime = runtime_for(TurnEngine("cut", run), rate=1)
    live = runtime.events.subscribe()
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "go")
    await asyncio.sleep(0.01)
    await runtime.cancel(worker)
    await asyncio.sleep(0.01)
    assert [e.data["text"] for e in drain(live) if e.type == "worker.output_delta"] == ["a"]


async def test_a_subscriber_that_falls_behind_loses_the_oldest_deltas_only():
    runtime = runtime_for(streaming(pieces=3, gap=0))
    live = runtime.events.subscribe()
    for index in range(1100):
        runtime.events.publish("worker.output_delta", "w", {"turn": 1, "text": str(index)})
    kept = drain(live)
    assert live.dropped == 1100 - len(kept) > 0
    assert kept[-1].data["text"] == "1099"


async def test_closing_a_subscription_or_the_runtime_stops_delivery():
    runtime = runtime_for(streaming(pieces=3, gap=0))
    first, second = runtime.events.subscribe(), runtime.events.subscribe()
    first.close()
    runtime.events.publish("worker.output_delta", "w", {"turn": 1, "text": "x"})
    assert (first.pending(), second.pending()) == (False, True)
    await runtime.close()
    assert second.closed
