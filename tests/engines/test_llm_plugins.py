"""The ``llm`` engine with real llm plugins installed from the package index (issue 17, decision 0122).

- ``llm-echo`` (model ``echo``, offline): it reads the prompt the older way,
  ``prompt.prompt``, ``prompt.system`` and ``prompt.tool_results``, and
  replies with what it read as JSON.
- ``llm-anthropic`` (a Claude model): it reads ``prompt.messages`` and
  ``prompt.system``; the Anthropic SDK is pointed at a loopback server
  (``ANTHROPIC_BASE_URL``) that records the request the plugin made.
"""

from __future__ import annotations

import json

import pytest

from runtime_registry.engines.clock import CLOCK
from runtime_registry.engines.llm_engine import LLM
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

from ..embedded.test_engines import events_of, transcript_of, until_idle
from .anthropic_server import anthropic_server

ENGINES = {**BUILTIN_ENGINES, "llm": LLM}
CLAUDE = "anthropic/claude-haiku-4-5-20251001"
ANTHROPIC_KEY_ENV = "RUNTIME_REGISTRY_TEST_ANTHROPIC_KEY"


def runtime(**profile: object) -> EmbeddedRuntime:
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine="llm", **profile)},  # type: ignore[arg-type]
        default_profile="p",
        output_deltas_per_second=1000,
    )
    return EmbeddedRuntime(settings, event_start_id=1, engines=ENGINES, tools={"clock": CLOCK})


async def turn(rt: EmbeddedRuntime, worker: str, text: str, role: str = "user") -> str:
    """Run one turn; return the assistant entry it added."""
    await rt.send_input(worker, text, role=role)
    await until_idle(rt, worker)
    last_type, last = events_of(rt, worker)[-1]
    assert last_type == "worker.turn_completed", last
    role_of_last, content = transcript_of(rt, worker)[-1]
    assert role_of_last == "assistant"
    return content


def echoed(reply: str) -> list[dict]:
    """llm-echo's JSON documents in a reply (one per model round)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(reply):
        document, at = decoder.raw_decode(reply, at)
        found.append(document)
    return found


# -- llm-echo: a plugin that reads prompt.prompt and prompt.system ---------------------


async def test_llm_echo_gets_the_input_and_the_system_prompt():
    rt = runtime(model="echo", system_prompt="SYS")
    worker = (await rt.create_worker()).worker.worker_id
    (first,) = echoed(await turn(rt, worker, "hello"))
    assert (first["prompt"], first["system"]) == ("hello", "SYS")
    (second,) = echoed(await turn(rt, worker, "and again"))
    assert (second["prompt"], second["system"]) == ("and again", "SYS")


async def test_llm_echo_gets_a_tool_rounds_results_as_tool_results():
    rt = runtime(model="echo", tools=["clock"])
    worker = (await rt.create_worker(capabilities=["tool:clock"])).worker.worker_id
    request = json.dumps({"prompt": "what time is it", "tool_calls": [{"name": "clock"}]})
    rounds = echoed(await turn(rt, worker, request))
    assert rounds[0]["prompt"] == "what time is it"
    results = rounds[-1]["tool_results"]
    assert [r["name"] for r in results] == ["clock"]
    roles = [role for role, _ in transcript_of(rt, worker)]
    assert roles == ["user", "tool_call", "tool_result", "assistant"]


async def test_llm_echo_usage_and_stop_reason_are_reported():
    rt = runtime(model="echo", system_prompt="two words")
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "three little words")
    _type, data = events_of(rt, worker)[-1]
    assert data["stop_reason"] == "end_turn"
    assert data["usage"]["input_tokens"] == 5  # llm-echo counts the prompt's and the system prompt's words


# -- llm-anthropic: a plugin that reads prompt.messages, against a loopback server -----


@pytest.fixture
def claude(monkeypatch):
    with anthropic_server() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv(ANTHROPIC_KEY_ENV, "test-anthropic-key")
        yield server


async def test_llm_anthropic_sends_the_system_prompt_once_and_the_whole_conversation(claude):
    rt = runtime(model=CLAUDE, key_env=ANTHROPIC_KEY_ENV, system_prompt="SYS")
    worker = (await rt.create_worker()).worker.worker_id
    assert await turn(rt, worker, "hello") == "echo: hello"
    assert await turn(rt, worker, "more") == "echo: more"
    headers, body = claude.seen.requests[-1]
    assert headers["x-api-key"] == "test-anthropic-key"
    assert body["system"] == "SYS"
    flat = [(m["role"], _text(m["content"])) for m in body["messages"]]
    assert flat == [("user", "hello"), ("assistant", "echo: hello"), ("user", "more")]
    assert "SYS" not in json.dumps(body["messages"])  # once, as the system parameter


async def test_llm_anthropic_streams_and_reports_usage(claude):
    rt = runtime(model=CLAUDE, key_env=ANTHROPIC_KEY_ENV)
    live = rt.events.subscribe()
    worker = (await rt.create_worker()).worker.worker_id
    assert await turn(rt, worker, "one two three") == "echo: one two three"
    deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
    assert "".join(deltas) == "echo: one two three"
    _type, data = events_of(rt, worker)[-1]
    assert data["usage"] == {"input_tokens": 7, "output_tokens": 4}


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))  # type: ignore[union-attr]
