"""Worker tools: granted at create, run by the runtime for the engine, recorded, bounded."""

from __future__ import annotations

import asyncio
import json

import pytest

from registry_core import InvalidRequest, ToolCall, TurnEngine, TurnResult, WorkerTool, data_problems
from runtime_registry.engines.clock import CLOCK
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

from .test_engines import events_of, transcript_of, until_idle


async def _boom() -> str:
    raise OSError("disk /secret/path is on fire")


async def _sleepy() -> str:
    await asyncio.sleep(30)
    return "late"


async def _add(a: int, b: int) -> int:
    return a + b


BOOM = WorkerTool("boom", "always fails", {"type": "object"}, _boom)
SLEEPY = WorkerTool("sleepy", "never answers in time", {"type": "object"}, _sleepy, timeout_seconds=0.05)
ADD = WorkerTool(
    "add", "adds", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}, _add
)
TOOLS = {tool.name: tool for tool in (CLOCK, BOOM, SLEEPY, ADD)}


def scripted(rounds: list[list[ToolCall]]) -> TurnEngine:
    """An engine that asks for each round of calls in turn, then replies with what the tools said."""

    async def run(turn):
        said = []
        for calls in rounds:
            outcomes = await turn.run_tools(calls)
            said.extend(f"{o.name}:{'error' if o.is_error else 'ok'}:{o.output}" for o in outcomes)
        return TurnResult(" | ".join(said))

    return TurnEngine("scripted", run)


def runtime_for(engine: TurnEngine, tools=("clock", "boom", "sleepy", "add"), **profile) -> EmbeddedRuntime:
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine=engine.name, tools=list(tools), **profile)}, default_profile="p"
    )
    return EmbeddedRuntime(settings, event_start_id=1, engines={**BUILTIN_ENGINES, engine.name: engine}, tools=TOOLS)


async def run_one_turn(
    runtime: EmbeddedRuntime, capabilities=("tool:clock", "tool:boom", "tool:sleepy", "tool:add")
) -> str:
    worker = (await runtime.create_worker(capabilities=list(capabilities))).worker.worker_id
    await runtime.send_input(worker, "go")
    await until_idle(runtime, worker)
    return worker


async def test_a_tool_call_and_its_result_go_into_the_transcript_and_events():
    runtime = runtime_for(scripted([[ToolCall("c1", "add", {"a": 2, "b": 3})]]))
    worker = await run_one_turn(runtime)
    entries = transcript_of(runtime, worker)
    assert [role for role, _ in entries] == ["user", "tool_call", "tool_result", "assistant"]
    assert json.loads(entries[1][1]) == {"call_id": "c1", "name": "add", "arguments": {"a": 2, "b": 3}}
    assert json.loads(entries[2][1]) == {"call_id": "c1", "name": "add", "output": "5", "is_error": False}
    assert entries[3][1] == "add:ok:5"
    kinds = dict(events_of(runtime, worker))
    assert all(data_problems(event) == [] for event in runtime.read_events(cursor=None, limit=100).events)
    assert kinds["worker.tool_call_started"] == {
        "turn": 1,
        "call_id": "c1",
        "tool": "add",
        "arguments": {"a": 2, "b": 3},
        "transcript_sequence": 2,
    }
    assert kinds["worker.tool_call_finished"] == {
        "turn": 1,
        "call_id": "c1",
        "tool": "add",
        "is_error": False,
        "output": "5",
        "transcript_sequence": 3,
    }


async def test_the_clock_tool_tells_the_time():
    runtime = runtime_for(scripted([[ToolCall("c", "clock", {})]]))
    worker = await run_one_turn(runtime)
    reply = transcript_of(runtime, worker)[-1][1]
    assert reply.startswith("clock:ok:20") and "T" in reply


async def test_a_tool_that_raises_is_an_error_result_naming_only_the_exception_type():
    runtime = runtime_for(scripted([[ToolCall("c", "boom", {})]]))
    worker = await run_one_turn(runtime)
    assert transcript_of(runtime, worker)[-1][1] == "boom:error:the tool failed (OSError)"
    assert "secret" not in json.dumps([d for _, d in events_of(runtime, worker)])
    assert events_of(runtime, worker)[-1][0] == "worker.turn_completed"


async def test_a_tool_that_times_out_is_an_error_result_and_the_turn_goes_on():
    runtime = runtime_for(scripted([[ToolCall("c", "sleepy", {})], [ToolCall("d", "add", {"a": 1, "b": 1})]]))
    worker = await run_one_turn(runtime)
    assert (
        transcript_of(runtime, worker)[-1][1] == "sleepy:error:the tool did not answer within 0.05 seconds | add:ok:2"
    )


