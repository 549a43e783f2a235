"""The conversation, rebuilt from the transcript for every turn (the transcript is the only record).

Roles map to llm messages: ``user``/``system``/``assistant`` to messages of
that role; consecutive ``tool_call`` entries to one assistant message of tool
call parts, and their ``tool_result`` entries to one tool message. A tool
call without a result (its turn was cancelled while the tool ran) is left
out: model APIs refuse a call that is not answered; so is a result without
its call (the history budget dropped the call, decision 0121).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llm import ToolResult
from llm.parts import Message, Part, TextPart, ToolCallPart, ToolResultPart

from registry_core.models import TranscriptEntry
from registry_core.tools import ToolCall, ToolOutcome

__all__ = ["history_messages", "round_call_message", "round_tool_results"]


def history_messages(system_prompt: str | None, entries: Sequence[TranscriptEntry]) -> list[Message]:
    """The messages for a turn: the system prompt, then every replayable entry in order."""
    messages: list[Message] = []
    if system_prompt:
        messages.append(Message("system", [TextPart(system_prompt)]))
    answered = {
        call_id
        for entry in entries
        if entry.role == "tool_result" and (call_id := _field(entry, "call_id")) is not None
    }
    called = {
        call_id for entry in entries if entry.role == "tool_call" and (call_id := _field(entry, "call_id")) is not None
    }
    for entry in entries:
        role = entry.role
        if role in ("user", "system", "assistant"):
            messages.append(Message(role, [TextPart(entry.content)]))
        elif role == "tool_call":
            data = _load(entry)
            if data is None or data.get("call_id") not in answered:
                continue
            call = ToolCallPart(
                name=data.get("name", ""), arguments=data.get("arguments") or {}, tool_call_id=data["call_id"]
            )
            _append_part(messages, "assistant", call, ToolCallPart)
        elif role == "tool_result":
            data = _load(entry)
            if data is None or data.get("call_id") not in called:
                continue
            result = ToolResultPart(
                name=data.get("name", ""), output=str(data.get("output", "")), tool_call_id=data.get("call_id")
            )
            _append_part(messages, "tool", result, ToolResultPart)
    return messages


def round_call_message(text: str, calls: Sequence[ToolCall]) -> Message:
    """The assistant message of one tool round within a turn: what the model said, then its calls."""
    parts: list[Part] = [TextPart(text)] if text else []
    parts.extend(ToolCallPart(name=c.name, arguments=dict(c.arguments), tool_call_id=c.call_id) for c in calls)
    return Message("assistant", parts)


def round_tool_results(outcomes: Sequence[ToolOutcome]) -> list[ToolResult]:
    """One round's outcomes as llm ``ToolResult``s: passed as ``tool_results=``, which llm adds to
    the messages as a tool message and which plugins that read ``prompt.tool_results`` see too."""
    return [ToolResult(name=o.name, output=o.output, tool_call_id=o.call_id) for o in outcomes]


def _append_part(messages: list[Message], role: str, part: Part, kind: type) -> None:
    # Calls of one round share an assistant message, results a tool message.
    last = messages[-1] if messages else None
    if last is not None and last.role == role and last.parts and all(isinstance(p, kind) for p in last.parts):
        last.parts.append(part)
    else:
        messages.append(Message(role, [part]))


def _load(entry: TranscriptEntry) -> dict[str, Any] | None:
    try:
        data = json.loads(entry.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _field(entry: TranscriptEntry, name: str) -> object:
    data = _load(entry)
    return None if data is None else data.get(name)
