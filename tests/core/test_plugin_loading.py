"""Plugin discovery through real entry-point metadata, and fault isolation while loading."""

from __future__ import annotations

import pytest

from registry_core import PluginState
from runtime_registry.host import assemble, discover_plugins, load_plugins, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin

from .distributions import WORKING_PLUGIN, make_distribution


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def load_discovered(*names: str):
    """Load only the discovered plugins called ``names`` (the site may hold others)."""
    return load_plugins([p for p in discover_plugins() if p.name in names])


def states(plugin_set):
    return {p.name: (p.state, p.reason) for p in plugin_set.plugins}


def test_builtin_embedded_plugin_is_discovered_through_its_entry_point():
    found = {p.name: p for p in discover_plugins()}
    assert found["embedded"].distribution == "runtime-registry"
    assert found["embedded"].builtin


def test_third_party_distribution_is_discovered_and_loaded(site):
    make_distribution(site, dist="acme-runtimes", version="2.3.0", plugins={"acme": WORKING_PLUGIN.format(kind="acme")})
    loaded = load_discovered("acme")
    (info,) = loaded.plugins
    assert (info.name, info.version, info.kinds, info.state) == ("acme", "2.3.0", ("acme",), PluginState.LOADED)
    assert loaded.kind("acme").plugin.version == "2.3.0"


def test_plugin_that_fails_to_import_is_failed_and_others_load(site):
    make_distribution(
        site, dist="broken-dist", version="1.0", plugins={"broken": "raise ImportError('/home/x/secret')"}
    )
    make_distribution(site, dist="fine-dist", version="1.0", plugins={"fine": WORKING_PLUGIN.format(kind="fine")})
    loaded = load_discovered("broken", "fine")
    state, reason = states(loaded)["broken"]
    assert state is PluginState.FAILED
    assert reason == "import failed (ImportError)"
    assert states(loaded)["fine"][0] is PluginState.LOADED


def test_plugin_that_exits_at_import_does_not_stop_the_loader(site):
    make_distribution(site, dist="exiter", version="1.0", plugins={"exiter": "import sys\nsys.exit(3)\n"})
    loaded = load_discovered("exiter")
    assert states(loaded)["exiter"][0] is PluginState.FAILED


@pytest.mark.parametrize(
    ("name", "hook_body", "reason"),  # one plugin name each: an imported plugin module stays in sys.modules
    [
        ("raiser", "raise RuntimeError('boom')", "register_runtime_kinds raised (RuntimeError)"),
        ("wrong", "register('embedded')", "register_runtime_kinds raised (TypeError)"),  # a name, not a kind
    ],
    ids=["hook-raises", "hook-registers-something-else"],
)
def test_plugin_whose_hook_fails_is_failed_naming_the_exception_type(site, name, hook_body, reason):
    source = f"from registry_core import hookimpl\n@hookimpl\ndef register_runtime_kinds(register):\n    {hook_body}\n"
    make_distribution(site, dist=name, version="1.0", plugins={name: source})
    assert states(load_discovered(name))[name] == (PluginState.FAILED, reason)


def test_kind_conflict_with_builtin_is_decided_for_the_builtin(site):
    make_distribution(site, dist="aaa-usurper", version="1.0", plugins={"aaa": WORKING_PLUGIN.format(kind="embedded")})
    loaded = load_discovered("aaa", "embedded")
    assert states(loaded)["aaa"] == (
        PluginState.FAILED,
        "runtime kind 'embedded' is already registered by plugin 'embedded'",
    )
    assert loaded.kind("embedded").plugin.name == "embedded"


def test_kind_conflict_between_third_parties_goes_to_the_first_by_name(site):
    make_distribution(site, dist="zed", version="1.0", plugins={"zed": WORKING_PLUGIN.format(kind="same")})
    make_distribution(site, dist="abe", version="1.0", plugins={"abe": WORKING_PLUGIN.format(kind="same")})
    discovered = [p for p in discover_plugins() if p.name in ("zed", "abe")]
    for order in (discovered, discovered[::-1]):
        loaded = load_plugins(order)
        assert loaded.kind("same").plugin.name == "abe"
        assert states(loaded)["zed"][0] is PluginState.FAILED


def test_disabled_plugins_are_not_imported(site):
    make_distribution(site, dist="tripwire", version="1.0", plugins={"tripwire": "raise SystemError('imported')"})
    discovered = [p for p in discover_plugins() if p.name == "tripwire"]
    assert states(load_plugins(discovered, disabled=["tripwire"]))["tripwire"] == (
        PluginState.DISABLED,
        "disabled by configuration",
    )
    assert states(load_plugins(discovered, enabled=["other"]))["tripwire"][0] is PluginState.DISABLED


def test_same_plugin_name_from_two_distributions_keeps_one():
    imported = []

    def plugin(name):
        return DiscoveredPlugin(
            name="twin", version="1", distribution=name, load=lambda: imported.append(name) or object()
        )

    loaded = load_plugins([plugin("dist-b"), plugin("dist-a")])
    assert [p.state for p in loaded.plugins] == [PluginState.LOADED, PluginState.FAILED]
    assert imported == ["dist-a"]


def test_runtime_of_a_failed_plugin_is_unavailable_and_the_rest_assemble(site):
    make_distribution(site, dist="gone", version="1.0", plugins={"gone": "raise ImportError('x')"})
    config = parse_config('[[runtimes]]\nid = "a"\nkind = "embedded"\n[[runtimes]]\nid = "b"\nkind = "gone-kind"\n')
    assembly = assemble(config, discovered=tuple(p for p in discover_plugins() if p.name in ("gone", "embedded")))
    assert assembly.registry.runtime_ids == ("a", "b")
