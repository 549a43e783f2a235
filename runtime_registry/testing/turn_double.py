"""``FakeTurn``: a :class:`~registry_core.engines.Turn` for unit tests of an engine function, without a runtime.

``Turn()`` is built by the runtime that hosts the engine; a unit test builds a
``FakeTurn`` instead and calls the engine with it::

    from registry_core import EngineProfile, TurnResult
    from runtime_registry.testing import FakeTurn

    async def test_shout():
        turn = FakeTurn("hello there", profile=EngineProfile("loud", "shout"))
        assert await shout(turn) == TurnResult("HELLO THERE")
        assert turn.emitted == ["HELLO ", "THERE "]

It records what the engine streamed (:attr:`FakeTurn.emitted`) and the
rounds of tool calls it made (:attr:`FakeTurn.rounds`), and runs the tools it
was given as a runtime does (:func:`registry_core.tools.run_tool_call`:
``ToolError``'s message, an exception's type only, timeouts, tools not
granted), with the profile's ``max_tool_rounds``. What it does not do: write
a transcript, events, or enforce ``max_turn_seconds`` — the
:func:`~runtime_registry.testing.engine_harness.engine_runtime` harness runs
the engine in the real runtime for that.

.. versionadded:: 0.4
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from registry_core.engines import EngineProfile, Turn, TurnFailed
from registry_core.models import TranscriptEntry
from registry_core.tools import ToolCall, ToolOutcome, WorkerTool, run_tool_call

__all__ = ["FakeTurn"]


class FakeTurn(Turn):
    """A turn built by a test.

    :param input: the turn's input text.
    :param history: the transcript before it (``TranscriptEntry`` objects), oldest first.
    :param profile: the profile's settings (default: profile ``test`` of engine ``test``).
    :param tools: the tools the worker was granted.
    :param number: the turn's number.
    :param input_role: ``user`` or ``system``.
    :param worker_id: the worker's id.
    """

    def __init__(
        self,
        input: str,
        *,
        history: Sequence[TranscriptEntry] = (),
        profile: EngineProfile | None = None,
        tools: Sequence[WorkerTool] = (),
        number: int = 1,
        input_role: str = "user",
        worker_id: str = "test-worker",
    ) -> None:
        self.input = input
        self.history = tuple(history)
        self.profile = profile if profile is not None else EngineProfile(name="test", engine="test")
        self.tools = tuple(tools)
        self.number = number
        self.input_role = input_role
        self.worker_id = worker_id
        #: Every non-empty text the engine passed to :meth:`emit`, in order.
        self.emitted: list[str] = []
        #: Every round of tool calls, as ``(calls, outcomes)``.
        self.rounds: list[tuple[list[ToolCall], list[ToolOutcome]]] = []

    def emit(self, text: str) -> None:
        """Record a piece of the streamed reply (as the runtime, refuse what is not a ``str``)."""
        if not isinstance(text, str):
            raise TypeError(f"Turn.emit takes a str, not {type(text).__name__}")
        if text:
            self.emitted.append(text)

    async def run_tools(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        """Run one round of calls on the granted tools, as a runtime does; record the round.

        :raises TurnFailed: ``tool_round_limit`` past ``profile.max_tool_rounds`` rounds.
        """
        if not calls:
            return []
        if len(self.rounds) >= self.profile.max_tool_rounds:
            raise TurnFailed(
                "tool_round_limit",
                f"the model asked for tools more than {self.profile.max_tool_rounds} rounds in one turn",
            )
        granted = {tool.name: tool for tool in self.tools}
        outcomes = list(await asyncio.gather(*(run_tool_call(granted.get(call.name), call) for call in calls)))
        self.rounds.append((list(calls), outcomes))
        return outcomes
