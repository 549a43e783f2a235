"""Worker tools: functions a model may call during a turn, registered by plugins.

A plugin registers tools with ``register_worker_tools``; an operator lists the
ones a profile may use (``tools = ["clock"]``); a client grants some of those
to a worker at create (``capabilities: ["tool:clock"]``). Engines hand the
granted tools to their model and run the calls through ``Turn.run_tools``.

Naming: tool names are what models see as function names, one namespace per
server, so two packages must not pick the same one. Name a tool after your
package: ``acme_calc_divide`` rather than ``divide`` (letters, digits and
``_``: a model API takes no ``.`` or ``-`` in a function name). Engine names
are what operators write in a profile (``engine = "acme-shout"``): prefix them
the same way. Registering a name another plugin registered fails that plugin.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

__all__ = [
    "TOOL_CAPABILITY_PREFIX",
    "TOOL_ERROR_MAX_CHARS",
    "TOOL_NAME_PATTERN",
    "ToolCall",
    "ToolError",
    "ToolOutcome",
    "WorkerTool",
    "run_tool_call",
]

log = logging.getLogger("registry_core.tools")

#: Tool names: letters, digits and ``_``, starting with a letter, at most 64
#: (what model APIs accept as function names).
TOOL_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: A create request grants tool ``NAME`` with the capability ``tool:NAME``.
TOOL_CAPABILITY_PREFIX = "tool:"
#: The longest message of a :class:`ToolError` the model sees (longer ones are cut).
TOOL_ERROR_MAX_CHARS = 500


class ToolError(Exception):
    """Raise from a tool to give the model an error result with ``message`` (``"division by zero"``).

    Any other exception gives the model only its type (``the tool failed
    (ZeroDivisionError)``): its text may hold a path or a host. This message
    is shown to the model and kept in the transcript as it is (one line, cut
    at :data:`TOOL_ERROR_MAX_CHARS`), so it must name no path, host, key or
    upstream body.

    .. versionadded:: 0.4
    """

    def __init__(self, message: str) -> None:
        line = " ".join(str(message).split()) or "the tool failed"
        if len(line) > TOOL_ERROR_MAX_CHARS:
            line = line[: TOOL_ERROR_MAX_CHARS - 3] + "..."
        super().__init__(line)
        #: The message the model sees.
        self.message = line


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
        the model. If it raises :class:`ToolError`, the model gets an error
        result with its message; any other exception, an error result naming
        only the exception's type.
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


async def run_tool_call(tool: WorkerTool | None, call: ToolCall) -> ToolOutcome:
    """Run one call as a runtime does; every way it can go wrong becomes an error outcome for the model.

    ``tool`` is the granted tool of that name (``None``: not granted). A
    timeout, arguments that do not fit, a :class:`ToolError` (its message) or
    any other exception (its type only) give ``is_error`` outcomes.

    .. versionadded:: 0.4
    """
    if tool is None:
        return ToolOutcome(call.call_id, call.name, f"there is no tool called {call.name[:64]!r} for this worker", True)
    try:
        async with asyncio.timeout(tool.timeout_seconds):
            output = await tool.function(**dict(call.arguments))
    except TimeoutError:
        return ToolOutcome(
            call.call_id, call.name, f"the tool did not answer within {tool.timeout_seconds:g} seconds", True
        )
    except ToolError as exc:
        return ToolOutcome(call.call_id, call.name, exc.message, True)
    except TypeError:
        return ToolOutcome(call.call_id, call.name, "the arguments do not fit the tool's parameters", True)
    except Exception as exc:
        # The exception's text may hold anything (paths, hosts): the model and
        # the transcript get its type only; the log gets the rest at debug.
        log.debug("tool %r failed", call.name, exc_info=True)
        return ToolOutcome(call.call_id, call.name, f"the tool failed ({type(exc).__name__})", True)
    return ToolOutcome(call.call_id, call.name, output if isinstance(output, str) else str(output), False)
