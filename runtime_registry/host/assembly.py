"""Building a :class:`RuntimeRegistry` from a configuration and the loaded plugins.

Misconfiguration an operator must fix (a runtime's settings do not fit its
kind, a kind no plugin provides) is a :class:`ConfigError` when ``strict``;
otherwise — and always for a factory that raises — the runtime is registered as
``unavailable`` so the others serve.
"""

from __future__ import annotations

import collections.abc
import logging
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.extensions import HostExtensions
from registry_core.kinds import RuntimeContext, accepts_context, accepts_keyword
from registry_core.models import PluginState
from registry_core.provider import RuntimeProvider
from runtime_registry.host.config import ConfigError, ConfigProblem, RegistryConfig
from runtime_registry.host.kind_settings import closest_key
from runtime_registry.host.plugin_loading import DiscoveredPlugin, PluginSet, discover_plugins, load_plugins
from runtime_registry.host.registry import RuntimeRegistry

__all__ = ["Assembly", "assemble", "with_suggestion"]

log = logging.getLogger("runtime_registry.host.assembly")


@attrs.frozen
class Assembly:
    """A built registry, the plugins behind it, and the config it came from."""

    registry: RuntimeRegistry
    plugins: PluginSet
    config: RegistryConfig


def assemble(
    config: RegistryConfig,
    *,
    discovered: tuple[DiscoveredPlugin, ...] | None = None,
    strict: bool = False,
    source: str = "<config>",
    problems: list[ConfigProblem] | None = None,
) -> Assembly:
    """Load the enabled plugins and build one provider per configured runtime.

    :param discovered: the plugins to choose from; by default one scan of the
        installed entry points.
    :param strict: raise :class:`ConfigError` for a kind no loaded plugin
        provides, and for an enabled plugin name that is not installed
        (``check-config`` wants that; ``serve`` marks such runtimes
        unavailable and logs a warning).
    :param source: the config file's name, for error messages.
    :param problems: with ``strict``, a list to add the problems to instead of
        raising (``check-config`` goes on to start the runtimes that are sound).
    """
    if discovered is None:
        discovered = discover_plugins()
    plugins = load_plugins(discovered, enabled=config.plugins.enabled, disabled=config.plugins.disabled)
    registry = RuntimeRegistry(call_timeout=config.server.call_timeout_seconds)
    # Resolved once, at startup: a later chdir cannot move a runtime's files.
    context = RuntimeContext(data_dir=Path(config.server.data_dir).absolute())
    collect = problems
    problems = []
    # Enabling a plugin that is not installed is always a mistake (a typo, a
    # missing pip install): an error for check-config, a warning for serve.
    installed = {plugin.name for plugin in discovered}
    extensions = HostExtensions(
        engines={name: registered.engine for name, registered in plugins.engines.items()},
        tools={name: registered.tool for name, registered in plugins.tools.items()},
    )
    for index, name in enumerate(config.plugins.enabled or ()):
        if name not in installed:
            message = f"no installed plugin is called {name!r}"
            if strict:
                problems.append(ConfigProblem(f"plugins.enabled[{index}]", message))
            else:
                log.warning("plugins.enabled: %s", message)
    for index, runtime in enumerate(config.runtimes):
        registered = plugins.kind(runtime.kind)
        if registered is None:
            message = f"no loaded plugin provides runtime kind {runtime.kind!r}" + _how_to_enable(runtime.kind, plugins)
            if strict:
                problems.append(ConfigProblem(f"runtimes[{index}].kind", message))
            else:
                log.error("runtime %r: %s", runtime.id, message)
                registry.register_unavailable(
                    runtime.id,
                    kind=runtime.kind,
                    display_name=runtime.display_name,
                    reason="no loaded plugin provides this runtime kind",
                )
            continue
        try:
            settings: object = structure(
                runtime.settings, registered.kind.settings_type, path=f"runtimes[{index}].settings"
            )
        except InvalidRequest as exc:
            keys = (
                [field.alias or field.name for field in attrs.fields(registered.kind.settings_type)]
                if attrs.has(registered.kind.settings_type)
                else []
            )
            problems.extend(
                ConfigProblem(
                    d["path"],
                    with_suggestion(d["path"], d["message"], keys_at(registered.kind.settings_type, d["path"]) or keys),
                )
                for d in exc.details
            )
            continue
        try:
            # Typed as taking two arguments; one that accepts ``context`` or
            # ``extensions`` is given them too.
            factory: Callable[..., RuntimeProvider] = registered.kind.factory
            extra: dict[str, object] = {}
            if accepts_context(factory):
                extra["context"] = context
            if accepts_keyword(factory, "extensions"):
                extra["extensions"] = extensions
            provider = factory(runtime.id, settings, **extra)
        except InvalidRequest as exc:
            # The kind checked its settings against the loaded engines and tools:
            # an operator's mistake, reported like a structuring error.
            prefix = f"runtimes[{index}].settings"
            problems.extend(
                ConfigProblem(f"{prefix}.{d['path']}" if d.get("path") else prefix, d["message"]) for d in exc.details
            )
            if not exc.details:
                problems.append(ConfigProblem(prefix, exc.message))
            continue
        except Exception:
            log.exception("runtime %r: the %r factory failed", runtime.id, runtime.kind)
            registry.register_unavailable(
                runtime.id,
                kind=runtime.kind,
                display_name=runtime.display_name,
                plugin=registered.plugin,
                reason="the runtime could not be created",
            )
            continue
        try:
            if not isinstance(provider, RuntimeProvider) or (provider.runtime_id, provider.kind) != (
                runtime.id,
                runtime.kind,
            ):
                raise TypeError("the factory did not return a provider of this kind for this runtime id")
            registry.register(provider, display_name=runtime.display_name, plugin=registered.plugin)
        except Exception:
            log.exception("runtime %r: the %r factory failed", runtime.id, runtime.kind)
            registry.register_unavailable(
                runtime.id,
                kind=runtime.kind,
                display_name=runtime.display_name,
                plugin=registered.plugin,
                reason="the runtime could not be created",
            )
    if collect is not None:
        collect.extend(problems)
    elif problems:
        raise ConfigError(source, problems)
    return Assembly(registry=registry, plugins=plugins, config=config)


