"""Operators choose plugins by name, in the config file and the environment; every view of the choice agrees.

Four third-party distributions are installed for real (``.dist-info`` with
entry points on ``PYTHONPATH``): one that works, one that records being
imported, one whose import fails and one that claims the built-in kind's name.
For each selection, the real server's startup log, ``runtime-registry
plugins`` and ``GET /api/plugins`` must say the same thing about every plugin.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.core.distributions import WORKING_PLUGIN, make_distribution

from .installed_plugin import run_cli, running_server

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("runtime_registry.server.cli") is None,
    reason="the runtime-registry CLI does not exist yet",
)

#: The plugin module that leaves a mark when it is imported.
MARKING_PLUGIN = "open({marker!r}, 'a').write('imported\\n')\n" + WORKING_PLUGIN

#: The startup log's line per plugin: ``plugin NAME VERSION: STATE, KINDS (REASON)``.
LOG_LINE = re.compile(
    r"plugin (?P<name>\S+) (?P<version>\S+): (?P<state>loaded|disabled|failed), (?P<kinds>.*?)(?: \((?P<reason>.*)\))?$"
)

CONFIG = '[plugins]\ndisabled = ["local-compat"]\n\n[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n'


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """A site directory holding the four distributions, and the marker file's path."""
    site = tmp_path_factory.mktemp("site")
    marker = site / "beta-was-imported"
    make_distribution(site, dist="acme-alpha", version="1.2.3", plugins={"alpha": WORKING_PLUGIN.format(kind="alpha")})
    make_distribution(
        site, dist="acme-beta", version="0.4", plugins={"beta": MARKING_PLUGIN.format(kind="beta", marker=str(marker))}
    )
    make_distribution(
        site, dist="acme-gamma", version="2.0", plugins={"gamma": "raise ImportError('/opt/gamma/secret.key')\n"}
    )
    make_distribution(site, dist="acme-delta", version="0.1", plugins={"delta": WORKING_PLUGIN.format(kind="embedded")})
    return site, marker


def environment(site: Path, **variables: str) -> dict[str, str]:
    """This environment, with the site on PYTHONPATH and the plugin variables set (and no stray ones)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTIME_REGISTRY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env.update(variables)
    return env


def three_views(installed: tuple[Path, Path], tmp_path: Path, **variables: str) -> tuple[dict, dict, dict]:
    """``name -> (version, kinds, state, reason)`` from the CLI, /api/plugins and the server's startup log."""
    site, _ = installed
    config = tmp_path / "registry.toml"
    config.write_text(CONFIG)
    env = environment(site, **variables)
    listed = run_cli(Path(sys.executable), "plugins", "--config", str(config), "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    cli = {
        p["name"]: (p["version"], tuple(p["kinds"]), p["state"], p["reason"])
        for p in json.loads(listed.stdout)["items"]
    }
    log = tmp_path / "server.log"
    with running_server(Path(sys.executable), config, log=log, env=env) as (base_url, _):
        items = httpx.get(f"{base_url}/api/plugins", timeout=10).json()["items"]
    api = {p["name"]: (p["version"], tuple(p["kinds"]), p["state"], p["reason"]) for p in items}
    logged = {}
    for line in log.read_text().splitlines():
        if (match := LOG_LINE.search(line)) is not None:
            kinds = () if match["kinds"] == "no kinds" else tuple(match["kinds"].split(", "))
            logged[match["name"]] = (match["version"], kinds, match["state"], match["reason"])
    return cli, api, logged


def states(view: dict) -> dict[str, tuple[str, str | None]]:
    return {name: (state, reason) for name, (_, _, state, reason) in view.items()}


def test_config_and_environment_disabling_are_reported_alike_everywhere(installed, tmp_path):
    _, marker = installed
    marker.unlink(missing_ok=True)
    cli, api, logged = three_views(installed, tmp_path, RUNTIME_REGISTRY_DISABLE_PLUGINS="beta")
    assert cli == api
    assert states(logged) == states(api)
    assert states(api) == {
        "embedded": ("loaded", None),
        "local-compat": ("disabled", "disabled by configuration"),
        "remote": ("loaded", None),
        "alpha": ("loaded", None),
        "beta": ("disabled", "disabled by configuration"),
        "gamma": ("failed", "import failed (ImportError)"),
        "delta": ("failed", "runtime kind 'embedded' is already registered by plugin 'embedded'"),
    }
    assert api["alpha"][:2] == ("1.2.3", ("alpha",))
    assert not marker.exists(), "a disabled plugin must not be imported"


def test_enabling_by_name_in_the_environment_loads_only_those_everywhere(installed, tmp_path):
    _, marker = installed
    marker.unlink(missing_ok=True)
    cli, api, logged = three_views(installed, tmp_path, RUNTIME_REGISTRY_PLUGINS="embedded, alpha")
    assert cli == api
    assert states(logged) == states(api)
    loaded = sorted(name for name, (state, _) in states(api).items() if state == "loaded")
    assert loaded == ["alpha", "embedded"]
    assert states(api)["gamma"] == ("disabled", "not in the enabled plugins"), "an unselected plugin is never imported"
    assert not marker.exists()


def test_an_enabled_plugin_is_imported(installed, tmp_path):
    # The counterpart of the two checks above: the marker does appear when beta loads.
    site, marker = installed
    marker.unlink(missing_ok=True)
    listed = run_cli(
        Path(sys.executable), "plugins", "--json", cwd=tmp_path, env=environment(site, RUNTIME_REGISTRY_PLUGINS="beta")
    )
    assert {p["name"]: p["state"] for p in json.loads(listed.stdout)["items"]}["beta"] == "loaded"
    assert marker.exists()


def test_check_config_refuses_enabling_a_plugin_that_is_not_installed(tmp_path):
    config = tmp_path / "registry.toml"
    config.write_text('[plugins]\nenabled = ["embedded", "embeded"]\n')
    checked = run_cli(Path(sys.executable), "check-config", str(config), cwd=tmp_path, env=environment(tmp_path))
    assert checked.returncode == 2
    assert (
        checked.stderr.strip()
        == f"runtime-registry: {config}:2: plugins.enabled[1]: no installed plugin is called 'embeded'"
    )


def test_serving_with_an_enabled_plugin_that_is_not_installed_warns_and_serves(caplog):
    from runtime_registry.host import RegistryConfig, assemble
    from runtime_registry.host.config import PluginSettings
    from runtime_registry.host.plugin_loading import discover_plugins

    config = RegistryConfig(plugins=PluginSettings(enabled=("embedded", "embeded")))
    with caplog.at_level("WARNING", logger="runtime_registry.host.assembly"):
        assembly = assemble(config, discovered=discover_plugins())
    assert assembly.registry.runtime_ids == ("backend-internal",)
    assert "no installed plugin is called 'embeded'" in caplog.text
