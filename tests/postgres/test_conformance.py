"""The embedded kind on PostgreSQL passes the conformance suite: one replica, and two replicas alternating.

Every check gets a new database. The suite's restart check makes new
providers for the same runtime id: on PostgreSQL they open the same schema,
so ids continue and an old cursor resumes, as with SQLite.
"""

from __future__ import annotations

import os

import pytest

from registry_core import CreateWorkerRequest, RuntimeContext
from registry_core.models import ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings
from runtime_registry.testing.conformance import RuntimeConformance
from tests.support.alternating import Alternating
from tests.support.pg_server import PgServer

PROFILES = {"slow-echo": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=0.3)}
DSN_ENV = "RR_TEST_CONFORMANCE_PG_DSN"
STORE = StoreSettings(backend=StoreBackend.POSTGRES, dsn_env=DSN_ENV, lease_seconds=2)


class TestPostgresConformance(RuntimeConformance):
    """One replica."""

    contract_version = "0.3"

    @pytest.fixture(autouse=True)
    def _database(self, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
        monkeypatch.setenv(DSN_ENV, pg_server.dsn(pg_server.create_database("conf")))
        self.context = RuntimeContext(tmp_path)  # type: ignore[arg-type]

    def replica(self, runtime_id: str) -> EmbeddedProvider:
        settings = EmbeddedSettings(profiles=PROFILES, store=STORE)
        return EmbeddedProvider(runtime_id, settings, context=self.context)

    def make_provider(self, runtime_id: str) -> EmbeddedProvider | Alternating:
        return self.replica(runtime_id)

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile=ProfileSelector("slow-echo"))


class TestTwoReplicasConformance(TestPostgresConformance):
    """Two replicas of each runtime in this process, every call going to the other one than the last."""

    def make_provider(self, runtime_id: str) -> EmbeddedProvider | Alternating:
        return Alternating([self.replica(runtime_id), self.replica(runtime_id)])
