"""Every test runs in its own empty working directory.

The default configuration keeps the embedded runtime's workers in a SQLite
store under ``.runtime-registry`` in the working directory (decision 0086): a
test that starts the default configuration must neither see another test's
workers nor leave files in the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(directory)
    monkeypatch.delenv("RUNTIME_REGISTRY_DATA_DIR", raising=False)
    return directory
