"""Every test module, and every test, runs in its own empty working directory.

The default configuration keeps the embedded runtime's workers in a SQLite
store under ``.runtime-registry`` in the working directory (decision 0088): a
test that starts the default configuration must neither see another test's
workers nor leave files in the repository. Module-scoped fixtures (servers
shared by a module's tests) are set up before any function-scoped fixture,
hence the module-scoped directory too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="module")
def _module_working_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("module-cwd")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield directory
    finally:
        os.chdir(previous)


@pytest.fixture(autouse=True)
def _own_working_directory(
    _module_working_directory: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    directory = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(directory)
    monkeypatch.delenv("RUNTIME_REGISTRY_DATA_DIR", raising=False)
    return directory
