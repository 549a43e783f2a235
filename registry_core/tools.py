"""Worker tools: functions a model may call during a turn, registered by plugins.

A plugin registers tools with ``register_worker_tools``; an operator lists the
ones a profile may use (``tools = ["clock"]``); a client grants some of those
to a worker at create (``capabilities: ["tool:clock"]``). Engines hand the
granted tools to their model and run the calls through ``Turn.run_tools``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

__all__ = ["TOOL_CAPABILITY_PREFIX", "TOOL_NAME_PATTERN", "ToolCall", "ToolOutcome", "WorkerTool"]

#: Tool names: letters, digits and ``_``, starting with a letter, at most 64
#: (what model APIs accept as function names).
TOOL_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: A create request grants tool ``NAME`` with the capability ``tool:NAME``.
TOOL_CAPABILITY_PREFIX = "tool:"


def _check_tool_name(_instance: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not TOOL_NAME_PATTERN.fullmatch(value):
        raise ValueError("tool names are 1-64 letters, digits or '_', starting with a letter")


def _check_timeout(_instance: object, _attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise ValueError("timeout_seconds must be more than 0 and at most 3600")


@attrs.frozen
class WorkerTool:
    """A tool a model may call.

    :ivar name: the function name the model sees and profiles list.
    :ivar description: what the tool does, for the model.
    :ivar input_schema: a JSON schema (an ``object``) of the arguments.
    :ivar function: ``async def function(**arguments) -> str``; what it
        returns (made a string with ``str`` if it is not one) goes back to
        the model. If it raises, the model gets an error result naming only the
        exception's type.
    :ivar timeout_seconds: how long a call may take before it becomes an
        error result.
    """

    name: str = attrs.field(validator=_check_tool_name)
    description: str
    input_schema: Mapping[str, Any]
    function: Callable[..., Awaitable[Any]] = attrs.field(repr=False)
    timeout_seconds: float = attrs.field(default=10.0, validator=_check_timeout)


@attrs.frozen
class ToolCall:
    """A model's request to call a tool.

    :ivar call_id: the model's id for the call (ties the result to it).
    :ivar name: the tool's name.
    :ivar arguments: the arguments the model sent.
    """

    call_id: str
    name: str
    arguments: Mapping[str, Any]


@attrs.frozen
class ToolOutcome:
    """What a tool call gave: its output text, or an error text with ``is_error``."""

    call_id: str
    name: str
    output: str
    is_error: bool = False
