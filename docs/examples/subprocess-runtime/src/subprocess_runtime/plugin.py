"""The plugin module named by the ``runtime_registry`` entry point: it registers the ``subprocess`` kind."""

from __future__ import annotations

from collections.abc import Callable

from registry_core import RuntimeKind, hookimpl
from subprocess_runtime.provider import KIND, SubprocessProvider
from subprocess_runtime.settings import SubprocessSettings

__all__ = ["register_runtime_kinds"]


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``subprocess`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="Workers that run a configured command once per input, its stdout as the reply",
            factory=SubprocessProvider,
            settings_type=SubprocessSettings,
        )
    )
