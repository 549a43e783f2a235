"""The engine kit: ToolError reaches the model, FakeTurn runs an engine alone, engine_runtime in the real runtime."""

from __future__ import annotations

import asyncio
import types

import pytest

from registry_core import EngineProfile, TurnEngine, TurnResult, hookimpl
from registry_core.tools import ToolCall, ToolError, WorkerTool, run_tool_call
from runtime_registry.host import ConfigError
from runtime_registry.testing import FakeTurn, engine_runtime


async def divide(a: float, b: float) -> str:
    if b == 0:
        raise ToolError("division by zero")
    return str(a / b)


async def leaky(**_arguments: object) -> str:
    raise OSError("cannot open /srv/secret/calc.db")


DIVIDE = WorkerTool("kit_calc_divide", "a / b", {"type": "object"}, divide)
LEAKY = WorkerTool("kit_calc_leaky", "fails", {"type": "object"}, leaky)


async def test_a_tool_error_gives_the_model_its_message_and_other_errors_only_their_type():
    refused = await run_tool_call(DIVIDE, ToolCall("c1", "kit_calc_divide", {"a": 1, "b": 0}))
    leaked = await run_tool_call(LEAKY, ToolCall("c2", "kit_calc_leaky", {}))
    assert (refused.output, refused.is_error) == ("division by zero", True)
    assert (leaked.output, leaked.is_error) == ("the tool failed (OSError)", True)


def test_a_tool_errors_message_is_one_bounded_line():
    error = ToolError("line one\nline two " + "x" * 1000)
    assert "\n" not in error.message and len(error.message) == 500 and error.message.endswith("...")


async def calculator(turn):
    """Divides the two numbers of the input with the tool; one round."""
    a, b = (float(part) for part in turn.input.split("/"))
    (outcome,) = await turn.run_tools([ToolCall("c1", "kit_calc_divide", {"a": a, "b": b})])
    turn.emit(outcome.output)
    return TurnResult(("error: " if outcome.is_error else "") + outcome.output)


async def test_fake_turn_runs_an_engine_with_its_tools_and_records_what_it_did():
    turn = FakeTurn("1/0", tools=[DIVIDE])
    assert (await calculator(turn)).text == "error: division by zero"
    assert turn.emitted == ["division by zero"]
    ((calls, outcomes),) = turn.rounds
    assert calls[0].arguments == {"a": 1.0, "b": 0.0} and outcomes[0].is_error


async def test_fake_turn_keeps_the_profiles_round_limit_and_refuses_what_emit_cannot_take():
    turn = FakeTurn("1/2", tools=[DIVIDE], profile=EngineProfile(name="p", engine="calc", max_tool_rounds=0))
    with pytest.raises(Exception, match="more than 0 rounds"):
        await calculator(turn)
    with pytest.raises(TypeError):
        turn.emit(b"bytes")  # type: ignore[arg-type]


def calc_plugin() -> types.ModuleType:
    plugin = types.ModuleType("kit_calc")

    @hookimpl
    def register_turn_engines(register):
        register(TurnEngine("kit-calc", calculator, description="divides"))

    @hookimpl
    def register_worker_tools(register):
        register(DIVIDE)

    plugin.register_turn_engines = register_turn_engines  # type: ignore[attr-defined]
    plugin.register_worker_tools = register_worker_tools  # type: ignore[attr-defined]
    return plugin


async def test_engine_runtime_serves_the_engine_and_its_tools_in_the_embedded_runtime():
    async with engine_runtime(calc_plugin(), profile={"tools": ["kit_calc_divide"]}) as runtime:
        worker = await runtime.create_worker(tools=["kit_calc_divide"])
        ok = await runtime.run_turn(worker, "6/3")
        refused = await runtime.run_turn(worker, "1/0")
    assert (ok.ended.type, ok.reply) == ("worker.turn_completed", "2.0")
    assert [event.type for event in ok.events] == [
        "worker.input_accepted",
        "worker.turn_started",
        "worker.tool_call_started",
        "worker.tool_call_finished",
        "worker.output",
        "worker.turn_completed",
    ]
    assert refused.reply == "error: division by zero"
    assert [role for role, _ in refused.entries] == ["user", "tool_call", "tool_result", "assistant"]


async def test_engine_runtime_refuses_a_profile_with_a_typo_as_check_config_would():
    with pytest.raises(ConfigError, match="max_turn_secs: unknown field; did you mean 'max_turn_seconds'"):
        async with engine_runtime(calc_plugin(), profile={"max_turn_secs": 3}):
            pass


async def test_engine_runtime_runs_a_built_in_engine():
    async with engine_runtime(None, engine="echo") as runtime:
        worker = await runtime.create_worker()
        turn = await runtime.run_turn(worker, "ping")
    assert (turn.reply, turn.entries) == ("ping", [("user", "ping"), ("assistant", "ping")])
    await asyncio.sleep(0)
