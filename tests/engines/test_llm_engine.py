"""The ``llm`` engine against a fake model registered through llm's plugin mechanism (offline, deterministic).

Run through the engine harness (``engine_runtime``): the built-in embedded plugin found by its
entry point, as the server finds it, serving the ``llm`` engine under the profile ``test``; a
profile it cannot use is the ``ConfigError`` ``check-config`` reports. Unit tests of the turn
function alone use ``FakeTurn``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

import attrs
import pytest

from registry_core import EngineProfile, InputRequest
from registry_core.models import InputContent
from runtime_registry.engines.clock import CLOCK
from runtime_registry.engines.llm_engine import LLM
from runtime_registry.host import ConfigError
from runtime_registry.testing import FakeTurn, engine_runtime
from runtime_registry.testing.engine_harness import TEST_PROFILE, EngineRuntime

from .conftest import KEY_ENV

PREFIX = f"runtimes[0].settings.profiles.{TEST_PROFILE}"


@contextlib.asynccontextmanager
async def llm_runtime(**profile: object) -> AsyncIterator[EngineRuntime]:
    """The harness serving the llm engine on the fake model; a key set to ``None`` is left out of the profile."""
    keys = {"model": "fake-model", "key_env": KEY_ENV, **profile}
    async with engine_runtime(None, engine="llm", profile={k: v for k, v in keys.items() if v is not None}) as rt:
        yield rt


async def refused(**profile: object) -> list[str]:
    """The configuration errors of a profile, as ``path: message`` below the profile."""
    with pytest.raises(ConfigError) as caught:
        async with llm_runtime(**profile):
            pass
    return [line.split(PREFIX + ".", 1)[1] for line in caught.value.lines()]


def fake_profile(**fields: object) -> EngineProfile:
    return EngineProfile(**{"name": "p", "engine": "llm", "model": "fake-model", "key_env": KEY_ENV, **fields})  # type: ignore[arg-type]


async def test_a_turn_streams_deltas_replies_once_and_reports_usage():
    async with llm_runtime() as rt:
        live = rt.registry.open_live_events(rt.runtime_id)
        worker = await rt.create_worker()
        turn = await rt.run_turn(worker, "hello there")
        deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
    assert turn.entries == [("user", "hello there"), ("assistant", "echo: hello there")]
    assert "".join(deltas) == "echo: hello there"
    assert (turn.ended.type, turn.ended.data) == (
        "worker.turn_completed",
        {"turn": 1, "usage": {"input_tokens": 1, "output_tokens": 3}, "stop_reason": "end_turn"},
    )


async def test_the_turn_function_alone_streams_and_replies_with_fake_turn():
    from runtime_registry.engines.llm_engine import run

    turn = FakeTurn("hello there", profile=fake_profile())
    result = await run(turn)
    assert (result.text, result.stop_reason) == ("echo: hello there", "end_turn")
    assert "".join(turn.emitted) == "echo: hello there"


async def test_every_turn_replays_the_history_from_the_transcript_with_the_system_prompt_first(fake_llm_model):
    async with llm_runtime(system_prompt="be brief") as rt:
        worker = await rt.create_worker()
        await rt.run_turn(worker, "one")
        await rt.run_turn(worker, "two")
    assert fake_llm_model.PROMPTS[-1] == [
        ("system", "be brief"),
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
    ]


async def test_tool_calls_are_run_recorded_and_replayed_in_later_turns(fake_llm_model):
    async with llm_runtime(tools=["clock"]) as rt:
        worker = await rt.create_worker(tools=["clock"])
        first = await rt.run_turn(worker, "tool:clock")
        await rt.run_turn(worker, "thanks")
    assert [role for role, _ in first.entries] == ["user", "tool_call", "tool_result", "assistant"]
    assert first.reply is not None and first.reply.startswith("let me check. the tool said 20")
    replayed = [role for role, _ in fake_llm_model.PROMPTS[-1]]
    assert replayed == ["user", "assistant", "tool", "assistant", "user"]
    assert "result[t1]=" in fake_llm_model.PROMPTS[-1][2][1]


async def test_fake_turn_runs_the_tool_round_as_the_runtime_does():
    from runtime_registry.engines.llm_engine import run

    turn = FakeTurn("tool:clock", profile=fake_profile(tools=("clock",)), tools=[CLOCK])
    result = await run(turn)
    ((calls, outcomes),) = turn.rounds
    assert [call.name for call in calls] == ["clock"] and not outcomes[0].is_error
    assert result.text is not None and result.text.startswith("let me check. the tool said 20")


async def test_a_model_that_calls_tools_for_ever_stops_at_max_tool_rounds():
    async with llm_runtime(tools=["clock"], max_tool_rounds=2) as rt:
        turn = await rt.run_turn(await rt.create_worker(tools=["clock"]), "tools-forever")
    assert (turn.ended.type, turn.ended.data["code"]) == ("worker.turn_failed", "tool_round_limit")


@pytest.mark.parametrize(
    ("text", "code"),
    [("fail:auth", "provider_auth"), ("fail:rate", "provider_rate_limited"), ("fail:server", "provider_error")],
)
async def test_upstream_failures_become_typed_codes_without_the_upstream_body(text, code):
    async with llm_runtime() as rt:
        worker = await rt.create_worker()
        turn = await rt.run_turn(worker, text)
        status = (await rt.registry.get_worker(rt.runtime_id, worker)).status
    assert (turn.ended.type, turn.ended.data["code"]) == ("worker.turn_failed", code)
    assert "SECRET" not in turn.ended.data["message"] and "upstream.invalid" not in turn.ended.data["message"]
    assert "engine_code" not in turn.ended.data  # the provider's failure, not the engine's own
    assert turn.entries == [("user", text)] and status == "idle"


async def test_a_slow_model_is_cut_off_at_max_turn_seconds():
    async with llm_runtime(max_turn_seconds=0.2) as rt:
        turn = await rt.run_turn(await rt.create_worker(), "slow")
    assert turn.ended.data["code"] == "turn_timeout"
    assert turn.entries == [("user", "slow")]


async def test_cancel_during_a_stream_adds_no_assistant_entry():
    async with llm_runtime() as rt:
        worker = await rt.create_worker()
        await rt.registry.send_input(rt.runtime_id, worker, InputRequest(InputContent("slow")))
        await asyncio.sleep(0.1)
        assert (await rt.registry.cancel_worker(rt.runtime_id, worker)).changed
        await asyncio.sleep(0.05)
        transcript = await rt.registry.read_transcript(rt.runtime_id, worker)
        events = (await rt.registry.read_events(rt.runtime_id, worker_id=worker)).events
    assert [(e.role, e.content) for e in transcript.items] == [("user", "slow")]
    assert events[-1].type == "worker.turn_cancelled"


async def test_the_key_comes_from_key_env_explicitly(fake_llm_model, monkeypatch):
    monkeypatch.setenv("FAKE_KEY_FOR_TEST", "k-123")
    async with llm_runtime(key_env="FAKE_KEY_FOR_TEST") as rt:
        await rt.run_turn(await rt.create_worker(), "hi")
    assert fake_llm_model.KEYS[-1] == "k-123"


async def test_a_model_that_needs_a_key_and_has_none_fails_with_provider_auth():
    async with llm_runtime(key_env=None) as rt:  # the fake model needs a key, and llm's key store is isolated
        turn = await rt.run_turn(await rt.create_worker(), "hi")
    assert turn.ended.data["code"] == "provider_auth"


async def test_a_key_stored_in_the_operators_llm_directory_is_never_used(tmp_path, monkeypatch, fake_llm_model):
    # "llm keys set fake" on the server's account: llm would prefer it over
    # the environment. The engine points llm at a private directory instead.
    (tmp_path / "keys.json").write_text(json.dumps({"fake": "stored-key"}))
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    async with llm_runtime(key_env=None) as rt:
        turn = await rt.run_turn(await rt.create_worker(), "hi")
    assert turn.ended.data["code"] == "provider_auth"
    assert "stored-key" not in fake_llm_model.KEYS
    assert os.environ["LLM_USER_PATH"] != str(tmp_path)


async def test_a_profile_without_a_model_is_a_config_error_at_model():
    assert await refused(model=None) == ["model: the llm engine needs a model id"]


async def test_an_unknown_model_id_without_api_base_is_a_config_error_at_model():
    (problem,) = await refused(model="no-such-model-anywhere")
    assert problem.startswith("model: 'no-such-model-anywhere' is not a model llm or an installed llm plugin knows")


async def test_options_the_model_does_not_take_are_a_config_error_at_options():
    (problem,) = await refused(options={"temperature": 0.5, "warp_speed": 9})
    assert problem.startswith("options: not options this model takes") and "warp_speed" in problem


async def test_options_the_model_takes_are_accepted():
    async with llm_runtime(options={"temperature": 0.5}) as rt:
        turn = await rt.run_turn(await rt.create_worker(), "hi")
    assert turn.reply == "echo: hi"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"temperature": 3}, "options.temperature: must be at most 2"),
        ({"max_tokens": 0}, "options.max_tokens: must be at least 1"),
        ({"top_p": "high"}, "options.top_p: must be a number"),
        (
            {"temprature": 0.5},
            "options: not options this model takes, or not values it accepts: temprature (did you mean 'temperature'?)",
        ),
    ],
)
async def test_the_llm_engines_settings_class_checks_the_options_it_declares(options, problem):
    assert await refused(options=options) == [problem]


async def test_the_options_a_turn_sends_are_the_read_settings_and_the_others_as_written():
    from runtime_registry.engines.llm_turns import model_options

    async with llm_runtime(options={"temperature": 1}) as rt:
        profile = rt.registry.provider(rt.runtime_id).runtime.profiles.resolve(TEST_PROFILE)
    assert profile.engine_settings.temperature == 1.0 and profile.options == {"temperature": 1}
    assert model_options(profile) == {"temperature": 1.0}
    # A key the class does not declare (a model plugin's own) goes as written.
    other = attrs.evolve(profile, options={"temperature": 1, "top_k": 3})
    assert model_options(other) == {"temperature": 1.0, "top_k": 3}


async def test_a_reply_delay_on_an_llm_profile_is_a_config_error():
    assert await refused(reply_delay_seconds=1.0) == ["reply_delay_seconds: the llm engine takes no reply delay"]


async def test_any_model_id_is_accepted_with_an_api_base():
    async with llm_runtime(model="whatever-the-server-serves", api_base="http://127.0.0.1:9/v1"):
        pass


def test_the_engine_is_the_one_the_embedded_plugin_registers():
    from runtime_registry.plugins import embedded

    registered = []
    embedded.register_turn_engines(registered.append)
    assert LLM in registered


def test_the_tool_call_transcript_entries_are_json():
    from registry_core import ToolCall, ToolOutcome
    from runtime_registry.runtimes.embedded.turns import call_content, outcome_content

    assert json.loads(call_content(ToolCall("c", "clock", {"x": 1}))) == {
        "call_id": "c",
        "name": "clock",
        "arguments": {"x": 1},
    }
    assert json.loads(outcome_content(ToolOutcome("c", "clock", "out", True)))["is_error"] is True


def test_a_tool_result_whose_call_is_not_in_the_history_is_left_out():
    from datetime import UTC, datetime

    from registry_core.models import TranscriptEntry
    from runtime_registry.engines.llm_history import history_messages

    now = datetime.now(UTC)
    call = json.dumps({"call_id": "c2", "name": "clock", "arguments": {}})
    orphan = json.dumps({"call_id": "c1", "name": "clock", "output": "12:00", "is_error": False})
    answer = json.dumps({"call_id": "c2", "name": "clock", "output": "13:00", "is_error": False})
    entries = [
        TranscriptEntry(1, "tool_call", call, 1, now),
        TranscriptEntry(2, "tool_result", orphan, 2, now),
        TranscriptEntry(3, "tool_result", answer, 3, now),
    ]
    messages = history_messages(None, entries)
    results = [part.tool_call_id for message in messages for part in message.parts if message.role == "tool"]
    assert results == ["c2"]
