"""Keeps the module paths that moved out of registry_core in 0.2 importable, with a warning, until 1.0 (decision 0161)."""

import importlib
import warnings
from types import ModuleType


def forward(old_name: str, new_name: str) -> ModuleType:
    """Warn that ``old_name`` moved and return the module now at ``new_name``.

    The import is by name, so the plugin API holds no static import of the host.
    """
    warnings.warn(
        f"{old_name} moved to {new_name}; the old path goes in 1.0",
        DeprecationWarning,
        stacklevel=3,
    )
    return importlib.import_module(new_name)


def host_name(name: str) -> object:
    """Warn that ``registry_core.<name>`` moved to the host and return it from there."""
    warnings.warn(
        f"registry_core.{name} moved to runtime_registry.host.{name}; the old name goes in 1.0",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module("runtime_registry.host"), name)
