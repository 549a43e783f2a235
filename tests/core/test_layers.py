"""The installed layout keeps its layers: names that are ours, and a plugin API that never loads the host.

Checked on what Python actually does (the installed distribution's metadata, and
``sys.modules`` in a fresh interpreter), not by reading import statements.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

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
    "runtime_registry.plugins.remote",
    "runtime_registry.runtimes.remote",
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


def test_the_client_loads_no_host_no_server_and_no_web_framework():
    loaded = modules_loaded_by("runtime_registry.client")
    assert [name for name in loaded if name.startswith(HOST_PREFIXES)] == []
    assert {name.split(".")[0] for name in loaded} & {"starlette", "uvicorn", "sse_starlette", "pytest"} == set()


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


# The layer contract of docs/architecture.md, checked on every import statement
# (module level and inside functions alike). import-linter cannot see our
# package-dir mapping (grimp walks only the root package's folder, decision 0078),
# so this test states the same contract over the folders themselves.
REPOSITORY = Path(__file__).resolve().parents[2]

LAYER_FOLDERS = {
    "server": "runtime_registry.server",
    "testing": "runtime_registry.testing",
    "client": "runtime_registry.client",
    "host": "runtime_registry.host",
    "plugins": "runtime_registry.plugins",
    "runtimes": "runtime_registry.runtimes",
    "api": "registry_core",
}

FOLDER_OF_LAYER = {
    "server": REPOSITORY / "server",
    "testing": REPOSITORY / "runtime_registry" / "testing",
    "client": REPOSITORY / "runtime_registry" / "client",
    "host": REPOSITORY / "runtime_registry" / "host",
    "plugins": REPOSITORY / "plugins",
    "runtimes": REPOSITORY / "runtimes",
    "api": REPOSITORY / "registry_core",
}

# Which layers each layer may import: server → host → plugin API ← plugins → runtimes.
# The client speaks only the plugin API's models and errors; a runtime that is
# another server (remote) reaches it through the client, never httpx itself.
MAY_IMPORT = {
    # client: the CLI's workers/events/send commands talk to a running server through it (decision 0153).
    "server": {"server", "host", "client", "api"},
    # server: the kind_app harness serves the real app (imported when used; decision 0104).
    "testing": {"testing", "server", "host", "api"},
    "client": {"client", "api"},
    "host": {"host", "api"},
    "plugins": {"plugins", "runtimes", "api"},
    "runtimes": {"runtimes", "client", "api"},
    "api": {"api"},
}

# Third-party packages a layer must not import: runtimes know nothing of pluggy
# or HTTP; nothing but the server knows the web framework.
FORBIDDEN_PACKAGES = {
    "runtimes": {"pluggy", "starlette", "uvicorn", "sse_starlette", "httpx"},
    "plugins": {"starlette", "uvicorn", "sse_starlette"},
    "host": {"starlette", "uvicorn", "sse_starlette"},
    "client": {"starlette", "uvicorn", "sse_starlette", "pluggy", "pytest"},
    "api": {"starlette", "uvicorn", "sse_starlette", "httpx", "pytest"},
}

# The 0.1 module paths in registry_core forward to the host by name, for one release.
DEPRECATED_FORWARDERS = {
    "_moved.py",
    "registry.py",
    "assembly.py",
    "plugin_loading.py",
    "config.py",
    "call_guard.py",
    "conformance.py",
}


def layer_of(module: str) -> str | None:
    if module == "runtime_registry":
        return "api"  # the namespace's __init__ holds only the version
    for layer, prefix in LAYER_FOLDERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def is_module(path: Path, root: Path) -> bool:
    """Is ``path`` a module of the package at ``root``: is every folder between them a package?

    Package data that happens to be Python (the new-kind template) is not.
    """
    return all(
        (folder / "__init__.py").exists() for folder in path.parents if folder != root and folder.is_relative_to(root)
    )


def layer_breaches(layer: str) -> list[str]:
    breaches = []
    root = FOLDER_OF_LAYER[layer]
    for path in sorted(p for p in root.rglob("*.py") if is_module(p, root)):
        if layer == "api" and path.name in DEPRECATED_FORWARDERS:
            continue
        for module in imported_modules(path):
            target = layer_of(module)
            if target is not None and target not in MAY_IMPORT[layer]:
                breaches.append(f"{path.relative_to(REPOSITORY)} imports {module} ({layer} → {target})")
            if module.split(".")[0] in FORBIDDEN_PACKAGES.get(layer, set()):
                breaches.append(f"{path.relative_to(REPOSITORY)} imports {module}")
    return breaches


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_layer_imports_only_the_layers_below_it(layer):
    assert layer_breaches(layer) == []


def test_the_layer_check_sees_a_breach(tmp_path, monkeypatch):
    folder = tmp_path / "runtimes"
    folder.mkdir()
    (folder / "sneaky.py").write_text(
        "def f():\n    from runtime_registry.host import RuntimeRegistry\n    import pluggy\n"
    )
    monkeypatch.setitem(FOLDER_OF_LAYER, "runtimes", folder)
    monkeypatch.setattr(sys.modules[__name__], "REPOSITORY", tmp_path)
    assert layer_breaches("runtimes") == [
        "runtimes/sneaky.py imports runtime_registry.host (runtimes → host)",
        "runtimes/sneaky.py imports pluggy",
    ]


def test_every_package_folder_is_in_the_distributions_package_list():
    """pyproject.toml lists the packages (package-dir cannot be found automatically): none may be left out."""
    import tomllib

    setuptools_table = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder_of = {name: REPOSITORY / folder for name, folder in setuptools_table["package-dir"].items()}
    folder_of.update({root: REPOSITORY / root for root in OUR_TOP_LEVEL_NAMES})
    found = set()
    for name, folder in folder_of.items():
        for marker in folder.rglob("__init__.py"):
            if not is_module(marker, folder):
                continue
            relative = marker.parent.relative_to(folder).parts
            found.add(".".join((name, *relative)))
    assert found == set(setuptools_table["packages"])
