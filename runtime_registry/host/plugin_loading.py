"""Finding and loading plugins: one entry-point scan, imports only of enabled plugins.

A plugin that fails to import, whose hook raises, or that registers a kind
another plugin already took is recorded as ``failed`` with a one-line reason
(the exception *type*, never its text: reasons reach HTTP clients); the full
traceback goes to the log and every other plugin keeps working.

Loading has four steps: import the enabled plugins; register them all with one
pluggy ``PluginManager``; call each ``register_*`` hook plugin by plugin
through the manager (:mod:`runtime_registry.host.registration_hooks`), so that
wrappers, ``tryfirst``/``trylast`` and hook-call monitoring work as pluggy
documents them; then decide name conflicts in load order.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs
import pluggy

from registry_core import hookspecs
from registry_core.models import PluginInfo, PluginRef, PluginState, SettingInfo
from runtime_registry.host.kind_settings import describe_settings
from runtime_registry.host.registration_hooks import (
    REGISTRATION_HOOKS,
    RUNTIME_KINDS,
    TURN_ENGINES,
    WORKER_TOOLS,
    RegisteredEngine,
    RegisteredKind,
    RegisteredTool,
    RegistrationHook,
    call_for_plugin,
    plugins_in_call_order,
    raising_plugin,
)

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "DiscoveredPlugin",
    "PluginSet",
    "RegisteredEngine",
    "RegisteredKind",
    "RegisteredTool",
    "discover_plugins",
    "load_plugins",
    "make_plugin_manager",
]

log = logging.getLogger("runtime_registry.plugins")
#: The logger's name before 0.4: setting it to DEBUG still traces hook calls, with a warning, until 1.0.
_OLD_LOG_NAME = "registry_core.plugins"

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
class PluginSet:
    """The outcome of loading: every discovered plugin's state, and what the loaded ones registered.

    ``registered`` maps each registration hook's name to its items by name
    (for ``register_runtime_kinds``: :class:`RegisteredKind` by kind name).
    ``manager`` is the pluggy ``PluginManager`` the loaded plugins stay
    registered with.
    """

    plugins: tuple[PluginInfo, ...]
    registered: Mapping[str, Mapping[str, Any]]
    manager: pluggy.PluginManager = attrs.field(eq=False, repr=False)
    _listing: list[tuple[PluginInfo, ...]] = attrs.field(factory=list, eq=False, repr=False, init=False)

    @property
    def kinds(self) -> Mapping[str, RegisteredKind]:
        """The registered runtime kinds by name."""
        return self.registered[RUNTIME_KINDS.name]

    def kind(self, name: str) -> RegisteredKind | None:
        """The registered kind called ``name``, if any."""
        return self.kinds.get(name)

    @property
    def engines(self) -> Mapping[str, RegisteredEngine]:
        """The registered turn engines by name."""
        return self.registered[TURN_ENGINES.name]

    @property
    def tools(self) -> Mapping[str, RegisteredTool]:
        """The registered worker tools by name."""
        return self.registered[WORKER_TOOLS.name]

    def listing(self) -> tuple[PluginInfo, ...]:
        """:attr:`plugins` with each loaded kind's and engine's settings listed (``GET /api/plugins``, ``plugins --json``).

        Derived on first use and kept: reading the settings classes costs about
        a millisecond per kind, which startup does not pay (docs/performance.md).
        """
        if not self._listing:
            self._listing.append(tuple(self._with_settings(info) for info in self.plugins))
        return self._listing[0]

    def _with_settings(self, info: PluginInfo) -> PluginInfo:
        if info.state is not PluginState.LOADED:
            return info
        settings = {}
        for name in info.kinds:
            registered = self.kinds.get(name)
            if registered is not None and registered.plugin.name == info.name:
                settings[name] = _settings_of(info.name, "kind", name, registered.kind.settings_type)
        engine_settings = {}
        for name in info.engines:
            engine = self.engines.get(name)
            if engine is not None and engine.plugin.name == info.name and engine.engine.settings is not None:
                engine_settings[name] = _settings_of(info.name, "engine", name, engine.engine.settings)
        return attrs.evolve(info, settings=settings, engine_settings=engine_settings)


def _settings_of(plugin: str, what: str, name: str, settings_type: type) -> tuple[SettingInfo, ...]:
    # The listing is a courtesy: a settings class it cannot read costs the
    # listing of that kind or engine, never the plugin.
    try:
        return describe_settings(settings_type)
    except Exception:
        log.warning("plugin %r: the settings of %s %r cannot be listed", plugin, what, name, exc_info=True)
        return ()


def make_plugin_manager() -> pluggy.PluginManager:
    """A pluggy ``PluginManager`` with runtime-registry's hook specifications and nothing registered.

    Pass one to :func:`load_plugins` to watch the hook calls from the start
    (``add_hookcall_monitoring``, ``enable_tracing``).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def discover_plugins(group: str = ENTRY_POINT_GROUP) -> tuple[DiscoveredPlugin, ...]:
    """Scan installed distributions' entry points once; import nothing."""
    found = []
    for entry_point in entry_points(group=group):
        dist = entry_point.dist
        # ``dist.name`` and ``dist.version`` each parse METADATA anew; one
        # parse per plugin is what many installed plugins add to startup
        # ("Plugin discovery and startup" in docs/performance.md).
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
    manager: pluggy.PluginManager | None = None,
) -> PluginSet:
    """Import the enabled plugins and collect what their ``register_*`` hooks register.

    :param enabled: plugin names to load; ``None`` means every discovered one.
    :param disabled: plugin names never to load (wins over ``enabled``).
    :param manager: the plugin manager to register the plugins with (from
        :func:`make_plugin_manager`, with monitoring added, say); a new one by default.

    Plugins load built-ins first, then by name, so name conflicts are decided
    the same way on every start: the first in that order keeps the name. The
    hooks are called in pluggy's order: that order too, unless an
    implementation says ``tryfirst`` or ``trylast``.
    """
    if manager is None:
        manager = make_plugin_manager()
    old = logging.getLogger(_OLD_LOG_NAME)
    if old.level != logging.NOTSET and old.isEnabledFor(logging.DEBUG):
        warnings.warn(
            f"the {_OLD_LOG_NAME!r} logger is now 'runtime_registry.plugins'; the old name goes in 1.0",
            DeprecationWarning,
            stacklevel=2,
        )
        _trace_hook_calls(manager, old)
    elif log.isEnabledFor(logging.DEBUG):
        _trace_hook_calls(manager, log)
    loading = _Loading(manager)
    for plugin in sorted(discovered, key=lambda p: (not p.builtin, p.name, p.distribution)):
        loading.select(plugin, enabled, disabled)
    loading.register_all()
    for hook in REGISTRATION_HOOKS:
        loading.call(hook)
    return loading.decide()


