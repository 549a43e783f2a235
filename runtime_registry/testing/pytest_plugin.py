"""runtime-registry's pytest plugin, registered through the ``pytest11`` entry point.

pytest loads it in every run of an environment where runtime-registry is
installed, so it imports nothing at module level but :mod:`sys` and acts only
when the conformance suite is in use (``-p no:runtime_registry`` turns it
off). It then:

- names the suite in the report header when the suite was loaded before the
  session began (``pytest -p runtime_registry.testing.conformance``, or a
  ``conftest.py`` that imports it);
- marks every collected conformance check ``conformance``, so
  ``pytest -m conformance`` runs the suite alone and ``-m "not conformance"``
  everything else;
- says, after collection, how many checks were collected from which classes.

It also registers the fixtures for kind authors (``kind_plugin``,
``kind_registry``, ``kind_app``: :mod:`runtime_registry.testing.fixtures`)
when pytest configures the session.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

#: The module that defines the suite; it is imported only by those who use it.
SUITE_MODULE = "runtime_registry.testing.conformance"
#: The marker every conformance check carries.
MARKER = "conformance"
#: The name the fixtures module is registered under (``-p no:runtime_registry`` turns it off with the rest).
FIXTURES_PLUGIN = "runtime_registry.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``conformance`` marker, so ``--strict-markers`` accepts it; offer the fixtures for kind authors."""
    config.addinivalue_line(
        "markers", f"{MARKER}: a check of runtime-registry's conformance suite (added to every check)"
    )
    # Here rather than at import: the fixtures need pytest, which this
    # module's import must not load (every pytest run imports it).
    from runtime_registry.testing import fixtures

    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, FIXTURES_PLUGIN)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the suite and its number of checks, if it is loaded already; say nothing otherwise."""
    suite = sys.modules.get(SUITE_MODULE)
    if suite is None:
        return None
    return f"runtime-registry conformance suite: {len(suite.RuntimeConformance.check_names())} checks"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the conformance checks among the collected tests."""
    for item in _conformance_items(items):
        item.add_marker(MARKER)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    """After collection: how many conformance checks, from which classes."""
    classes: dict[str, int] = {}
    for item in _conformance_items(items):
        name = item.cls.__name__  # type: ignore[attr-defined]  # _conformance_items yields test methods only
        classes[name] = classes.get(name, 0) + 1
    if not classes:
        return None
    listed = ", ".join(f"{name} ({count})" for name, count in sorted(classes.items()))
    return f"runtime-registry conformance: {sum(classes.values())} checks from {listed}"


def _conformance_items(items: list[pytest.Item]) -> list[pytest.Item]:
    """The items that are checks of a :class:`RuntimeConformance` subclass (none unless the suite is imported)."""
    suite = sys.modules.get(SUITE_MODULE)
    if suite is None:
        return []
    checks = set(suite.RuntimeConformance.check_names())
    base = suite.RuntimeConformance
    return [
        item
        for item in items
        if isinstance(getattr(item, "cls", None), type)
        and issubclass(item.cls, base)  # type: ignore[attr-defined]
        and getattr(item, "originalname", item.name) in checks
    ]
