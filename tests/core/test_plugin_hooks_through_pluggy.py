"""Plugins' hooks are called through the pluggy manager: wrappers, ordering and monitoring work, faults stay isolated."""

from __future__ import annotations

import logging

import attrs
import pytest

from registry_core import PluginState, RuntimeKind, RuntimeProvider, hookimpl
from registry_core.hookspecs import hookspec
from runtime_registry.host import plugin_loading
from runtime_registry.host.plugin_loading import DiscoveredPlugin, load_plugins, make_plugin_manager
from runtime_registry.host.registration_hooks import RegistrationHook

HOOK = "register_runtime_kinds"


class _Provider(RuntimeProvider):
    kind = "unused"


def kind(name: str) -> RuntimeKind:
    return RuntimeKind(name=name, description="test kind", factory=lambda runtime_id, settings: _Provider(runtime_id))


class Registers:
    """A plugin that registers the kinds ``names`` and notes its call in ``log``."""

    def __init__(self, log: list[str], label: str, *names: str) -> None:
        self.log, self.label, self.names = log, label, names

    @hookimpl
    def register_runtime_kinds(self, register):
        self.log.append(self.label)
        for name in self.names:
            register(kind(name))


class First(Registers):
    @hookimpl(tryfirst=True)
    def register_runtime_kinds(self, register):
        super().register_runtime_kinds(register)


class Last(Registers):
    @hookimpl(trylast=True)
    def register_runtime_kinds(self, register):
        super().register_runtime_kinds(register)


class Wraps:
    """A plugin that only wraps the hook (new-style wrapper), noting entry and exit."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl(wrapper=True)
    def register_runtime_kinds(self, register):
        self.log.append("enter")
        try:
            return (yield)
        finally:
            self.log.append("exit")


class WrapsOldStyle:
    """The same with pluggy's old-style ``hookwrapper=True``, which gets the outcome."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl(hookwrapper=True)
    def register_runtime_kinds(self, register):
        self.log.append("enter")
        outcome = yield
        self.log.append("exit: raised" if outcome.exception is not None else "exit")


class WrapperRaises:
    @hookimpl(wrapper=True)
    def register_runtime_kinds(self, register):
        raise RuntimeError("a bug in a wrapper")
        yield  # pragma: no cover - makes this a generator, as wrappers are


class Raises:
    @hookimpl
    def register_runtime_kinds(self, register):
        raise RuntimeError("a bug in a plugin")


def plugin(name: str, obj: object) -> DiscoveredPlugin:
    return DiscoveredPlugin(name=name, version="1.0", distribution=f"{name}-dist", load=lambda: obj)


def states(plugin_set) -> dict[str, tuple[PluginState, str | None]]:
    return {p.name: (p.state, p.reason) for p in plugin_set.plugins}


# -- wrappers ----------------------------------------------------------------------


def test_a_wrapper_of_another_plugin_wraps_each_plugins_call():
    log: list[str] = []
    loaded = load_plugins(
        [
            plugin("a", Registers(log, "a", "kind-a")),
            plugin("b", Registers(log, "b", "kind-b")),
            plugin("w", Wraps(log)),
        ]
    )
    assert log == ["enter", "a", "exit", "enter", "b", "exit"]
    assert sorted(loaded.kinds) == ["kind-a", "kind-b"]
    assert states(loaded)["w"] == (PluginState.LOADED, None)


def test_an_old_style_hookwrapper_sees_each_call_and_its_outcome():
    log: list[str] = []
    load_plugins([plugin("a", Registers(log, "a", "kind-a")), plugin("r", Raises()), plugin("w", WrapsOldStyle(log))])
    assert log == ["enter", "a", "exit", "enter", "exit: raised"]


def test_a_wrapper_that_lets_an_exception_pass_does_not_take_the_blame():
    log: list[str] = []
    loaded = load_plugins([plugin("r", Raises()), plugin("w", Wraps(log)), plugin("a", Registers(log, "a", "kind-a"))])
    assert states(loaded) == {
        "a": (PluginState.LOADED, None),
        "r": (PluginState.FAILED, "register_runtime_kinds raised (RuntimeError)"),
        "w": (PluginState.LOADED, None),
    }


def test_a_raising_wrapper_fails_its_own_plugin_and_the_wrapped_plugins_load():
    log: list[str] = []
    loaded = load_plugins(
        [
            plugin("a", Registers(log, "a", "kind-a")),
            plugin("b", Registers(log, "b", "kind-b")),
            plugin("bad", WrapperRaises()),
        ]
    )
    assert states(loaded) == {
        "a": (PluginState.LOADED, None),
        "b": (PluginState.LOADED, None),
        "bad": (PluginState.FAILED, "register_runtime_kinds raised (RuntimeError)"),
    }
    assert sorted(loaded.kinds) == ["kind-a", "kind-b"]
    assert loaded.manager.get_plugin("bad") is None


