"""The installed layout keeps its layers: names that are ours, and a plugin API that never loads the host.

Checked on what Python actually does (the installed distribution's metadata, and
``sys.modules`` in a fresh interpreter), not by reading import statements.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import distribution

import pytest

OUR_TOP_LEVEL_NAMES = {"registry_core", "runtime_registry"}

HOST_PREFIXES = ("runtime_registry.host", "runtime_registry.server", "runtime_registry.testing")
FRAMEWORKS = {"starlette", "uvicorn", "sse_starlette", "httpx", "pytest", "tomllib"}

PLUGIN_SIDE_MODULES = [
    "registry_core",
    "registry_core.hookspecs",
    "runtime_registry.runtimes.embedded",
    "runtime_registry.runtimes.local_compat",
    "runtime_registry.plugins.embedded",
    "runtime_registry.plugins.local_compat",
]


def modules_loaded_by(module: str) -> list[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_distribution_installs_only_top_level_names_of_its_own():
    top_level = set(distribution("runtime-registry").read_text("top_level.txt").split())
    assert top_level == OUR_TOP_LEVEL_NAMES


def test_entry_points_and_the_console_script_point_into_our_namespace():
    targets = {ep.value.split(":")[0].split(".")[0] for ep in distribution("runtime-registry").entry_points}
    assert targets <= OUR_TOP_LEVEL_NAMES


@pytest.mark.parametrize("module", PLUGIN_SIDE_MODULES)
def test_the_plugin_side_loads_no_host_module_and_no_web_framework(module):
    loaded = modules_loaded_by(module)
    host = [name for name in loaded if name.startswith(HOST_PREFIXES)]
    frameworks = sorted({name.split(".")[0] for name in loaded} & FRAMEWORKS)
    assert (host, frameworks) == ([], [])


def test_the_plugin_api_defers_cattrs_until_json_is_converted():
    assert "cattrs" not in modules_loaded_by("registry_core")


def test_the_host_loads_no_web_framework():
    loaded = {name.split(".")[0] for name in modules_loaded_by("runtime_registry.host")}
    assert loaded & {"starlette", "uvicorn", "sse_starlette"} == set()


@pytest.mark.parametrize(
    ("old_path", "new_path"),
    [
        ("registry_core.registry", "runtime_registry.host.registry"),
        ("registry_core.assembly", "runtime_registry.host.assembly"),
        ("registry_core.plugin_loading", "runtime_registry.host.plugin_loading"),
        ("registry_core.config", "runtime_registry.host.config"),
        ("registry_core.conformance", "runtime_registry.testing.conformance"),
    ],
)
def test_a_moved_module_still_imports_with_a_deprecation_warning(old_path, new_path):
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    module = importlib.import_module({old_path!r})\n"
        "print(module.__name__, [w.category.__name__ for w in caught])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [new_path, "['DeprecationWarning']"]


def test_a_host_name_from_the_plugin_api_still_works_with_a_deprecation_warning():
    import registry_core
    from runtime_registry.host import RuntimeRegistry

    with pytest.warns(DeprecationWarning, match="runtime_registry.host.RuntimeRegistry"):
        assert registry_core.RuntimeRegistry is RuntimeRegistry
