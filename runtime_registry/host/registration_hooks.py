"""Calling the ``register_*(register)`` hooks through pluggy, one plugin at a time.

Every extension point of the plugin API has the same shape (as llm's
``register_models``): the hook gets a ``register`` callback and calls it once
per item it provides. The host calls such a hook once *per plugin*, through
``PluginManager.subset_hook_caller``, so that:

- one plugin's failure stays its own: an exception ends that plugin's call
  only, and the items each plugin registered are known to be its own;
- it is still pluggy calling: other plugins' hook wrappers (``wrapper=True``
  or old-style ``hookwrapper=True``) wrap each plugin's call, ``tryfirst`` and
  ``trylast`` order the plugins' calls, and ``add_hookcall_monitoring`` (or
  ``PluginManager.enable_tracing``) sees every call.

A new hook of this shape is a hookspec in :mod:`registry_core.hookspecs` and
one :class:`RegistrationHook` in :data:`REGISTRATION_HOOKS`.
"""

from __future__ import annotations

import traceback
import types
from collections.abc import Callable
from typing import Any

import attrs
import pluggy

from registry_core.engines import TurnEngine
from registry_core.kinds import RuntimeKind
from registry_core.models import PluginRef
from registry_core.tools import WorkerTool

__all__ = [
    "REGISTRATION_HOOKS",
    "RUNTIME_KINDS",
    "TURN_ENGINES",
    "WORKER_TOOLS",
    "RegisteredEngine",
    "RegisteredKind",
    "RegisteredTool",
    "RegistrationHook",
    "call_for_plugin",
    "plugins_in_call_order",
    "raising_plugin",
]


@attrs.frozen
class RegisteredKind:
    """A runtime kind and the plugin that registered it."""

    kind: RuntimeKind
    plugin: PluginRef


@attrs.frozen
class RegisteredEngine:
    """A turn engine and the plugin that registered it."""

    engine: TurnEngine
    plugin: PluginRef


@attrs.frozen
class RegisteredTool:
    """A worker tool and the plugin that registered it."""

    tool: WorkerTool
    plugin: PluginRef


@attrs.frozen
class RegistrationHook:
    """A hook of the shape ``hook(register)``, where each ``register(item)`` adds one named item.

    - ``name``: the hook's name in :mod:`registry_core.hookspecs`;
    - ``item_type``: what ``register`` accepts; anything else makes the
      plugin's call raise ``TypeError`` (the plugin fails);
    - ``noun``: what an item is called in a failure reason ("runtime kind");
    - ``record``: builds what the host keeps per item from the item and its plugin;
    - ``info_field``: the :class:`~registry_core.models.PluginInfo` field that
      lists the names of a plugin's items (``/api/plugins``,
      ``runtime-registry plugins``); ``None`` lists them nowhere.

    Items are told apart by their ``name`` attribute.
    """

    name: str
    item_type: type
    noun: str
    record: Callable[[Any, PluginRef], Any]
    info_field: str | None = None


#: ``register_runtime_kinds(register)``: the runtime kinds a plugin provides.
RUNTIME_KINDS = RegistrationHook(
    "register_runtime_kinds", RuntimeKind, "runtime kind", RegisteredKind, info_field="kinds"
)

#: ``register_turn_engines(register)``: the turn engines a plugin provides (decision 0090).
TURN_ENGINES = RegistrationHook(
    "register_turn_engines", TurnEngine, "turn engine", RegisteredEngine, info_field="engines"
)

#: ``register_worker_tools(register)``: the tools a plugin provides to workers' models (decision 0094).
WORKER_TOOLS = RegistrationHook("register_worker_tools", WorkerTool, "worker tool", RegisteredTool, info_field="tools")

#: Every registration hook, called in this order at startup.
REGISTRATION_HOOKS: tuple[RegistrationHook, ...] = (RUNTIME_KINDS, TURN_ENGINES, WORKER_TOOLS)


def plugins_in_call_order(manager: pluggy.PluginManager, hook: RegistrationHook) -> list[str]:
    """The registered plugins that implement ``hook`` (not only wrap it), in the order pluggy calls them.

    pluggy calls implementations from the end of ``get_hookimpls()``: the
    ``tryfirst`` ones, then the rest, most recently registered first, then the
    ``trylast`` ones.
    """
    order: list[str] = []
    for impl in reversed(getattr(manager.hook, hook.name).get_hookimpls()):
        if not (impl.wrapper or impl.hookwrapper) and impl.plugin_name not in order:
            order.append(impl.plugin_name)
    return order


def call_for_plugin(manager: pluggy.PluginManager, hook: RegistrationHook, plugin_name: str) -> list[Any]:
    """Call ``hook`` for one plugin, wrapped by every plugin's wrappers; return what it registered.

    Other plugins' implementations are left out of the call, their wrappers
    are not (a plugin that both implements and wraps the hook is left out
    entirely: its wrapper wraps its own call only). Whatever the call raises
    propagates; what a wrapper registers counts for the plugin it wraps.
    """
    caller = getattr(manager.hook, hook.name)
    others = {
        impl.plugin
        for impl in caller.get_hookimpls()
        if impl.plugin_name != plugin_name and not (impl.wrapper or impl.hookwrapper)
    }
    registered: list[Any] = []

    def register(item: Any) -> None:
        if not isinstance(item, hook.item_type):
            raise TypeError(f"register() takes a {hook.item_type.__module__}.{hook.item_type.__qualname__}")
        registered.append(item)

    manager.subset_hook_caller(hook.name, remove_plugins=others)(register=register)
    return registered


def raising_plugin(manager: pluggy.PluginManager, hook: RegistrationHook, exc: BaseException, default: str) -> str:
    """The plugin whose implementation of ``hook`` raised ``exc``: the innermost one in its traceback.

    A wrapper that lets the wrapped call's exception pass still has the
    raising implementation below it, so the exception is the implementation's;
    a wrapper that raises by itself is the innermost one. ``default`` (the
    plugin whose call it was) when no implementation's frame is found, or
    when the frame's code is shared by several plugins and none is
    ``default``: a wrapper is blamed only when it is certainly the one.
    """
    owners: dict[types.CodeType | None, set[str]] = {}
    for impl in getattr(manager.hook, hook.name).get_hookimpls():
        owners.setdefault(_code_of(impl.function), set()).add(impl.plugin_name)
    culprit = default
    for frame, _line in traceback.walk_tb(exc.__traceback__):
        found = owners.get(frame.f_code, set())
        # Plugins built by one factory share their functions' code: a frame
        # of that code is the called plugin's if it is one of them, and
        # another plugin's only if that plugin alone has this code.
        if default in found:
            culprit = default
        elif len(found) == 1:
            (culprit,) = found
    return culprit


def _code_of(function: Callable[..., Any]) -> types.CodeType | None:
    return getattr(function, "__code__", None)
