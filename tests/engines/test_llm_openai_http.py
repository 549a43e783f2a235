"""The ``llm`` engine through llm's real OpenAI client, against a local OpenAI-compatible server on loopback.

No key, no internet: the server is tests/engines/openai_server.py, in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from registry_core import InputRequest
from registry_core.models import InputContent
from runtime_registry.testing import engine_runtime
from runtime_registry.testing.engine_harness import EngineRuntime

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


def runtime(server, **profile: object) -> contextlib.AbstractAsyncContextManager[EngineRuntime]:
    """The engine harness serving the llm engine on the loopback server."""
    keys = {"model": "local-model", "api_base": server.base_url, "key_env": "LOCAL_TEST_KEY", **profile}
    return engine_runtime(None, engine="llm", profile=keys)


async def test_history_system_prompt_key_and_options_reach_the_server(server, monkeypatch):
    monkeypatch.setenv("LOCAL_TEST_KEY", "sk-local-test")
    async with runtime(server, system_prompt="be brief", options={"temperature": 0.25}) as rt:
        worker = await rt.create_worker()
        await rt.run_turn(worker, "one")
        await rt.run_turn(worker, "two")
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
    async with runtime(server) as rt:
        live = rt.registry.open_live_events(rt.runtime_id)
        turn = await rt.run_turn(await rt.create_worker(), "hello local model")
        deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
    assert turn.entries[-1] == ("assistant", "echo: hello local model")
    assert "".join(deltas) == "echo: hello local model"
    assert (turn.ended.type, turn.ended.data) == (
        "worker.turn_completed",
        {"turn": 1, "usage": {"input_tokens": 1, "output_tokens": 4}, "stop_reason": "end_turn"},
    )


async def test_a_tool_call_streamed_by_the_server_is_run_and_answered(server):
    async with runtime(server, tools=["clock"]) as rt:
        turn = await rt.run_turn(await rt.create_worker(tools=["clock"]), "tool:clock")
    assert [role for role, _ in turn.entries] == ["user", "tool_call", "tool_result", "assistant"]
    assert turn.entries[-1][1].startswith("the tool said 20")
    second = server.observed.requests[-1]["body"]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["tools"][0]["function"]["name"] == "clock"


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "provider_auth"), (403, "provider_auth"), (429, "provider_rate_limited"), (500, "provider_error")],
)
async def test_error_answers_become_typed_codes_at_once_without_retries_or_the_body(server, status, code):
    async with runtime(server) as rt:
        worker = await rt.create_worker()
        started = time.monotonic()
        turn = await rt.run_turn(worker, f"status:{status}")
        took = time.monotonic() - started
    assert (turn.ended.type, turn.ended.data["code"]) == ("worker.turn_failed", code)
    assert SECRET_BODY not in turn.ended.data["message"] and "127.0.0.1" not in turn.ended.data["message"]
    assert len(server.observed.requests) == 1  # no retry
    assert took < 2


async def test_an_unreachable_server_is_provider_error_naming_no_endpoint():
    from ..support.server_process import free_port

    class Nowhere:
        base_url = f"http://127.0.0.1:{free_port()}/v1"

    async with runtime(Nowhere) as rt:
        turn = await rt.run_turn(await rt.create_worker(), "hi")
    assert (turn.ended.type, turn.ended.data["code"]) == ("worker.turn_failed", "provider_error")
    assert "127.0.0.1" not in turn.ended.data["message"]


@pytest.mark.parametrize("action", ["cancel", "stop", "delete", "close"])
async def test_cancel_stop_delete_and_shutdown_close_the_upstream_stream_within_a_second(server, action):
    async with runtime(server) as rt:
        registry, runtime_id = rt.registry, rt.runtime_id
        live = registry.open_live_events(runtime_id)
        worker = await rt.create_worker()
        await registry.send_input(runtime_id, worker, InputRequest(InputContent("slow")))
        async with asyncio.timeout(5):  # the stream is flowing: a delta has arrived
            while not any(e.type == "worker.output_delta" for e in live.take(up_to=2**62)):
                await asyncio.sleep(0.01)
        acted = time.monotonic()
        embedded = registry.provider(runtime_id).runtime  # type: ignore[attr-defined]
        if action == "close":
            await embedded.close()  # what a shutdown does to the runtime
        else:
            await getattr(registry, f"{action}_worker")(runtime_id, worker)
        assert await asyncio.to_thread(server.observed.disconnected.wait, 1.0), "the server still streams"
        assert server.observed.disconnects[-1] - acted < 1.0
        if action in ("cancel", "stop", "close"):
            entries = embedded.read_transcript(worker, start=1, limit=10).items
            assert [entry.role for entry in entries] == ["user"]


async def test_a_slow_stream_past_max_turn_seconds_is_turn_timeout_and_is_closed(server):
    async with runtime(server, max_turn_seconds=0.5) as rt:
        turn = await rt.run_turn(await rt.create_worker(), "slow")
    assert turn.ended.data["code"] == "turn_timeout"
    assert await asyncio.to_thread(server.observed.disconnected.wait, 1.0)


async def test_no_log_line_above_debug_names_the_endpoint_or_the_upstream_body(server, caplog):
    async with runtime(server) as rt:
        worker = await rt.create_worker()
        with caplog.at_level(logging.INFO):
            await rt.run_turn(worker, "hello")
            await rt.run_turn(worker, "status:500")
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [line for line in shown if "127.0.0.1" in line or SECRET_BODY in line]
