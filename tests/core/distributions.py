"""Make real installed-distribution metadata (a ``.dist-info`` folder) for plugin tests.

importlib.metadata finds these on ``sys.path`` exactly as it finds pip-installed
packages, so discovery is tested through genuine entry-point metadata.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path


def make_distribution(site: Path, *, dist: str, version: str, plugins: dict[str, str]) -> None:
    """Write a distribution: each plugin is ``entry-point name -> module source``."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[runtime_registry]"]
    for name, source in plugins.items():
        module = f"{dist.replace('-', '_')}_{name.replace('-', '_')}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        lines.append(f"{name} = {module}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    importlib.invalidate_caches()


WORKING_PLUGIN = """
from registry_core import RuntimeKind, hookimpl, RuntimeProvider

class Provider(RuntimeProvider):
    kind = "{kind}"

@hookimpl
def register_runtime_kinds(register):
    register(RuntimeKind(name="{kind}", description="test kind", factory=lambda runtime_id, settings: Provider(runtime_id)))
"""
