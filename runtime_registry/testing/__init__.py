"""Test tools for runtime-kind authors: the conformance suite and the path-leak detector.

- :class:`RuntimeConformance` — subclass it as ``Test...`` and implement
  ``make_provider(runtime_id)``: pytest runs every contract check against your kind;
- :class:`ContractViolation` — what a failing check raises;
- :func:`find_path_like` — the scanner the suite uses for paths, sockets and file URLs.

The names load on first use (PEP 562): the pytest plugin in
:mod:`runtime_registry.testing.pytest_plugin` is imported by every pytest run
in an environment where runtime-registry is installed, and importing it
imports this package, which must not pull in the suite, the registry or cattrs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime_registry.testing.conformance import ContractViolation, RuntimeConformance
    from runtime_registry.testing.paths import find_path_like

__all__ = ["ContractViolation", "RuntimeConformance", "find_path_like"]

#: Public name -> the module that defines it.
_HOMES = {
    "ContractViolation": "runtime_registry.testing.conformance",
    "RuntimeConformance": "runtime_registry.testing.conformance",
    "find_path_like": "runtime_registry.testing.paths",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
