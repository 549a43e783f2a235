"""A small Anthropic-Messages-compatible server on loopback, for the real llm-anthropic plugin offline.

llm-anthropic builds ``anthropic.AsyncAnthropic`` without a base URL, so the
SDK takes ``ANTHROPIC_BASE_URL``: a test points it here. The server serves
``POST /v1/messages`` streamed as the Messages API streams (``message_start``,
a text block of word deltas, ``message_delta`` with the stop reason and usage,
``message_stop``), replies ``"echo: "`` and the last user text, and keeps
every request's headers and JSON body (what the plugin made of our prompt).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..support.server_process import free_port


@attrs.define
class Seen:
    """Every request the server answered: headers (lower-case) and JSON body."""

    requests: list[tuple[dict[str, str], dict]] = attrs.Factory(list)


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [block.get("text", "") for block in content or () if block.get("type") == "text"]
        if texts:
            return " ".join(texts)
    return ""


def build_app(seen: Seen) -> Starlette:
    async def messages(request: Request) -> Response:
        body = await request.json()
        seen.requests.append(({k.lower(): v for k, v in request.headers.items()}, body))
        words = ("echo: " + _last_user_text(body.get("messages", []))).split(" ")

        async def stream() -> AsyncIterator[str]:
            yield _event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_test",
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model", "claude-test"),
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 7, "output_tokens": 1},
                    },
                },
            )
            yield _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            for index, word in enumerate(words):
                text = word if index == len(words) - 1 else word + " "
                yield _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
                )
            yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(words)},
                },
            )
            yield _event("message_stop", {"type": "message_stop"})

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


@attrs.define
class RunningServer:
    base_url: str
    seen: Seen


@contextmanager
def anthropic_server() -> Iterator[RunningServer]:
    """Serve the app on a free loopback port in a thread; stop it on exit."""
    seen = Seen()
    port = free_port()
    config = uvicorn.Config(build_app(seen), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="anthropic-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test Anthropic server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", seen)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
