"""The ``llm`` turn engine, as registered: cheap to import.

Importing this module imports neither ``llm`` nor ``openai`` (about a second
here): :mod:`.llm_turns` is imported the first time a profile that uses the
engine is checked (at startup) or a turn runs. A server whose configuration
has no ``llm`` profile never loads them (decision 0092; measured in
docs/performance.md).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from registry_core.engines import EngineProfile, ProfileProblem, Turn, TurnEngine, TurnResult

__all__ = ["LLM"]


def _turns() -> ModuleType:  # the heavy half, on first use
    return importlib.import_module("runtime_registry.engines.llm_turns")


async def run(turn: Turn) -> TurnResult:
    """Run one turn through the profile's model (see :mod:`.llm_turns`)."""
    result: TurnResult = await _turns().run_turn(turn)
    return result


def check(profile: EngineProfile) -> list[ProfileProblem]:
    """Check a profile at startup: a model is named and known, options fit it."""
    problems: list[ProfileProblem] = _turns().check_profile(profile)
    return problems


#: The ``llm`` engine: a model through Simon Willison's llm library.
LLM = TurnEngine(
    "llm",
    run,
    description="A model through the llm library (OpenAI, any OpenAI-compatible api_base, llm's model plugins)",
    check=check,
)
