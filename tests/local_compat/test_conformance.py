"""The local-compat kind passes the registry's conformance suite (read-only: it lists, it never creates)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from registry_core.provider import RuntimeProvider
from runtime_registry.plugins.local_compat import LocalCompatProvider
from runtime_registry.runtimes.local_compat import LocalCompatSettings, worker_id_for
from runtime_registry.testing.conformance import RuntimeConformance

from .conftest import EXAMPLE_WORKSPACE, EXAMPLES, PodTree


class TestLocalCompatOverTheExamples(RuntimeConformance):
    """The shared example tree: two listable workers, one corrupt, one foreign."""

    contract_version = "0.3"

    @pytest.fixture(autouse=True)
    def _data(self, tmp_path: Path) -> None:
        shutil.copytree(EXAMPLES, tmp_path / "data")
        self.settings = LocalCompatSettings(data_dir=str(tmp_path / "data"), workspace_root=EXAMPLE_WORKSPACE)

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        return LocalCompatProvider(runtime_id, self.settings)

    def existing_worker_id(self, provider: RuntimeProvider) -> str | None:
        return worker_id_for(b"coder-7")


class TestLocalCompatOverAnOddTree(RuntimeConformance):
    """A tree of our own: odd names, secrets in every field, pages of two."""

    contract_version = "0.3"

    @pytest.fixture(autouse=True)
    def _data(self, tmp_path: Path) -> None:
        tree = PodTree(tmp_path)
        self.worker_id = tree.add("plain")
        tree.add(b"odd\xff\x1bname")
        tree.add("pending", active={"session_id": "x"})
        tree.add("foreign", workspace_root="/elsewhere")
        tree.add_raw("corrupt", b"{")
        self.settings = tree.settings()

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        return LocalCompatProvider(runtime_id, self.settings)

    def existing_worker_id(self, provider: RuntimeProvider) -> str | None:
        return self.worker_id
