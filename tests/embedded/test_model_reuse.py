"""A read of an unchanged worker returns the model the last read built; any change builds a new one (decision 0241).

The server caches a model's rendering by the model, so reuse must never hide
a change: status, transcript length, totals and label each make a new model
with the new value, on the memory store and on SQLite (whose readers see the
committed state, decision 0111).
"""

from __future__ import annotations

import asyncio

import pytest

from registry_core import (
    CreateWorkerRequest,
    HostExtensions,
    RuntimeContext,
    ToolCall,
    TurnEngine,
    TurnResult,
    WorkerTool,
    WorkerTotals,
)
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.settings import Durability, StoreBackend, StoreSettings
from tests.embedded.conftest import PROFILES
from tests.embedded.durable import RUNTIME, create, durable_settings, send, until_idle

STORES = {
    "memory": StoreSettings(backend=StoreBackend.MEMORY),
    "acknowledged": StoreSettings(durability=Durability.ACKNOWLEDGED),
    "batched": StoreSettings(durability=Durability.BATCHED),
}


#: Opened by a test: ``call`` lets the engine call the gated tool, ``open`` lets the tool answer.
GATE: dict[str, asyncio.Event] = {}


async def _gated() -> str:
    await GATE["open"].wait()
    return "through"


async def _one_gated_call(turn):
    await GATE["call"].wait()
    (outcome,) = await turn.run_tools([ToolCall("c1", "gated", {})])
    return TurnResult(outcome.output)


GATED = WorkerTool("gated", "answers when the test says so", {"type": "object"}, _gated, timeout_seconds=30)
ENGINE = TurnEngine("one-gated-call", _one_gated_call)
EXTENSIONS = HostExtensions(engines={**BUILTIN_ENGINES, ENGINE.name: ENGINE}, tools={"gated": GATED})


@pytest.fixture(params=sorted(STORES))
async def runtime(request, tmp_path):
    GATE.update(call=asyncio.Event(), open=asyncio.Event())
    profiles = {**PROFILES, "gated": ProfileSettings(engine=ENGINE.name, tools=["gated"])}
    settings = durable_settings(store=STORES[request.param], profiles=profiles)
    provider = EmbeddedProvider(RUNTIME, settings, context=RuntimeContext(tmp_path), extensions=EXTENSIONS)
    await provider.start()
    yield provider
    GATE["call"].set()
    GATE["open"].set()
    await provider.close()


async def read_until(runtime, worker_id: str, done, timeout: float = 5.0):
    """The worker as read once ``done(worker)`` holds."""
    async with asyncio.timeout(timeout):
        while not done(worker := await runtime.get_worker(worker_id)):
            await asyncio.sleep(0.002)
    return worker


async def test_an_unchanged_worker_reads_as_the_same_model(runtime) -> None:
    worker_id = await create(runtime, label="kept")
    first = await runtime.get_worker(worker_id)
    assert await runtime.get_worker(worker_id) is first
    (listed,) = (await runtime.list_workers(limit=10, cursor=None)).items
    assert listed is first


async def test_a_read_right_after_create_returns_the_created_model(runtime) -> None:
    """The create's answer is the model the server rendered first; reading another, equal one cost a deep compare."""
    created = await runtime.create_worker(CreateWorkerRequest(label="fresh"))
    assert await runtime.get_worker(created.worker_id) is created


async def test_a_turn_makes_a_new_model_with_its_length_and_totals(runtime) -> None:
    worker_id = await create(runtime)
    before = await runtime.get_worker(worker_id)
    await send(runtime, worker_id, "hello")
    await until_idle(runtime, worker_id)
    after = await runtime.get_worker(worker_id)
    assert after is not before
    assert (before.transcript_length, before.totals) == (0, WorkerTotals(0, 0, 0))
    assert after.status == "idle"
    assert after.transcript_length > 0
    assert after.totals is not None and after.totals.turns == 1
    assert await runtime.get_worker(worker_id) is after


async def test_status_changes_are_never_hidden_by_reuse(runtime) -> None:
    worker_id = await create(runtime, profile="hold")
    assert (await runtime.get_worker(worker_id)).status == "idle"
    await send(runtime, worker_id)
    async with asyncio.timeout(5):
        while (await runtime.get_worker(worker_id)).status != "busy":
            await asyncio.sleep(0.002)
    await runtime.stop_worker(worker_id)
    stopped = await read_until(runtime, worker_id, lambda w: w.status == "stopped")
    assert stopped.worker_id == worker_id
    (listed,) = (await runtime.list_workers(limit=10, cursor=None)).items
    assert listed.status == "stopped"


async def test_stopping_an_idle_worker_changes_only_its_status_and_reads_show_it(runtime) -> None:
    worker_id = await create(runtime)
    idle = await runtime.get_worker(worker_id)
    await runtime.stop_worker(worker_id)
    stopped = await read_until(runtime, worker_id, lambda w: w.status == "stopped")
    assert (stopped.transcript_length, stopped.totals) == (idle.transcript_length, idle.totals)


async def test_entries_added_mid_turn_show_while_the_status_stays_busy(runtime) -> None:
    worker_id = await create(runtime, profile="gated", capabilities=["tool:gated"])
    await send(runtime, worker_id)
    accepted = await read_until(runtime, worker_id, lambda w: w.status == "busy")
    assert accepted.transcript_length == 1  # the input; the engine waits before its tool call
    GATE["call"].set()
    # The tool call is recorded while the tool waits: only the length changes.
    calling = await read_until(runtime, worker_id, lambda w: w.transcript_length > accepted.transcript_length)
    assert (calling.status, calling.totals) == ("busy", accepted.totals)
    GATE["open"].set()
    await until_idle(runtime, worker_id)
