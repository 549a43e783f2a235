"""A small OpenAI-compatible chat server on loopback, for driving llm's real OpenAI HTTP path offline.

It serves ``POST /v1/chat/completions`` (streamed as the OpenAI API streams:
``data: {chunk}`` lines and ``data: [DONE]``) in its own thread and event
loop, on a free 127.0.0.1 port, and records what it saw: every request's
headers and body, and when a streaming client went away. What it answers
depends on the last user message:

- ``status:NNN`` — an error answer with that status and a body that must never leak;
- ``slow`` — one chunk, then one every 0.2 s for a minute (unless the client leaves);
- ``tool:NAME`` — a streamed call of tool ``NAME`` (once: the next round answers the result);
- anything else — ``"echo: "`` and the text, word by word, then a usage chunk.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..support.server_process import free_port

SECRET_BODY = "SECRET-UPSTREAM-BODY"


@attrs.define
class Observed:
    """What the server saw."""

    requests: list[dict] = attrs.Factory(list)
    streams_started: int = 0
    disconnects: list[float] = attrs.Factory(list)  # time.monotonic() of each stream's end without [DONE]
    disconnected: threading.Event = attrs.Factory(threading.Event)


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> str:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "local-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
    }
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def build_app(observed: Observed) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        observed.requests.append({"headers": dict(request.headers), "body": body})
        messages = body["messages"]
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if isinstance(last_user, list):
            last_user = " ".join(part.get("text", "") for part in last_user)
        answered = messages[-1]["role"] == "tool"
        if last_user.startswith("status:"):
            status = int(last_user[7:])
            return JSONResponse(
                {"error": {"message": f"{SECRET_BODY} for status {status}", "type": "x"}}, status_code=status
            )
        return StreamingResponse(_stream(last_user, answered, messages), media_type="text/event-stream")

    async def _stream(text: str, answered: bool, messages: list[dict]) -> AsyncIterator[str]:
        observed.streams_started += 1
        finished = False
        try:
            yield _chunk({"role": "assistant", "content": ""})
            if text == "slow":
                for index in range(300):
                    yield _chunk({"content": f"piece{index} "})
                    await asyncio.sleep(0.2)
            elif text.startswith("tool:") and not answered:
                call = {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": text[5:], "arguments": "{}"},
                }
                yield _chunk({"tool_calls": [call]})
                yield _chunk({}, finish="tool_calls")
            elif answered:
                yield _chunk({"content": "the tool said " + messages[-1]["content"]})
                yield _chunk({}, finish="stop")
            else:
                yield _chunk({"content": "echo:"})
                for word in text.split():
                    yield _chunk({"content": " " + word})
                yield _chunk({}, finish="stop")
                yield _chunk(
                    {},
                    usage={
                        "prompt_tokens": len(messages),
                        "completion_tokens": len(text.split()) + 1,
                        "total_tokens": 0,
                    },
                )
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                observed.disconnects.append(time.monotonic())
                observed.disconnected.set()

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@attrs.define
class RunningServer:
    base_url: str
    observed: Observed


@contextmanager
def openai_server() -> Iterator[RunningServer]:
    """Serve the app on a free loopback port in a thread; stop it on exit."""
    observed = Observed()
    port = free_port()
    config = uvicorn.Config(build_app(observed), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="openai-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}/v1", observed)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
