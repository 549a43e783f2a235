"""The plugin hooks. A plugin is a module (or object) with ``@hookimpl`` functions.

Plugins are found through the ``runtime_registry`` entry-point group::

    [project.entry-points.runtime_registry]
    my-kind = "my_package.plugin"

See ``docs/plugins.md`` for the full guide.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from registry_core.engines import TurnEngine
from registry_core.kinds import RuntimeKind
from registry_core.tools import WorkerTool

__all__ = [
    "PROJECT_NAME",
    "hookspec",
    "hookimpl",
    "register_runtime_kinds",
    "register_turn_engines",
    "register_worker_tools",
]

#: The pluggy project name shared by specs and implementations.
PROJECT_NAME = "runtime_registry"

#: Marks a hook specification (used by this module only).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin's hook implementation: ``@hookimpl def register_runtime_kinds(register): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the runtime kinds this plugin provides.

    Call ``register(RuntimeKind(...))`` once per kind. The registry validates
    each registration and records which plugin made it; a name that another
    plugin already registered is a conflict that fails this plugin as a whole.
    The hook is called once per plugin, through pluggy: other plugins'
    wrappers wrap each call, and ``tryfirst``/``trylast`` order the calls.

    :param register: the callback that takes a :class:`~registry_core.kinds.RuntimeKind`.
    :return: nothing; what counts is what you passed to ``register``.

    .. versionadded:: 0.1
    """


@hookspec
def register_turn_engines(register: Callable[[TurnEngine], None]) -> None:
    """Register the turn engines this plugin provides.

    Call ``register(TurnEngine(...))`` once per engine. Operators name an
    engine in a profile (``engine = "llm"``); every worker of that profile
    runs its turns through it, and gets transcript, events, busy, cancel and
    limits from the runtime that hosts it. A name another plugin already
    registered is a conflict that fails this plugin as a whole.

    :param register: the callback that takes a :class:`~registry_core.engines.TurnEngine`.
    :return: nothing; what counts is what you passed to ``register``.

    .. versionadded:: 0.3
    """


@hookspec
def register_worker_tools(register: Callable[[WorkerTool], None]) -> None:
    """Register the tools this plugin provides to workers' models.

    Call ``register(WorkerTool(...))`` once per tool. A profile lists the
    tools it may use (``tools = ["clock"]``) and a create request grants some
    of them (``capabilities: ["tool:clock"]``). A name another plugin already
    registered is a conflict that fails this plugin as a whole.

    :param register: the callback that takes a :class:`~registry_core.tools.WorkerTool`.
    :return: nothing; what counts is what you passed to ``register``.

    .. versionadded:: 0.3
    """
