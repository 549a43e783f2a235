"""The ``llm`` engine against a fake model registered through llm's plugin mechanism (offline, deterministic)."""

from __future__ import annotations

import asyncio
import json
import os

import attrs
import pytest

from registry_core import InvalidRequest
from runtime_registry.engines.clock import CLOCK
from runtime_registry.engines.llm_engine import LLM
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

from ..embedded.test_engines import events_of, transcript_of, until_idle
from .conftest import KEY_ENV

ENGINES = {**BUILTIN_ENGINES, "llm": LLM}


def runtime(**profile: object) -> EmbeddedRuntime:
    fields = {"engine": "llm", "model": "fake-model", "key_env": KEY_ENV, **profile}
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(**fields)}, default_profile="p", output_deltas_per_second=1000
    )  # type: ignore[arg-type]
    return EmbeddedRuntime(settings, event_start_id=1, engines=ENGINES, tools={"clock": CLOCK})


async def turn(rt: EmbeddedRuntime, worker: str, text: str) -> None:
    await rt.send_input(worker, text)
    await until_idle(rt, worker)


async def test_a_turn_streams_deltas_replies_once_and_reports_usage():
    rt = runtime()
    live = rt.events.subscribe()
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "hello there")
    assert transcript_of(rt, worker) == [("user", "hello there"), ("assistant", "echo: hello there")]
    deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
    assert "".join(deltas) == "echo: hello there"
    assert events_of(rt, worker)[-1] == (
        "worker.turn_completed",
        {"turn": 1, "usage": {"input_tokens": 1, "output_tokens": 3}, "stop_reason": "end_turn"},
    )


async def test_every_turn_replays_the_history_from_the_transcript_with_the_system_prompt_first(fake_llm_model):
    rt = runtime(system_prompt="be brief")
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "one")
    await turn(rt, worker, "two")
    assert fake_llm_model.PROMPTS[-1] == [
        ("system", "be brief"),
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
    ]


async def test_tool_calls_are_run_recorded_and_replayed_in_later_turns(fake_llm_model):
    rt = runtime(tools=["clock"])
    worker = (await rt.create_worker(capabilities=["tool:clock"])).worker.worker_id
    await turn(rt, worker, "tool:clock")
    roles = [role for role, _ in transcript_of(rt, worker)]
    assert roles == ["user", "tool_call", "tool_result", "assistant"]
    reply = transcript_of(rt, worker)[-1][1]
    assert reply.startswith("let me check. the tool said 20")
    await turn(rt, worker, "thanks")
    replayed = [role for role, _ in fake_llm_model.PROMPTS[-1]]
    assert replayed == ["user", "assistant", "tool", "assistant", "user"]
    assert "result[t1]=" in fake_llm_model.PROMPTS[-1][2][1]


async def test_a_model_that_calls_tools_for_ever_stops_at_max_tool_rounds():
    rt = runtime(tools=["clock"], max_tool_rounds=2)
    worker = (await rt.create_worker(capabilities=["tool:clock"])).worker.worker_id
    await turn(rt, worker, "tools-forever")
    assert events_of(rt, worker)[-1][1]["code"] == "tool_round_limit"


@pytest.mark.parametrize(
    ("text", "code"),
    [("fail:auth", "provider_auth"), ("fail:rate", "provider_rate_limited"), ("fail:server", "provider_error")],
)
async def test_upstream_failures_become_typed_codes_without_the_upstream_body(text, code):
    rt = runtime()
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, text)
    kind, data = events_of(rt, worker)[-1]
    assert (kind, data["code"]) == ("worker.turn_failed", code)
    assert "SECRET" not in data["message"] and "upstream.invalid" not in data["message"]
    assert transcript_of(rt, worker) == [("user", text)]
    assert rt.get_worker(worker).status == "idle"


async def test_a_slow_model_is_cut_off_at_max_turn_seconds():
    rt = runtime(max_turn_seconds=0.2)
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "slow")
    assert events_of(rt, worker)[-1][1]["code"] == "turn_timeout"
    assert transcript_of(rt, worker) == [("user", "slow")]


