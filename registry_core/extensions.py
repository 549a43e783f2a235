"""What the host hands a runtime kind that runs turns through engines: every registered engine and tool."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from registry_core.engines import TurnEngine
from registry_core.tools import WorkerTool

__all__ = ["HostExtensions"]


@attrs.frozen
class HostExtensions:
    """What every loaded plugin registered besides kinds: turn engines and worker tools, by name.

    A kind whose factory takes an ``extensions`` keyword parameter gets one
    as ``factory(runtime_id, settings, extensions=...)`` (like ``context``:
    :class:`~registry_core.kinds.RuntimeContext`).
    """

    engines: Mapping[str, TurnEngine] = attrs.field(factory=dict)
    tools: Mapping[str, WorkerTool] = attrs.field(factory=dict)
