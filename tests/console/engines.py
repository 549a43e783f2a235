"""A turn engine for the console's tests: a reply that streams slowly, optionally after a tool call or as a failure.

``drip`` replies with the input, then ``pieces`` more pieces, one every
``interval`` seconds (profile ``options``), each sent as a ``worker.output_delta``
first: what a model's streamed reply looks like to the console. With
``tool = true`` it first calls the builtin ``clock`` tool with the input as an
argument (a ``tool_call`` and a ``tool_result`` entry); with ``fail = true`` it
ends the turn with ``provider_error`` and a message holding the input; with
``refuse = true`` with a failure of its own (``EngineFailed``: ``engine_error``
and ``engine_code`` ``drip.refused_input``).
"""

from __future__ import annotations

import asyncio
import types

from registry_core import TurnEngine, TurnResult, hookimpl
from registry_core.engines import EngineFailed, TokenUsage, TurnFailed
from registry_core.tools import ToolCall
from runtime_registry.host.plugin_loading import DiscoveredPlugin


async def drip(turn) -> TurnResult:
    options = turn.profile.options
    pieces, interval = int(options.get("pieces", 20)), float(options.get("interval", 0.1))
    if options.get("tool"):
        await turn.run_tools([ToolCall("call-1", "clock", {"note": turn.input})])
    if options.get("fail"):
        await asyncio.sleep(interval)
        raise TurnFailed("provider_error", f"the provider refused: {turn.input}")
    if options.get("refuse"):
        raise EngineFailed("refused_input", f"the engine refused: {turn.input}")
    text = [turn.input + " "]
    turn.emit(text[0])
    for number in range(pieces):
        await asyncio.sleep(interval)
        piece = f"piece{number} "
        turn.emit(piece)
        text.append(piece)
    return TurnResult("".join(text), usage=TokenUsage(len(turn.input), pieces), stop_reason="end_turn")


def _plugin() -> types.ModuleType:
    @hookimpl
    def register_turn_engines(register):
        register(TurnEngine("drip", drip, description="streams a slow reply (tests)"))

    # A module, as a real plugin is (pluggy needs plugins it can hash).
    plugin = types.ModuleType("console_test_engines")
    plugin.register_turn_engines = register_turn_engines  # type: ignore[attr-defined]
    return plugin


#: The plugin as discovery hands it over (a real distribution's entry point would be the same).
DRIP_PLUGIN = DiscoveredPlugin("console-test-engines", "0.0.1", "console-test-engines", _plugin)
