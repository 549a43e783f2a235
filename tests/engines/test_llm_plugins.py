"""The ``llm`` engine with real llm plugins installed from the package index (issue 17, decision 0122).

- ``llm-echo`` (model ``echo``, offline): it reads the prompt the older way,
  ``prompt.prompt``, ``prompt.system`` and ``prompt.tool_results``, and
  replies with what it read as JSON.
- ``llm-anthropic`` (a Claude model): it reads ``prompt.messages`` and
  ``prompt.system``; the Anthropic SDK is pointed at a loopback server
  (``ANTHROPIC_BASE_URL``) that records the request the plugin made.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from runtime_registry.host import ConfigError
from runtime_registry.testing import engine_runtime
from runtime_registry.testing.engine_harness import EngineRuntime

from .anthropic_server import anthropic_server

CLAUDE = "anthropic/claude-haiku-4-5-20251001"
ANTHROPIC_KEY_ENV = "RUNTIME_REGISTRY_TEST_ANTHROPIC_KEY"


def runtime(**profile: object) -> contextlib.AbstractAsyncContextManager[EngineRuntime]:
    """The engine harness serving the llm engine under a profile of these keys."""
    return engine_runtime(None, engine="llm", profile=profile)


async def turn(rt: EngineRuntime, worker: str, text: str) -> str:
    """Run one turn; return the assistant entry it added."""
    outcome = await rt.run_turn(worker, text)
    assert outcome.ended.type == "worker.turn_completed", outcome.ended
    assert outcome.entries[-1][0] == "assistant"
    return outcome.entries[-1][1]


async def last_event(rt: EngineRuntime, worker: str):
    return (await rt.registry.read_events(rt.runtime_id, worker_id=worker)).events[-1]


async def transcript_of(rt: EngineRuntime, worker: str) -> list[tuple[str, str]]:
    return [(e.role, e.content) for e in (await rt.registry.read_transcript(rt.runtime_id, worker)).items]


def echoed(reply: str) -> list[dict]:
    """llm-echo's JSON documents in a reply (one per model round)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(reply):
        document, at = decoder.raw_decode(reply, at)
        found.append(document)
    return found


# -- llm-echo: a plugin that reads prompt.prompt and prompt.system ---------------------


async def test_llm_echo_gets_the_input_and_the_system_prompt():
    async with runtime(model="echo", system_prompt="SYS") as rt:
        worker = await rt.create_worker()
        (first,) = echoed(await turn(rt, worker, "hello"))
        (second,) = echoed(await turn(rt, worker, "and again"))
    assert (first["prompt"], first["system"]) == ("hello", "SYS")
    assert (second["prompt"], second["system"]) == ("and again", "SYS")


async def test_llm_echo_gets_a_tool_rounds_results_as_tool_results():
    async with runtime(model="echo", tools=["clock"]) as rt:
        worker = await rt.create_worker(tools=["clock"])
        request = json.dumps({"prompt": "what time is it", "tool_calls": [{"name": "clock"}]})
        rounds = echoed(await turn(rt, worker, request))
        roles = [role for role, _ in await transcript_of(rt, worker)]
    assert rounds[0]["prompt"] == "what time is it"
    results = rounds[-1]["tool_results"]
    assert [r["name"] for r in results] == ["clock"]
    assert roles == ["user", "tool_call", "tool_result", "assistant"]


async def test_llm_echo_usage_and_stop_reason_are_reported():
    async with runtime(model="echo", system_prompt="two words") as rt:
        worker = await rt.create_worker()
        await turn(rt, worker, "three little words")
        data = (await last_event(rt, worker)).data
    assert data["stop_reason"] == "end_turn"
    assert data["usage"]["input_tokens"] == 5  # llm-echo counts the prompt's and the system prompt's words


async def test_a_plugin_models_own_option_passes_the_open_settings_and_a_typo_is_refused_by_the_model():
    # llm-echo's own option example_bool is no key of LlmOptions: the engine's settings are open.
    async with runtime(model="echo", options={"example_bool": True}) as rt:
        await turn(rt, await rt.create_worker(), "hi")
    with pytest.raises(ConfigError) as refused:
        async with runtime(model="echo", options={"example_bol": True}):
            pass
    assert "example_bol (did you mean 'example_bool'?)" in " ".join(refused.value.lines())


# -- llm-anthropic: a plugin that reads prompt.messages, against a loopback server -----


@pytest.fixture
def claude(monkeypatch):
    with anthropic_server() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv(ANTHROPIC_KEY_ENV, "test-anthropic-key")
        yield server


async def test_llm_anthropic_sends_the_system_prompt_once_and_the_whole_conversation(claude):
    async with runtime(model=CLAUDE, key_env=ANTHROPIC_KEY_ENV, system_prompt="SYS") as rt:
        worker = await rt.create_worker()
        assert await turn(rt, worker, "hello") == "echo: hello"
        assert await turn(rt, worker, "more") == "echo: more"
    headers, body = claude.seen.requests[-1]
    assert headers["x-api-key"] == "test-anthropic-key"
    assert body["system"] == "SYS"
    flat = [(m["role"], _text(m["content"])) for m in body["messages"]]
    assert flat == [("user", "hello"), ("assistant", "echo: hello"), ("user", "more")]
    assert "SYS" not in json.dumps(body["messages"])  # once, as the system parameter


async def test_llm_anthropic_gets_the_declared_and_its_own_options(claude):
    options = {"temperature": 1, "top_k": 5}  # temperature is LlmOptions', top_k llm-anthropic's own
    async with runtime(model=CLAUDE, key_env=ANTHROPIC_KEY_ENV, options=options) as rt:
        assert await turn(rt, await rt.create_worker(), "hi") == "echo: hi"
    _headers, body = claude.seen.requests[-1]
    assert (body["temperature"], body["top_k"]) == (1.0, 5)


async def test_llm_anthropic_streams_and_reports_usage(claude):
    async with runtime(model=CLAUDE, key_env=ANTHROPIC_KEY_ENV) as rt:
        live = rt.registry.open_live_events(rt.runtime_id)
        worker = await rt.create_worker()
        assert await turn(rt, worker, "one two three") == "echo: one two three"
        deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
        data = (await last_event(rt, worker)).data
    assert "".join(deltas) == "echo: one two three"
    assert data["usage"] == {"input_tokens": 7, "output_tokens": 4}


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))  # type: ignore[union-attr]
