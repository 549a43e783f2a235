"""The embedded kind passes the conformance suite over both stores.

The SQLite variant is the one the suite's restart check is about: its second
provider for the same runtime id opens the same file, so event ids continue
and an old cursor resumes without a gap (decision 0086).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core import CreateWorkerRequest, RuntimeContext
from registry_core.models import ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import Durability, StoreBackend, StoreSettings
from runtime_registry.testing.conformance import RuntimeConformance

PROFILES = {"slow-echo": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=0.3)}


class TestEmbeddedSQLiteConformance(RuntimeConformance):
    """The default store: SQLite, acknowledged."""

    contract_version = "0.3"

    store = StoreSettings()

    @pytest.fixture(autouse=True)
    def _data_dir(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"

    def make_provider(self, runtime_id: str) -> EmbeddedProvider:
        settings = EmbeddedSettings(profiles=PROFILES, store=self.store)
        return EmbeddedProvider(runtime_id, settings, context=RuntimeContext(self.data_dir))

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile=ProfileSelector("slow-echo"))


class TestEmbeddedSQLiteBatchedConformance(TestEmbeddedSQLiteConformance):
    store = StoreSettings(durability=Durability.BATCHED)


class TestEmbeddedMemoryConformance(TestEmbeddedSQLiteConformance):
    """The opt-out: a memory store, whose ids jump at a restart (decision 0055)."""

    store = StoreSettings(backend=StoreBackend.MEMORY)
