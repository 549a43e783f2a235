"""Event-loop lag while a turn reads a long history from a SQLite store (shared by the test and the benchmark).

A worker's transcript is filled through the runtime itself (``ENTRIES`` inputs of
``ENTRY_CHARS`` characters, each a turn of an engine that does not read
history), committed to the file; then a turn reads the whole of it while a
ticker task in the same loop records how late each of its 1 ms sleeps wakes
(wall time) and how much CPU time the loop's thread spent between two of its
wakeups: the longest step the loop ran, which on a loaded machine the wall
lag overstates by however long the OS kept the thread off a core.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import attrs

from registry_core import TurnEngine, TurnResult
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.history import read_history_now
from runtime_registry.runtimes.embedded.settings import MAX_HISTORY_BYTES, Durability, StoreSettings
from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore
from runtime_registry.runtimes.embedded.turns import EmbeddedTurn

ENTRIES = 2000
ENTRY_CHARS = 4096


@attrs.define
class LagFigures:
    """What one measurement found (seconds)."""

    entries_read: int
    #: The ticker's worst wall-clock lag while the turn read in pages.
    paged_max_lag: float
    #: The most CPU time the loop's thread spent between two ticks while the turn read in pages.
    paged_max_step_cpu: float
    #: The read turn, from input to idle.
    paged_total: float
    #: Reading the same entries in one piece (the loop held throughout): wall and CPU time.
    whole_read: float
    whole_read_cpu: float
    #: The ticker's worst lag over as long with no read at all: the noise floor of this machine now.
    idle_max_lag: float


async def _record(turn: EmbeddedTurn) -> TurnResult:
    return TurnResult(None)


async def _reader(turn: EmbeddedTurn) -> TurnResult:
    READ.append(len(turn.history))  # loaded by the runtime before the engine ran
    return TurnResult(None)


#: How many entries each measured turn was given.
READ: list[int] = []
#: Fills the transcript: reads no history (filling would read it 2,000 times).
FILLER = TurnEngine("filler", _record, replies=False, reads_history=False)  # type: ignore[arg-type]
#: The measured engine: the runtime reads its history, in pages, before it runs.
READER = TurnEngine("reader", _reader, replies=False)  # type: ignore[arg-type]


async def _runtime(directory: Path, engine: TurnEngine) -> EmbeddedRuntime:
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine=engine.name, max_history_bytes=MAX_HISTORY_BYTES)},
        default_profile="p",
        store=StoreSettings(durability=Durability.BATCHED),
    )
    store = SQLiteStore(directory / "lag.db", durability=Durability.BATCHED, retention=settings.event_retention)
    runtime = EmbeddedRuntime(settings, store=store, engines={**BUILTIN_ENGINES, engine.name: engine})
    await runtime.start()
    return runtime


async def filled_runtime(directory: Path, entries: int = ENTRIES) -> tuple[EmbeddedRuntime, str]:
    """A started SQLite runtime with one worker whose transcript holds ``entries`` committed inputs.

    The transcript is filled by a runtime whose profile ``p`` reads no
    history; the returned runtime is a restart on the same file whose
    profile ``p`` runs :data:`READER`.
    """
    runtime = await _runtime(directory, FILLER)
    worker = (await runtime.create_worker()).worker.worker_id
    text = "x" * (ENTRY_CHARS - 8)
    for index in range(entries):
        await runtime.send_input(worker, f"{index:07d} {text}")
        while runtime.get_worker(worker).status != "idle":
            await asyncio.sleep(0)
    await runtime.close()  # commits everything: the reads come from the file
    return await _runtime(directory, READER), worker


async def measure(runtime: EmbeddedRuntime, worker: str) -> LagFigures:
    """The ticker's worst lag while a turn reads the whole history in pages, and one read in one piece."""
    loop = asyncio.get_running_loop()
    record = runtime.get_worker(worker)
    length = len(record.transcript)
    started, started_cpu = loop.time(), time.thread_time()
    whole = read_history_now(record.transcript, length, MAX_HISTORY_BYTES)
    whole_read, whole_read_cpu = loop.time() - started, time.thread_time() - started_cpu
    assert len(whole) == length

    async def ticking_while(step) -> tuple[float, float]:
        lags: list[float] = []
        steps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                before, before_cpu = loop.time(), time.thread_time()
                await asyncio.sleep(0.001)
                lags.append(loop.time() - before - 0.001)
                steps.append(time.thread_time() - before_cpu)

        task = loop.create_task(ticker())
        await asyncio.sleep(0.01)
        lags.clear()
        steps.clear()
        await step()
        stop.set()
        await task
        return max(lags), max(steps)

    paged_total = 0.0

    async def read_turn() -> None:
        nonlocal paged_total
        started = loop.time()
        await runtime.send_input(worker, "read")
        while runtime.get_worker(worker).status != "idle":
            await asyncio.sleep(0)
        paged_total = loop.time() - started

    paged_max_lag, paged_max_step_cpu = await ticking_while(read_turn)
    idle_max_lag, _idle_step = await ticking_while(lambda: asyncio.sleep(paged_total))
    return LagFigures(
        READ[-1], paged_max_lag, paged_max_step_cpu, paged_total, whole_read, whole_read_cpu, idle_max_lag
    )