async def test_cancel_during_a_stream_adds_no_assistant_entry():
    rt = runtime()
    worker = (await rt.create_worker()).worker.worker_id
    await rt.send_input(worker, "slow")
    await asyncio.sleep(0.1)
    assert (await rt.cancel(worker)).changed
    await asyncio.sleep(0.05)
    assert transcript_of(rt, worker) == [("user", "slow")]
    assert events_of(rt, worker)[-1][0] == "worker.turn_cancelled"


async def test_the_key_comes_from_key_env_explicitly(fake_llm_model, monkeypatch):
    monkeypatch.setenv("FAKE_KEY_FOR_TEST", "k-123")
    rt = runtime(key_env="FAKE_KEY_FOR_TEST")
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "hi")
    assert fake_llm_model.KEYS[-1] == "k-123"


async def test_a_model_that_needs_a_key_and_has_none_fails_with_provider_auth():
    rt = runtime(key_env=None)  # the fake model needs a key, and llm's key store is isolated
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "hi")
    assert events_of(rt, worker)[-1][1]["code"] == "provider_auth"


async def test_a_key_stored_in_the_operators_llm_directory_is_never_used(tmp_path, monkeypatch, fake_llm_model):
    # "llm keys set fake" on the server's account: llm would prefer it over
    # the environment. The engine points llm at a private directory instead.
    (tmp_path / "keys.json").write_text(json.dumps({"fake": "stored-key"}))
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    rt = runtime(key_env=None)
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "hi")
    assert events_of(rt, worker)[-1][1]["code"] == "provider_auth"
    assert "stored-key" not in fake_llm_model.KEYS
    assert os.environ["LLM_USER_PATH"] != str(tmp_path)


def test_a_profile_without_a_model_is_a_config_error_at_model():
    with pytest.raises(InvalidRequest) as caught:
        runtime(model=None)
    assert [d["path"] for d in caught.value.details] == ["profiles.p.model"]


def test_an_unknown_model_id_without_api_base_is_a_config_error_at_model():
    with pytest.raises(InvalidRequest) as caught:
        runtime(model="no-such-model-anywhere")
    assert [d["path"] for d in caught.value.details] == ["profiles.p.model"]


def test_options_the_model_does_not_take_are_a_config_error_at_options():
    with pytest.raises(InvalidRequest) as caught:
        runtime(options={"temperature": 0.5, "warp_speed": 9})
    assert caught.value.details[0]["path"] == "profiles.p.options"
    assert "warp_speed" in caught.value.details[0]["message"]


@pytest.mark.parametrize(
    ("options", "path", "says"),
    [
        ({"temperature": 3}, "profiles.p.options.temperature", "must be at most 2"),
        ({"max_tokens": 0}, "profiles.p.options.max_tokens", "must be at least 1"),
        ({"top_p": "high"}, "profiles.p.options.top_p", "must be a number"),
        ({"temprature": 0.5}, "profiles.p.options", "temprature (did you mean 'temperature'?)"),
    ],
)
def test_the_llm_engines_settings_class_checks_the_options_it_declares(options, path, says):
    with pytest.raises(InvalidRequest) as caught:
        runtime(options=options)
    ((problem),) = caught.value.details
    assert problem["path"] == path and says in problem["message"]


def test_the_options_a_turn_sends_are_the_read_settings_and_the_others_as_written():
    from runtime_registry.engines.llm_turns import model_options

    profile = runtime(options={"temperature": 1}).profiles.resolve("p")
    assert profile.engine_settings.temperature == 1.0 and profile.options == {"temperature": 1}
    assert model_options(profile) == {"temperature": 1.0}
    # A key the class does not declare (a model plugin's own) goes as written.
    other = attrs.evolve(profile, options={"temperature": 1, "top_k": 3})
    assert model_options(other) == {"temperature": 1.0, "top_k": 3}


def test_options_the_model_takes_are_accepted():
    runtime(options={"temperature": 0.5})


def test_a_reply_delay_on_an_llm_profile_is_a_config_error():
    with pytest.raises(InvalidRequest) as caught:
        runtime(reply_delay_seconds=1.0)
    assert [d["path"] for d in caught.value.details] == ["profiles.p.reply_delay_seconds"]


def test_any_model_id_is_accepted_with_an_api_base():
    runtime(model="whatever-the-server-serves", api_base="http://127.0.0.1:9/v1")


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
