"""A turn leaves no reference cycle behind (decision 0243).

Objects in a cycle are freed only by the garbage collector, and every such
object counts towards its next collection: four per turn (the turn, its
delta coalescer, the coalescer's publisher and its buffer) made the memory
store's send input pay for a collection every hundred inputs or so. Here,
turns of the builtin engines and of one that streams deltas to a
subscriber run with the collector saving what it finds; none of the
runtime's own objects may be among it.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from registry_core import TurnEngine, TurnResult
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

from .test_engines import until_idle
from .test_output_deltas import runtime_for, streaming


def _ours(objects: list[object]) -> list[str]:
    """The garbage that is the runtime's own (the test's loop and pytest make some of their own)."""
    found = []
    for item in objects:
        module = getattr(type(item), "__module__", "") or ""
        qualname = getattr(item, "__qualname__", "") if callable(item) else ""
        if module.startswith(("runtime_registry", "registry_core")) or "Turn" in qualname or "delta" in qualname:
            found.append(f"{type(item).__qualname__} {qualname}".strip())
    return found


@pytest.mark.parametrize("engine", ["record", "echo", "streaming"])
async def test_turns_leave_no_cycle_for_the_garbage_collector(engine):
    streamer = streaming(pieces=5, gap=0)
    runtime = runtime_for(streamer if engine == "streaming" else BUILTIN_ENGINES[engine])
    live = runtime.events.subscribe()
    worker_id = (await runtime.create_worker()).worker.worker_id
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for index in range(20):
            await runtime.send_input(worker_id, f"input {index}")
            await until_idle(runtime, worker_id)
        await asyncio.sleep(0)
        gc.collect()
        garbage = list(gc.garbage)
        deltas = live.take(up_to=1000)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        live.close()
        await runtime.close()
    assert _ours(garbage) == []
    if engine == "streaming":
        assert len(deltas) >= 20  # the deltas were published (to the subscriber), not lost


async def test_a_turn_that_streams_nothing_makes_no_delta_coalescer():
    seen = []

    async def quiet(turn):
        seen.append(turn)
        await asyncio.sleep(0)
        return TurnResult("reply")

    async def chatty(turn):
        seen.append(turn)
        turn.emit("piece")
        await asyncio.sleep(0)
        return TurnResult("reply")

    for run, streams in ((quiet, False), (chatty, True)):
        runtime = runtime_for(TurnEngine(run.__name__, run))
        worker_id = (await runtime.create_worker()).worker.worker_id
        await runtime.send_input(worker_id, "hello")
        await until_idle(runtime, worker_id)
        await runtime.close()
        assert (seen[-1]._deltas is not None) is streams