def test_a_plugin_that_wraps_and_implements_the_hook_wraps_only_its_own_call():
    log: list[str] = []
    loaded = load_plugins([plugin("a", Registers(log, "a", "kind-a")), plugin("mixed", MixedRaises(log))])
    assert states(loaded)["mixed"] == (PluginState.FAILED, "register_runtime_kinds raised (RuntimeError)")
    # "mixed" both wraps and implements the hook: it wraps its own call only,
    # so "a" is called unwrapped.
    assert log == ["a", "mixed: enter"]


class MixedRaises:
    """Wraps and implements the hook (pluggy's ``specname``); the implementation raises."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl(wrapper=True, specname=HOOK)
    def wrap(self, register):
        self.log.append("mixed: enter")
        return (yield)

    @hookimpl
    def register_runtime_kinds(self, register):
        raise RuntimeError("a bug")


# -- ordering ----------------------------------------------------------------------


def test_without_tryfirst_or_trylast_plugins_are_called_in_load_order():
    log: list[str] = []
    load_plugins([plugin(name, Registers(log, name)) for name in ("c", "a", "b")])
    assert log == ["a", "b", "c"]


def test_tryfirst_and_trylast_order_the_calls():
    log: list[str] = []
    load_plugins([plugin("a", Last(log, "a")), plugin("b", Registers(log, "b")), plugin("c", First(log, "c"))])
    assert log == ["c", "b", "a"]


def test_name_conflicts_are_decided_in_load_order_whoever_is_called_first():
    log: list[str] = []
    loaded = load_plugins([plugin("a", Registers(log, "a", "same")), plugin("z", First(log, "z", "same"))])
    assert log == ["z", "a"]
    assert loaded.kind("same").plugin.name == "a"
    assert states(loaded)["z"] == (PluginState.FAILED, "runtime kind 'same' is already registered by plugin 'a'")


# -- monitoring and tracing --------------------------------------------------------


def test_hookcall_monitoring_sees_one_call_per_plugin_with_its_implementations():
    manager = make_plugin_manager()
    calls: list[tuple[str, list[str]]] = []
    results: list[object] = []
    manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.append((name, [impl.plugin_name for impl in impls])),
        lambda outcome, name, impls, kwargs: results.append(outcome.exception),
    )
    log: list[str] = []
    load_plugins(
        [plugin("a", Registers(log, "a", "kind-a")), plugin("r", Raises()), plugin("w", Wraps(log))], manager=manager
    )
    assert calls == [(HOOK, ["a", "w"]), (HOOK, ["r", "w"])]
    assert [type(exc) for exc in results] == [type(None), RuntimeError]


def test_debug_logging_traces_the_hook_calls(caplog):
    with caplog.at_level(logging.DEBUG, logger="runtime_registry.plugins"):
        load_plugins([plugin("a", Registers([], "a", "kind-a"))])
    traced = [r.getMessage() for r in caplog.records if HOOK in r.getMessage() and "loaded" not in r.getMessage()]
    assert traced, "no hook call was traced"


def test_the_old_logger_name_still_traces_with_a_deprecation_warning(caplog):
    with caplog.at_level(logging.DEBUG, logger="registry_core.plugins"), pytest.warns(DeprecationWarning, match="1.0"):
        load_plugins([plugin("a", Registers([], "a", "kind-a"))])
    traced = [r for r in caplog.records if r.name == "registry_core.plugins" and HOOK in r.getMessage()]
    assert traced, "no hook call was traced under the old name"


def test_the_manager_passed_in_is_the_one_plugins_stay_registered_with():
    manager = make_plugin_manager()
    loaded = load_plugins([plugin("a", Registers([], "a", "kind-a"))], manager=manager)
    assert loaded.manager is manager
    assert manager.get_plugin("a") is not None


# -- what register accepts ---------------------------------------------------------


@pytest.mark.parametrize("item", ["a-name", None, 3])
def test_registering_anything_but_a_runtime_kind_fails_the_plugin(item):
    class Wrong:
        @hookimpl
        def register_runtime_kinds(self, register):
            register(item)

    loaded = load_plugins([plugin("wrong", Wrong()), plugin("a", Registers([], "a", "kind-a"))])
    assert states(loaded)["wrong"] == (PluginState.FAILED, "register_runtime_kinds raised (TypeError)")
    assert list(loaded.kinds) == ["kind-a"]


def test_a_plugin_registering_one_name_twice_fails_naming_it():
    loaded = load_plugins([plugin("twice", Registers([], "twice", "one", "two", "two"))])
    assert states(loaded)["twice"] == (PluginState.FAILED, "runtime kind 'two' is already registered by plugin 'twice'")
    assert loaded.kinds == {}


def test_plugins_sharing_one_functions_code_are_blamed_apart():
    def made(name: str, fails: bool) -> object:
        class Made:
            @hookimpl
            def register_runtime_kinds(self, register):
                if fails:
                    raise RuntimeError("a bug")
                register(kind(name))

        return Made()

    log: list[str] = []
    loaded = load_plugins(
        [plugin("bad", made("bad", True)), plugin("good", made("good", False)), plugin("w", Wraps(log))]
    )
    assert states(loaded) == {
        "bad": (PluginState.FAILED, "register_runtime_kinds raised (RuntimeError)"),
        "good": (PluginState.LOADED, None),
        "w": (PluginState.LOADED, None),
    }


# -- another hook of the same shape ------------------------------------------------


@attrs.frozen
class Widget:
    name: str


class WidgetSpecs:
    @staticmethod
    @hookspec
    def register_widgets(register):  # type: ignore[no-untyped-def]
        """A second registration hook, as register_turn_engines will be."""


WIDGETS = RegistrationHook("register_widgets", Widget, "widget", lambda item, plugin: (item, plugin.name))


class KindAndWidgets:
    def __init__(self, kind_name: str, *widgets: str, fails: bool = False) -> None:
        self.kind_name, self.widgets, self.fails = kind_name, widgets, fails

    @hookimpl
    def register_runtime_kinds(self, register):
        register(kind(self.kind_name))

    @hookimpl
    def register_widgets(self, register):
        if self.fails:
            raise RuntimeError("a bug")
        for name in self.widgets:
            register(Widget(name))


@pytest.fixture
def with_widgets(monkeypatch):
    """A registration hook added as a new one will be: a spec and one RegistrationHook entry."""
    monkeypatch.setattr(plugin_loading, "REGISTRATION_HOOKS", (*plugin_loading.REGISTRATION_HOOKS, WIDGETS))
    manager = make_plugin_manager()
    manager.add_hookspecs(WidgetSpecs)
    return manager


def test_a_second_registration_hook_collects_per_plugin(with_widgets):
    loaded = load_plugins(
        [plugin("a", KindAndWidgets("kind-a", "w1", "w2")), plugin("b", KindAndWidgets("kind-b", "w3"))],
        manager=with_widgets,
    )
    assert loaded.registered["register_widgets"] == {
        "w1": (Widget("w1"), "a"),
        "w2": (Widget("w2"), "a"),
        "w3": (Widget("w3"), "b"),
    }
    assert sorted(loaded.kinds) == ["kind-a", "kind-b"]


def test_a_conflict_in_the_second_hook_fails_the_plugin_as_a_whole(with_widgets):
    loaded = load_plugins(
        [plugin("a", KindAndWidgets("kind-a", "w1")), plugin("b", KindAndWidgets("kind-b", "w1"))], manager=with_widgets
    )
    assert states(loaded)["b"] == (PluginState.FAILED, "widget 'w1' is already registered by plugin 'a'")
    assert list(loaded.kinds) == ["kind-a"]


def test_a_plugin_raising_in_the_second_hook_loses_what_it_registered_in_the_first(with_widgets):
    loaded = load_plugins(
        [plugin("a", KindAndWidgets("kind-a", "w1")), plugin("b", KindAndWidgets("kind-b", fails=True))],
        manager=with_widgets,
    )
    assert states(loaded)["b"] == (PluginState.FAILED, "register_widgets raised (RuntimeError)")
    assert list(loaded.kinds) == ["kind-a"]
    assert with_widgets.get_plugin("b") is None


def test_registering_the_wrong_type_in_the_second_hook_names_it(with_widgets):
    class Wrong:
        @hookimpl
        def register_widgets(self, register):
            register("w1")

    loaded = load_plugins([plugin("wrong", Wrong())], manager=with_widgets)
    assert states(loaded)["wrong"] == (PluginState.FAILED, "register_widgets raised (TypeError)")


def test_a_wrapper_the_host_registered_on_the_manager_wraps_every_plugins_call():
    manager = make_plugin_manager()
    log: list[str] = []
    manager.register(Wraps(log), name="host-wrapper")
    loaded = load_plugins(
        [plugin("a", Registers(log, "a", "kind-a")), plugin("b", Registers(log, "b"))], manager=manager
    )
    assert log == ["enter", "a", "exit", "enter", "b", "exit"]
    assert [p.name for p in loaded.plugins] == ["a", "b"]


def test_a_raising_wrapper_the_host_registered_fails_the_plugins_it_wraps_and_nothing_crashes():
    manager = make_plugin_manager()
    manager.register(WrapperRaises(), name="host-wrapper")
    loaded = load_plugins([plugin("a", Registers([], "a", "kind-a"))], manager=manager)
    assert states(loaded) == {"a": (PluginState.FAILED, "register_runtime_kinds raised (RuntimeError)")}
