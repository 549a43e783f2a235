"""Test tools for runtime-kind authors: the conformance suite and the path-leak detector.

- :class:`RuntimeConformance` — subclass it as ``Test...`` and implement
  ``make_provider(runtime_id)``: pytest runs every contract check against your kind;
- :class:`ContractViolation` — what a failing check raises;
- :func:`find_path_like` — the scanner the suite uses for paths, sockets and file URLs;
- :func:`engine_runtime` — the embedded runtime serving your turn engine under a test profile;
- :class:`FakeTurn` — a ``Turn`` for unit tests of an engine function (0.4).

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
    from runtime_registry.testing.engine_harness import engine_runtime
    from runtime_registry.testing.paths import find_path_like
    from runtime_registry.testing.turn_double import FakeTurn

__all__ = ["ContractViolation", "FakeTurn", "RuntimeConformance", "engine_runtime", "find_path_like"]

#: Public name -> the module that defines it.
_HOMES = {
    "ContractViolation": "runtime_registry.testing.conformance",
    "RuntimeConformance": "runtime_registry.testing.conformance",
    "find_path_like": "runtime_registry.testing.paths",
    "engine_runtime": "runtime_registry.testing.engine_harness",
    "FakeTurn": "runtime_registry.testing.turn_double",
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