def keys_at(settings_type: object, path: str) -> list[str]:
    """The keys of the nested table an error ``path`` points into (``...settings.profiles.NAME.key``), if any.

    Walks the settings class's fields along the path (a mapping's key is
    skipped: ``profiles.NAME`` is one profile), so a typo in a profile key is
    compared with the profile's keys, not the runtime's. ``[]`` when the path
    leaves the attrs classes.
    """
    segments = path.partition("settings.")[2].split(".")[:-1]
    current: Any = settings_type
    expect_key = False
    for segment in segments:
        current = _unwrap(current)
        if expect_key:
            expect_key = False
            continue
        if not attrs.has(current):
            return []
        hints = typing.get_type_hints(current, include_extras=True)
        field = attrs.fields_dict(current).get(segment)
        if field is None:
            return []
        current = _unwrap(hints.get(field.name, field.type))
        if typing.get_origin(current) in (dict, collections.abc.Mapping):
            current, expect_key = typing.get_args(current)[1], True
    current = _unwrap(current)
    if expect_key or not attrs.has(current):
        return []
    return [field.alias or field.name for field in attrs.fields(current)]


def _unwrap(type_: Any) -> Any:
    """``T`` of ``Annotated[T, ...]`` and of ``T | None``."""
    while True:
        origin = typing.get_origin(type_)
        if origin is typing.Annotated:
            type_ = typing.get_args(type_)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(type_) if arg is not type(None)]
            if len(args) != 1:
                return type_
            type_ = args[0]
        else:
            return type_


def with_suggestion(path: str, message: str, keys: list[str]) -> str:
    """``message``, with "did you mean ...?" when it is an unknown key close to one of ``keys``."""
    if message != "unknown field":
        return message
    key = path.rpartition(".")[2].strip("[]'\"")
    suggestion = closest_key(key, keys)
    return f"{message}; did you mean {suggestion!r}?" if suggestion else message


def _how_to_enable(kind: str, plugins: PluginSet) -> str:
    """Why a kind is missing when a disabled plugin likely provides it, and how to enable that plugin.

    A disabled plugin is never imported, so which kinds it provides is not
    known; by convention (and ``new-kind``'s template) a plugin is named after
    its kind, so a disabled plugin of the kind's name is the likely provider.
    """
    for info in plugins.plugins:
        if info.state is not PluginState.DISABLED or info.name != kind:
            continue
        if info.reason == "disabled by configuration":
            how = "remove it from [plugins] disabled and from RUNTIME_REGISTRY_DISABLE_PLUGINS"
        else:
            how = "add it to [plugins] enabled (or to RUNTIME_REGISTRY_PLUGINS, which replaces that list)"
        return f"; plugin {info.name!r}, which provides it, is disabled: {how}"
    return ""
