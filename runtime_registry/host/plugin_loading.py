"""Finding and loading plugins: one entry-point scan, imports only of enabled plugins.

A plugin that fails to import, whose hook raises, or that registers a kind
another plugin already took is recorded as ``failed`` with a one-line reason
(the exception *type*, never its text: reasons reach HTTP clients); the full
traceback goes to the log and every other plugin keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points

import attrs
import pluggy

from registry_core import hookspecs
from registry_core.kinds import RuntimeKind
from registry_core.models import PluginInfo, PluginRef, PluginState

__all__ = [
    "ENTRY_POINT_GROUP",
    "BUILTIN_DISTRIBUTION",
    "DiscoveredPlugin",
    "RegisteredKind",
    "PluginSet",
    "discover_plugins",
    "load_plugins",
]

log = logging.getLogger("registry_core.plugins")

#: The entry-point group every plugin, built-in or third-party, is declared in.
ENTRY_POINT_GROUP = "runtime_registry"
#: The distribution whose plugins are built in; they win kind-name conflicts.
BUILTIN_DISTRIBUTION = "runtime-registry"


@attrs.frozen
class DiscoveredPlugin:
    """A plugin found in entry-point metadata (not imported yet).

    :param name: the entry-point name, which is the plugin's name.
    :param load: the entry point, or any zero-argument callable returning the
        plugin object (for plugins added in-process, e.g. by tests).
    """

    name: str
    version: str
    distribution: str
    load: object = attrs.field(eq=False, repr=False)

    @property
    def builtin(self) -> bool:
        """Whether the plugin ships with runtime-registry itself."""
        return self.distribution == BUILTIN_DISTRIBUTION


@attrs.frozen
class RegisteredKind:
    """A runtime kind and the plugin that registered it."""

    kind: RuntimeKind
    plugin: PluginRef


@attrs.frozen
class PluginSet:
    """The outcome of loading: every discovered plugin's state, and the kinds registered."""

    plugins: tuple[PluginInfo, ...]
    kinds: Mapping[str, RegisteredKind]
    manager: pluggy.PluginManager = attrs.field(eq=False, repr=False)

    def kind(self, name: str) -> RegisteredKind | None:
        """The registered kind called ``name``, if any."""
        return self.kinds.get(name)


def discover_plugins(group: str = ENTRY_POINT_GROUP) -> tuple[DiscoveredPlugin, ...]:
    """Scan installed distributions' entry points once; import nothing."""
    found = []
    for entry_point in entry_points(group=group):
        dist = entry_point.dist
        # ``dist.name`` and ``dist.version`` each parse METADATA anew; one
        # parse per plugin halves what many installed plugins add to startup
        # (see "Plugin discovery and startup" in docs/performance.md).
        metadata = dist.metadata if dist is not None else None
        found.append(
            DiscoveredPlugin(
                name=entry_point.name,
                version=(metadata["Version"] if metadata is not None else None) or "0",
                distribution=(metadata["Name"] if metadata is not None else None) or "",
                load=entry_point,
            )
        )
    return tuple(found)


def load_plugins(
    discovered: Iterable[DiscoveredPlugin],
    *,
    enabled: Collection[str] | None = None,
    disabled: Collection[str] = (),
) -> PluginSet:
    """Import the enabled plugins and collect the runtime kinds they register.

    :param enabled: plugin names to load; ``None`` means every discovered one.
    :param disabled: plugin names never to load (wins over ``enabled``).

    Plugins load built-ins first, then by name, so kind conflicts are decided
    the same way on every start: the first to register a kind keeps it.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    kinds: dict[str, RegisteredKind] = {}
    infos: list[PluginInfo] = []
    seen: set[str] = set()
    for plugin in sorted(discovered, key=lambda p: (not p.builtin, p.name, p.distribution)):
        if plugin.name in seen:
            infos.append(_info(plugin, (), PluginState.FAILED, "another distribution uses the same plugin name"))
            continue
        seen.add(plugin.name)
        if plugin.name in disabled:
            infos.append(_info(plugin, (), PluginState.DISABLED, "disabled by configuration"))
        elif enabled is not None and plugin.name not in enabled:
            infos.append(_info(plugin, (), PluginState.DISABLED, "not in the enabled plugins"))
        else:
            infos.append(_load_one(manager, plugin, kinds))
    return PluginSet(plugins=tuple(infos), kinds=kinds, manager=manager)


def _load_one(manager: pluggy.PluginManager, plugin: DiscoveredPlugin, kinds: dict[str, RegisteredKind]) -> PluginInfo:
    ref = PluginRef(plugin.name, plugin.version)
    try:
        module = plugin.load.load() if isinstance(plugin.load, EntryPoint) else plugin.load()  # type: ignore[operator]
    except (Exception, SystemExit) as exc:
        return _failed(plugin, "import failed", exc)
    try:
        manager.register(module, name=plugin.name)
    except Exception as exc:
        return _failed(plugin, "its hooks do not match the hook specifications", exc)

    registered: list[RuntimeKind] = []
    try:
        for impl in manager.hook.register_runtime_kinds.get_hookimpls():
            if impl.plugin_name == plugin.name:
                impl.function(register=_collector(registered))
    except (Exception, SystemExit) as exc:
        manager.unregister(name=plugin.name)
        return _failed(plugin, "register_runtime_kinds raised", exc)

    names = [kind.name for kind in registered]
    conflict = next((name for name in names if name in kinds), None)
    if conflict is not None or len(set(names)) != len(names):
        manager.unregister(name=plugin.name)
        owner = kinds[conflict].plugin.name if conflict is not None else plugin.name
        reason = f"runtime kind {conflict or names[0]!r} is already registered by plugin {owner!r}"
        log.error("plugin %r failed: %s", plugin.name, reason)
        return _info(plugin, tuple(names), PluginState.FAILED, reason)
    for kind in registered:
        kinds[kind.name] = RegisteredKind(kind, ref)
    log.info("plugin %r %s loaded: kinds %s", plugin.name, plugin.version, ", ".join(names) or "(none)")
    return _info(plugin, tuple(names), PluginState.LOADED, None)


def _collector(registered: list[RuntimeKind]):
    def register(kind: RuntimeKind) -> None:
        if not isinstance(kind, RuntimeKind):
            raise TypeError("register() takes a registry_core.RuntimeKind")
        registered.append(kind)

    return register


def _failed(plugin: DiscoveredPlugin, what: str, exc: BaseException) -> PluginInfo:
    log.error("plugin %r failed: %s", plugin.name, what, exc_info=exc)
    return _info(plugin, (), PluginState.FAILED, f"{what} ({type(exc).__name__})")


def _info(plugin: DiscoveredPlugin, kinds: tuple[str, ...], state: PluginState, reason: str | None) -> PluginInfo:
    return PluginInfo(name=plugin.name, version=plugin.version, kinds=kinds, state=state, reason=reason)