class _Loading:
    """One run of :func:`load_plugins`: each plugin's outcome so far, in load order."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self.order: list[DiscoveredPlugin] = []  # load order; infos come out in it
        self.names: set[str] = set()  # plugin names taken so far
        self.outcome: dict[int, tuple[PluginState, str | None]] = {}  # by position in ``order``
        self.modules: dict[str, tuple[int, object]] = {}  # imported, by plugin name
        self.items: dict[str, dict[str, list[Any]]] = {}  # plugin -> hook -> registered items

    def select(self, plugin: DiscoveredPlugin, enabled: Collection[str] | None, disabled: Collection[str]) -> None:
        index = len(self.order)
        self.order.append(plugin)
        if plugin.name in self.names:
            self.outcome[index] = (PluginState.FAILED, "another distribution uses the same plugin name")
            return
        self.names.add(plugin.name)
        if plugin.name in disabled:
            self.outcome[index] = (PluginState.DISABLED, "disabled by configuration")
        elif enabled is not None and plugin.name not in enabled:
            self.outcome[index] = (PluginState.DISABLED, "not in the enabled plugins")
        else:
            try:
                module = plugin.load.load() if isinstance(plugin.load, EntryPoint) else plugin.load()  # type: ignore[operator]
            except (Exception, SystemExit) as exc:
                self._fail(index, "import failed", exc)
                return
            self.modules[plugin.name] = (index, module)

    def register_all(self) -> None:
        # pluggy calls the most recently registered implementation first, so
        # registering in reverse load order makes its default call order the
        # load order.
        for name, (index, module) in reversed(list(self.modules.items())):
            try:
                self.manager.register(module, name=name)
            except Exception as exc:
                self._fail(index, "its hooks do not match the hook specifications", exc)
            else:
                self.items[name] = {}

    def call(self, hook: RegistrationHook) -> None:
        for name in plugins_in_call_order(self.manager, hook):
            while name in self.items:
                try:
                    self.items[name][hook.name] = call_for_plugin(self.manager, hook, name)
                except (Exception, SystemExit) as exc:
                    culprit = raising_plugin(self.manager, hook, exc, default=name)
                    if culprit not in self.modules:
                        # Registered on the manager by the host, not loaded
                        # here: no plugin of ours to blame but the called one.
                        culprit = name
                    self._fail(self.modules[culprit][0], f"{hook.name} raised", exc)
                    if culprit == name:
                        break
                    # Another plugin's wrapper raised: it failed, not this plugin,
                    # whose call goes again without it.
                else:
                    break

    def decide(self) -> PluginSet:
        registered: dict[str, dict[str, Any]] = {hook.name: {} for hook in REGISTRATION_HOOKS}
        owners: dict[str, dict[str, str]] = {hook.name: {} for hook in REGISTRATION_HOOKS}  # item name -> plugin
        infos = []
        for index, plugin in enumerate(self.order):
            items = self.items.get(plugin.name, {}) if index not in self.outcome else {}
            names = {hook.name: [item.name for item in items.get(hook.name, ())] for hook in REGISTRATION_HOOKS}
            if index not in self.outcome:
                self.outcome[index] = self._accept(plugin, items, names, registered, owners)
            state, reason = self.outcome[index]
            fields: dict[str, Any] = {
                hook.info_field: tuple(names[hook.name]) for hook in REGISTRATION_HOOKS if hook.info_field
            }
            infos.append(PluginInfo(name=plugin.name, version=plugin.version, state=state, reason=reason, **fields))
        return PluginSet(plugins=tuple(infos), registered=registered, manager=self.manager)

    def _accept(
        self,
        plugin: DiscoveredPlugin,
        items: Mapping[str, list[Any]],
        names: Mapping[str, list[str]],
        registered: dict[str, dict[str, Any]],
        owners: dict[str, dict[str, str]],
    ) -> tuple[PluginState, str | None]:
        for hook in REGISTRATION_HOOKS:
            taken = owners[hook.name]
            seen: set[str] = set()
            for name in names[hook.name]:
                if name in taken or name in seen:
                    owner = taken.get(name, plugin.name)
                    reason = f"{hook.noun} {name!r} is already registered by plugin {owner!r}"
                    log.error("plugin %r failed: %s", plugin.name, reason)
                    self.manager.unregister(name=plugin.name)
                    return PluginState.FAILED, reason
                seen.add(name)
        ref = PluginRef(plugin.name, plugin.version)
        for hook in REGISTRATION_HOOKS:
            for item in items.get(hook.name, ()):
                registered[hook.name][item.name] = hook.record(item, ref)
                owners[hook.name][item.name] = plugin.name
        summary = "; ".join(f"{hook.noun}s {', '.join(names[hook.name]) or '(none)'}" for hook in REGISTRATION_HOOKS)
        log.info("plugin %r %s loaded: %s", plugin.name, plugin.version, summary)
        return PluginState.LOADED, None

    def _fail(self, index: int, what: str, exc: BaseException) -> None:
        plugin = self.order[index]
        log.error("plugin %r failed: %s", plugin.name, what, exc_info=exc)
        self.outcome[index] = (PluginState.FAILED, f"{what} ({type(exc).__name__})")
        self.items.pop(plugin.name, None)
        if self.manager.get_plugin(plugin.name) is not None:
            self.manager.unregister(name=plugin.name)


def _trace_hook_calls(manager: pluggy.PluginManager, logger: logging.Logger) -> None:
    """Log every hook call and its result at debug level, through pluggy's own tracing."""
    manager.trace.root.setwriter(lambda message: logger.debug("%s", message.rstrip()))
    manager.enable_tracing()
