"""A fake model, registered through llm's own plugin mechanism (``register_models``).

Deterministic and offline. What it does depends on the last user message:

- ``fail:auth`` / ``fail:rate`` / ``fail:server``: raise an error carrying
  HTTP status 401 / 429 / 500 and an upstream body that must never leak;
- ``tool:NAME``: ask for tool ``NAME`` once, then answer with its output;
- ``tools-forever``: ask for ``clock`` on every round;
- ``slow``: stream one chunk, then wait a long time before the next;
- anything else: stream ``"echo: "`` and the words, one chunk each, and report usage.

Every prompt's messages are kept in :data:`PROMPTS` so tests can check history.
"""

from __future__ import annotations

import asyncio

import llm
from llm.parts import TextPart, ToolResultPart

MODEL_ID = "fake-model"
#: The messages of every prompt the fake model was sent, oldest first.
PROMPTS: list[list[tuple[str, str]]] = []
#: The keys prompts came with.
KEYS: list[str | None] = []


class UpstreamError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"upstream said: SECRET-UPSTREAM-BODY from http://upstream.invalid (status {status_code})")
        self.status_code = status_code


def _flatten(message) -> tuple[str, str]:
    text = []
    for part in message.parts:
        if isinstance(part, TextPart):
            text.append(part.text)
        elif isinstance(part, ToolResultPart):
            text.append(f"result[{part.tool_call_id}]={part.output}")
        else:
            text.append(f"call[{getattr(part, 'tool_call_id', '')}]={getattr(part, 'name', '')}")
    return message.role, " ".join(text)


class FakeAsyncModel(llm.AsyncKeyModel):
    model_id = MODEL_ID
    can_stream = True
    supports_tools = True
    needs_key = "fake"

    class Options(llm.Options):
        temperature: float | None = None

    async def execute(self, prompt, stream, response, conversation, key):
        messages = prompt.messages
        PROMPTS.append([_flatten(m) for m in messages])
        KEYS.append(key)
        last_user = next(_flatten(m)[1] for m in reversed(messages) if m.role == "user")
        results = (
            [p for p in messages[-1].parts if isinstance(p, ToolResultPart)] if messages[-1].role == "tool" else []
        )
        if last_user.startswith("fail:"):
            raise UpstreamError({"auth": 401, "rate": 429, "server": 500}[last_user[5:]])
        if last_user.startswith("tool:") and not results:
            response.add_tool_call(llm.ToolCall(name=last_user[5:], arguments={}, tool_call_id="t1"))
            yield "let me check. "
            return
        if last_user == "tools-forever":
            response.add_tool_call(llm.ToolCall(name="clock", arguments={}, tool_call_id=f"t{len(PROMPTS)}"))
            return
        if results:
            yield f"the tool said {results[0].output}"
            return
        if last_user == "slow":
            yield "first "
            await asyncio.sleep(30)
            yield "never"
            return
        words = last_user.split()
        yield "echo:"
        for word in words:
            yield " " + word
        response.set_usage(input=len(messages), output=len(words) + 1)


class FakeSyncModel(llm.Model):
    model_id = MODEL_ID

    def execute(self, prompt, stream, response, conversation):  # pragma: no cover - the engine is async only
        yield ""


@llm.hookimpl
def register_models(register):
    register(FakeSyncModel(), FakeAsyncModel())
