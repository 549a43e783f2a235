"""Registering the local-compat kind costs its settings type only: the reader loads when a runtime is made."""

from __future__ import annotations

import subprocess
import sys

import pytest

import runtime_registry.runtimes.local_compat

READER_MODULES = (
    "runtime_registry.runtimes.local_compat.source",
    "runtime_registry.runtimes.local_compat.pod_store",
    "runtime_registry.runtimes.local_compat.metadata",
)


def modules_after(code: str) -> set[str]:
    """The ``runtime_registry.runtimes.local_compat`` modules loaded by ``code`` in a fresh interpreter."""
    probe = (
        code
        + "\nimport sys\nprint(' '.join(m for m in sys.modules if m.startswith('runtime_registry.runtimes.local_compat')))"
    )
    return set(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split())


def test_importing_the_plugin_and_registering_the_kind_loads_no_reader_module():
    loaded = modules_after(
        "import runtime_registry.plugins.local_compat as plugin\n"
        "kinds = []\n"
        "plugin.register_runtime_kinds(kinds.append)\n"
        "assert kinds[0].settings_type.__name__ == 'LocalCompatSettings'"
    )
    assert loaded.isdisjoint(READER_MODULES), sorted(loaded)


def test_making_a_provider_loads_the_reader(tmp_path):
    loaded = modules_after(
        "from runtime_registry.plugins.local_compat import LocalCompatProvider\n"
        "from runtime_registry.runtimes.local_compat import LocalCompatSettings\n"
        f"LocalCompatProvider('local', LocalCompatSettings(data_dir={str(tmp_path)!r}, workspace_root={str(tmp_path)!r}))"
    )
    assert set(READER_MODULES) <= loaded


@pytest.mark.parametrize("name", sorted(runtime_registry.runtimes.local_compat.__all__))
def test_every_public_name_of_the_package_resolves(name):
    assert getattr(runtime_registry.runtimes.local_compat, name) is not None
    assert name in dir(runtime_registry.runtimes.local_compat)


def test_an_unknown_name_of_the_package_is_an_attribute_error():
    with pytest.raises(AttributeError):
        runtime_registry.runtimes.local_compat.NoSuchThing  # noqa: B018