async def test_arguments_that_do_not_fit_are_an_error_result():
    runtime = runtime_for(scripted([[ToolCall("c", "add", {"x": 1})]]))
    worker = await run_one_turn(runtime)
    assert transcript_of(runtime, worker)[-1][1] == "add:error:the arguments do not fit the tool's parameters"


async def test_a_tool_the_worker_was_not_granted_is_an_error_result_and_never_runs():
    runtime = runtime_for(scripted([[ToolCall("c", "add", {"a": 1, "b": 1})]]))
    worker = await run_one_turn(runtime, capabilities=["tool:clock"])
    assert transcript_of(runtime, worker)[-1][1] == "add:error:there is no tool called 'add' for this worker"


async def test_calls_of_one_round_run_concurrently():
    runtime = runtime_for(scripted([[ToolCall(f"c{i}", "sleepy", {}) for i in range(5)]]))
    started = asyncio.get_running_loop().time()
    await run_one_turn(runtime)
    assert asyncio.get_running_loop().time() - started < 0.2  # five 0.05 s timeouts at once, not one after another


async def test_more_rounds_than_max_tool_rounds_fail_the_turn_with_tool_round_limit():
    runtime = runtime_for(scripted([[ToolCall(f"c{i}", "clock", {})] for i in range(3)]), max_tool_rounds=2)
    worker = await run_one_turn(runtime)
    assert events_of(runtime, worker)[-1][1]["code"] == "tool_round_limit"
    assert [role for role, _ in transcript_of(runtime, worker)].count("tool_result") == 2


async def test_a_round_without_room_in_the_transcript_fails_the_turn_with_transcript_full():
    settings = EmbeddedSettings(
        max_transcript_entries=4,
        profiles={"p": ProfileSettings(engine="scripted", tools=["clock"])},
        default_profile="p",
    )
    engine = scripted([[ToolCall("a", "clock", {}), ToolCall("b", "clock", {})]])
    runtime = EmbeddedRuntime(settings, engines={**BUILTIN_ENGINES, "scripted": engine}, tools=TOOLS)
    worker = (await runtime.create_worker(capabilities=["tool:clock"])).worker.worker_id
    await runtime.send_input(worker, "go")
    await until_idle(runtime, worker)
    assert events_of(runtime, worker)[-1][1]["code"] == "transcript_full"
    assert [role for role, _ in transcript_of(runtime, worker)] == ["user"]


async def test_asking_for_a_tool_the_profile_does_not_allow_is_invalid_request_at_its_index():
    runtime = runtime_for(scripted([]), tools=["clock"])
    with pytest.raises(InvalidRequest) as caught:
        await runtime.create_worker(capabilities=["tool:clock", "tool:add", "admin"])
    assert [d["path"] for d in caught.value.details] == ["capabilities[1]", "capabilities[2]"]
    assert len(runtime) == 0


async def test_builtin_profiles_grant_no_tools():
    runtime = EmbeddedRuntime(EmbeddedSettings(), tools=TOOLS)
    with pytest.raises(InvalidRequest):
        await runtime.create_worker(profile="builtin:echo", capabilities=["tool:clock"])


def test_a_profile_listing_a_tool_nobody_registered_is_a_config_error_at_its_index():
    with pytest.raises(InvalidRequest) as caught:
        runtime_for(scripted([]), tools=["clock", "teleport"])
    assert [d["path"] for d in caught.value.details] == ["profiles.p.tools[1]"]


async def test_a_turn_cancelled_while_a_tool_runs_cancels_the_tool_and_records_no_result():
    runtime = runtime_for(scripted([[ToolCall("c", "sleepy", {})]]))
    worker = (await runtime.create_worker(capabilities=["tool:sleepy"])).worker.worker_id
    await runtime.send_input(worker, "go")
    await asyncio.sleep(0.01)
    await runtime.cancel(worker)
    await asyncio.sleep(0.1)
    assert [role for role, _ in transcript_of(runtime, worker)] == ["user", "tool_call"]


def test_tool_names_and_timeouts_are_checked():
    with pytest.raises(ValueError):
        WorkerTool("bad name", "d", {}, _boom)
    with pytest.raises(ValueError):
        WorkerTool("ok", "d", {}, _boom, timeout_seconds=0)
