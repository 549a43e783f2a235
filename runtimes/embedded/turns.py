"""One turn of an embedded worker, as its engine sees it: history, input, streaming, tools.

:class:`EmbeddedTurn` is the runtime's implementation of
``registry_core.engines.Turn``. It writes to the worker's transcript and the
runtime's event log only while the turn is still the worker's: a turn that was
cancelled (or stopped, deleted, shut down) can never write late.

Streaming: :meth:`EmbeddedTurn.emit` never suspends. Pieces are buffered and
published as one ``worker.output_delta`` live event at most every
``1 / output_deltas_per_second`` seconds (leading edge: a piece after a quiet
spell goes out at once; then at most one per interval). Because the engine
never waits on our coalescing, a cancel always lands on the engine's own
await -- for the ``llm`` engine, the read of the upstream HTTP stream, which
then closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from registry_core.engines import EngineProfile, Turn, TurnFailed
from registry_core.event_contract import WORKER_OUTPUT_DELTA, WORKER_TOOL_CALL_FINISHED, WORKER_TOOL_CALL_STARTED
from registry_core.models import TranscriptEntry
from registry_core.tools import ToolCall, ToolOutcome, WorkerTool, run_tool_call
from runtime_registry.runtimes.embedded.history import read_history, read_history_now
from runtime_registry.runtimes.embedded.transcript import TOOL_CALL, TOOL_RESULT
from runtime_registry.runtimes.embedded.workers import BUSY

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.store import WorkerStore
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["DeltaCoalescer", "EmbeddedTurn"]

log = logging.getLogger("runtime_registry.runtimes.embedded.turns")


class DeltaCoalescer:
    """Buffers streamed pieces of one turn and publishes them at most ``rate`` times per second."""

    __slots__ = ("_handle", "_interval", "_last", "_loop", "_pieces", "_publish")

    def __init__(self, publish: Callable[[str], None], rate: float) -> None:
        self._publish = publish
        self._interval = 1.0 / rate
        self._pieces: list[str] = []
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")
        # Taken at the first piece: most turns of the builtin engines stream nothing.
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, text: str) -> None:
        """Buffer ``text``; publish now if the last delta is an interval old, else once it is."""
        self._pieces.append(text)
        if self._handle is not None:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        due = self._last + self._interval
        if self._loop.time() >= due:
            self.flush()
        else:
            self._handle = self._loop.call_at(due, self.flush)

    def flush(self) -> None:
        """Publish what is buffered, if anything (also called when the turn ends)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        loop = self._loop
        if self._pieces and loop is not None:  # pieces come through add(), which took the loop
            text = "".join(self._pieces)
            self._pieces.clear()
            self._last = loop.time()
            self._publish(text)

    def discard(self) -> None:
        """Drop what is buffered (the turn was cancelled)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pieces.clear()


class EmbeddedTurn(Turn):
    """The embedded runtime's ``Turn``. Built by the runtime when it accepts input."""

    def __init__(
        self,
        *,
        worker: WorkerRecord,
        number: int,
        history_length: int,
        content: str,
        role: str,
        profile: EngineProfile,
        tools: Sequence[WorkerTool],
        store: WorkerStore,
        max_transcript_entries: int,
        deltas_per_second: float,
    ) -> None:
        self.number = number
        self.worker_id = worker.worker_id
        self._history_length = history_length
        self._history: tuple[TranscriptEntry, ...] | None = None
        self.input = content
        self.input_role = role
        self.profile = profile
        self.tools = tuple(tools)
        self._worker = worker
        # The turn's writes go through the store, which decides whether the
        # turn is still the worker's (decision 0110).
        self._store = store
        self._max_entries = max_transcript_entries
        self._rounds = 0
        self._deltas_per_second = deltas_per_second
        # Made at the first streamed piece: most turns of the builtin engines stream nothing.
        self._deltas: DeltaCoalescer | None = None

    @property
    def deltas(self) -> DeltaCoalescer:
        """The turn's delta coalescer (made when first used)."""
        if self._deltas is None:
            # The publisher holds the worker, not this turn: a bound method here would make a
            # reference cycle (turn -> coalescer -> turn) that only the garbage collector frees,
            # four objects a turn that drove most of its collections (decision 0243).
            publish = _delta_publisher(self._store, self._worker, self.number)
            self._deltas = DeltaCoalescer(publish, self._deltas_per_second)
        return self._deltas

    def flush_deltas(self) -> None:
        """Publish what is buffered (the turn ends, or asks for tools); nothing to do if it streamed nothing."""
        if self._deltas is not None:
            self._deltas.flush()

    def discard_deltas(self) -> None:
        """Drop what is buffered (the turn was cancelled or failed)."""
        if self._deltas is not None:
            self._deltas.discard()

    @property
    def history(self) -> Sequence[TranscriptEntry]:  # type: ignore[override]
        """The transcript before this turn's input: its newest entries within ``max_history_bytes``.

        Loaded before the engine runs when the engine ``reads_history``
        (:meth:`load_history`, a page per event-loop step); read here in one
        piece on first use otherwise. Engines that never look at it
        (``record``, ``echo``) cost no read of the transcript.
        """
        if self._history is None:
            self._history = read_history_now(
                self._worker.transcript, self._history_length, self.profile.max_history_bytes
            )
        return self._history

    async def load_history(self) -> None:
        """Read :attr:`history` without holding the event loop for more than a page at a time."""
        if self._history is None:
            history = await read_history(self._worker.transcript, self._history_length, self.profile.max_history_bytes)
            if self._history is None:
                self._history = history

    @property
    def current(self) -> bool:
        """Whether this is still the worker's turn (not cancelled, stopped, deleted or superseded)."""
        return _is_current(self._worker, self.number)

    def emit(self, text: str) -> None:
        """Stream ``text`` as part of the reply (coalesced; never suspends).

        :raises TypeError: ``text`` is not a ``str`` (the turn then fails as ``engine_error``).
        """
        if not isinstance(text, str):
            raise TypeError(f"Turn.emit takes a str, not {type(text).__name__}")
        if text and self.current:
            self.deltas.add(text)

    async def run_tools(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        """One round of tool calls: recorded, run concurrently with their timeouts, recorded again."""
        if not self.current:
            raise asyncio.CancelledError  # the turn has ended: run no tool, write nothing
        if not calls:
            return []
        self._rounds += 1
        if self._rounds > self.profile.max_tool_rounds:
            raise TurnFailed(
                "tool_round_limit",
                f"the model asked for tools more than {self.profile.max_tool_rounds} rounds in one turn",
            )
        # Room for every call, every result and the reply that should follow.
        if len(self._worker.transcript) + 2 * len(calls) + 1 > self._max_entries:
            raise TurnFailed("transcript_full", "the worker's transcript has no room for this turn's tool calls")
        self.flush_deltas()  # what the model said before asking comes first
        for call in calls:
            await self._record(
                TOOL_CALL,
                call_content(call),
                WORKER_TOOL_CALL_STARTED,
                {
                    "turn": self.number,
                    "call_id": call.call_id,
                    "tool": call.name,
                    "arguments": dict(call.arguments),
                },
            )
        granted = {tool.name: tool for tool in self.tools}
        # Each call as registry_core.tools.run_tool_call runs it: a ToolError's message reaches the model.
        outcomes = await asyncio.gather(*(run_tool_call(granted.get(call.name), call) for call in calls))
        for outcome in outcomes:
            await self._record(
                TOOL_RESULT,
                outcome_content(outcome),
                WORKER_TOOL_CALL_FINISHED,
                {
                    "turn": self.number,
                    "call_id": outcome.call_id,
                    "tool": outcome.name,
                    "is_error": outcome.is_error,
                    "output": outcome.output,
                },
            )
        return list(outcomes)

    async def _record(self, role: str, content: str, event_type: str, data: dict[str, Any]) -> None:
        if await self._store.add_turn_entry(self._worker, self.number, role, content, event_type, data) is None:
            raise asyncio.CancelledError  # the turn is no longer the worker's: write nothing more


def _is_current(worker: WorkerRecord, number: int) -> bool:
    return worker.status is BUSY and worker.turn_number == number and not worker.waiting


def _delta_publisher(store: WorkerStore, worker: WorkerRecord, number: int) -> Callable[[str], None]:
    """Publish a ``worker.output_delta`` of turn ``number`` while it is the worker's turn."""
    worker_id = worker.worker_id

    def publish(text: str) -> None:
        if _is_current(worker, number):
            store.events.publish(WORKER_OUTPUT_DELTA, worker_id, {"turn": number, "text": text})

    return publish


def call_content(call: ToolCall) -> str:
    """A ``tool_call`` transcript entry's content."""
    return json.dumps(
        {"call_id": call.call_id, "name": call.name, "arguments": dict(call.arguments)}, ensure_ascii=False
    )


def outcome_content(outcome: ToolOutcome) -> str:
    """A ``tool_result`` transcript entry's content."""
    return json.dumps(
        {"call_id": outcome.call_id, "name": outcome.name, "output": outcome.output, "is_error": outcome.is_error},
        ensure_ascii=False,
    )
