"""The ``llm`` engine through llm's real OpenAI client, against a local OpenAI-compatible server on loopback.

No key, no internet: the server is tests/engines/openai_server.py, in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from runtime_registry.engines.clock import CLOCK
from runtime_registry.engines.llm_engine import LLM
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

from ..embedded.test_engines import events_of, transcript_of
from .openai_server import SECRET_BODY, openai_server


@pytest.fixture(scope="module")
def server():
    with openai_server() as running:
        yield running


@pytest.fixture(autouse=True)
def local_key(monkeypatch):
    # The profiles name key_env; an unset one fails the turn before any request (issue 17).
    monkeypatch.setenv("LOCAL_TEST_KEY", "sk-local-test")


@pytest.fixture(autouse=True)
def fresh_observations(server):
    server.observed.requests.clear()
    server.observed.disconnects.clear()
    server.observed.disconnected.clear()


def runtime(server, **profile: object) -> EmbeddedRuntime:
    fields = {
        "engine": "llm",
        "model": "local-model",
        "api_base": server.base_url,
        "key_env": "LOCAL_TEST_KEY",
        **profile,
    }
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(**fields)}, default_profile="p", output_deltas_per_second=1000
    )  # type: ignore[arg-type]
    return EmbeddedRuntime(settings, event_start_id=1, engines={**BUILTIN_ENGINES, "llm": LLM}, tools={"clock": CLOCK})


async def until_idle(rt: EmbeddedRuntime, worker: str, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while rt.get_worker(worker).status != "idle":
            await asyncio.sleep(0.005)


async def turn(rt: EmbeddedRuntime, worker: str, text: str) -> None:
    await rt.send_input(worker, text)
    await until_idle(rt, worker)


async def test_history_system_prompt_key_and_options_reach_the_server(server, monkeypatch):
    monkeypatch.setenv("LOCAL_TEST_KEY", "sk-local-test")
    rt = runtime(server, system_prompt="be brief", options={"temperature": 0.25})
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "one")
    await turn(rt, worker, "two")
    sent = server.observed.requests[-1]
    assert sent["headers"]["authorization"] == "Bearer sk-local-test"
    assert [(m["role"], m["content"]) for m in sent["body"]["messages"]] == [
        ("system", "be brief"),
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
    ]
    assert (sent["body"]["model"], sent["body"]["stream"], sent["body"]["temperature"]) == ("local-model", True, 0.25)


async def test_a_streamed_answer_becomes_deltas_one_reply_and_usage(server):
    rt = runtime(server)
    live = rt.events.subscribe()
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "hello local model")
    assert transcript_of(rt, worker)[-1] == ("assistant", "echo: hello local model")
    deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
    assert "".join(deltas) == "echo: hello local model"
    assert events_of(rt, worker)[-1] == (
        "worker.turn_completed",
        {"turn": 1, "usage": {"input_tokens": 1, "output_tokens": 4}, "stop_reason": "end_turn"},
    )


async def test_a_tool_call_streamed_by_the_server_is_run_and_answered(server):
    rt = runtime(server, tools=["clock"])
    worker = (await rt.create_worker(capabilities=["tool:clock"])).worker.worker_id
    await turn(rt, worker, "tool:clock")
    assert [role for role, _ in transcript_of(rt, worker)] == ["user", "tool_call", "tool_result", "assistant"]
    assert transcript_of(rt, worker)[-1][1].startswith("the tool said 20")
    second = server.observed.requests[-1]["body"]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["tools"][0]["function"]["name"] == "clock"


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "provider_auth"), (403, "provider_auth"), (429, "provider_rate_limited"), (500, "provider_error")],
)
async def test_error_answers_become_typed_codes_at_once_without_retries_or_the_body(server, status, code):
    rt = runtime(server)
    worker = (await rt.create_worker()).worker.worker_id
    started = time.monotonic()
    await turn(rt, worker, f"status:{status}")
    kind, data = events_of(rt, worker)[-1]
    assert (kind, data["code"]) == ("worker.turn_failed", code)
    assert SECRET_BODY not in data["message"] and "127.0.0.1" not in data["message"]
    assert len(server.observed.requests) == 1  # no retry
    assert time.monotonic() - started < 2


async def test_an_unreachable_server_is_provider_error_naming_no_endpoint():
    from ..support.server_process import free_port

    class Nowhere:
        base_url = f"http://127.0.0.1:{free_port()}/v1"

    rt = runtime(Nowhere)
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "hi")
    kind, data = events_of(rt, worker)[-1]
    assert (kind, data["code"]) == ("worker.turn_failed", "provider_error")
    assert "127.0.0.1" not in data["message"]


@pytest.mark.parametrize("action", ["cancel", "stop", "delete", "close"])
async def test_cancel_stop_delete_and_shutdown_close_the_upstream_stream_within_a_second(server, action):
    rt = runtime(server)
    live = rt.events.subscribe()
    worker = (await rt.create_worker()).worker.worker_id
    await rt.send_input(worker, "slow")
    async with asyncio.timeout(5):  # the stream is flowing: a delta has arrived
        while not any(e.type == "worker.output_delta" for e in live.take(up_to=2**62)):
            await asyncio.sleep(0.01)
    acted = time.monotonic()
    if action == "close":
        await rt.close()
    else:
        await getattr(rt, action)(worker)
    assert await asyncio.to_thread(server.observed.disconnected.wait, 1.0), "the server still streams"
    assert server.observed.disconnects[-1] - acted < 1.0
    if action in ("cancel", "stop", "close"):
        assert [role for role, _ in transcript_of(rt, worker)] == ["user"]


async def test_a_slow_stream_past_max_turn_seconds_is_turn_timeout_and_is_closed(server):
    rt = runtime(server, max_turn_seconds=0.5)
    worker = (await rt.create_worker()).worker.worker_id
    await turn(rt, worker, "slow")
    assert events_of(rt, worker)[-1][1]["code"] == "turn_timeout"
    assert await asyncio.to_thread(server.observed.disconnected.wait, 1.0)


async def test_no_log_line_above_debug_names_the_endpoint_or_the_upstream_body(server, caplog):
    rt = runtime(server)
    worker = (await rt.create_worker()).worker.worker_id
    with caplog.at_level(logging.INFO):
        await turn(rt, worker, "hello")
        await turn(rt, worker, "status:500")
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [line for line in shown if "127.0.0.1" in line or SECRET_BODY in line]
