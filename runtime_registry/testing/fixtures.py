"""The pytest fixtures runtime-registry's pytest plugin offers a kind's author.

- ``kind_plugin`` — the plugin under test: the module your entry point names.
  Override it in your ``conftest.py``; the two fixtures below use it.
- ``kind_registry`` — ``async with kind_registry(settings={...}) as registry:``
  a started :class:`~runtime_registry.host.registry.RuntimeRegistry` with one
  runtime of your kind, ``"test"`` (more with ``runtime_ids=``);
- ``kind_app`` — ``async with kind_app(settings={...}) as client:`` an
  ``httpx.AsyncClient`` on the real HTTP app serving one runtime of your
  kind, ``"test"``, in-process.

Each takes the plugin as an optional first argument too, and the keywords of
:func:`~runtime_registry.testing.kind_harness.registry_with_kind` and
:func:`~runtime_registry.testing.kind_harness.serving_kind`. They are async
context managers, so they work in any async test (pytest-asyncio in either
mode, or anyio) and close what they started when the block ends.

The pytest plugin registers this module in ``pytest_configure``: importing
the pytest plugin itself loads nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runtime_registry.testing.kind_harness import registry_with_kind, serving_kind

__all__ = ["kind_app", "kind_plugin", "kind_registry"]


@pytest.fixture
def kind_plugin() -> object:
    """The plugin under test (the module your ``runtime_registry`` entry point names): override this fixture."""
    pytest.fail(
        "override the kind_plugin fixture in your conftest.py to return your plugin module, "
        "or pass the plugin to kind_registry(...) / kind_app(...)",
        pytrace=False,
    )


def _with_plugin(request: pytest.FixtureRequest, harness: Callable[..., Any]) -> Callable[..., Any]:
    def open_harness(plugin: object = None, /, **options: Any) -> Any:
        return harness(request.getfixturevalue("kind_plugin") if plugin is None else plugin, **options)

    return open_harness


@pytest.fixture
def kind_registry(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``async with kind_registry(plugin=None, *, settings=None, kind=None, runtime_ids=("test",)) as registry``."""
    return _with_plugin(request, registry_with_kind)


@pytest.fixture
def kind_app(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``async with kind_app(plugin=None, *, settings=None, kind=None, runtime_id="test", token=None) as client``."""
    return _with_plugin(request, serving_kind)
