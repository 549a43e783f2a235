"""The embedded kind on PostgreSQL passes the conformance suite: one replica, and two replicas alternating.

Every check gets a new database. The suite's restart check makes new
providers for the same runtime id: on PostgreSQL they open the same schema,
so ids continue and an old cursor resumes, as with SQLite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core import CreateWorkerRequest, RuntimeContext
from registry_core.models import Identifier, ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.plugins.remote import RemoteProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings
from runtime_registry.runtimes.remote.settings import RemoteSettings
from runtime_registry.testing.conformance import RUNTIME_IDS, RuntimeConformance
from tests.support.alternating import Alternating
from tests.support.pg_server import PgServer
from tests.support.remote_servers import BACK_RUNTIMES
from tests.support.server_process import running_server

# Longer than the embedded tests' 0.3 s: a request here costs several database round trips, and on a
# loaded machine ten concurrent inputs must all arrive while the first turn still runs.
PROFILES = {"slow-echo": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=1.0)}
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


def _back_config(folder: Path, dsn_env: str) -> Path:
    """Two PostgreSQL runtimes (``back-a``, ``back-b``) on one database, the suite's slow profile in each."""
    text = "[server]\ncall_timeout_seconds = 5.0\nstream_heartbeat_seconds = 0.5\n"
    for runtime_id in BACK_RUNTIMES:
        text += f"""
[[runtimes]]
id = "{runtime_id}"
kind = "embedded"
[runtimes.settings.profiles.slow-echo]
base = "builtin:echo"
reply_delay_seconds = 1.0
[runtimes.settings.store]
backend = "postgres"
dsn_env = "{dsn_env}"
lease_seconds = 2
"""
    path = folder / "replica.toml"
    path.write_text(text)
    return path


class TestTwoReplicaProcessesConformance(RuntimeConformance):
    """Two ``serve`` processes on one database; the suite reaches them through ``remote`` providers,
    every call going to the other process than the last (a round-robin load balancer)."""

    contract_version = "0.3"

    urls: tuple[str, ...] = ()

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def replica_servers(cls, pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        folder = tmp_path_factory.mktemp("replica-conformance")
        config = _back_config(folder, DSN_ENV)
        environ = {DSN_ENV: pg_server.dsn(pg_server.create_database("replicas"))}
        with running_server(config, log=folder / "a.log", environ=environ) as a:
            with running_server(config, log=folder / "b.log", environ=environ) as b:
                cls.urls = (a.base_url, b.base_url)
                yield

    def make_provider(self, runtime_id: str) -> Alternating:
        remote = Identifier(dict(zip(RUNTIME_IDS, BACK_RUNTIMES, strict=True))[runtime_id])
        return Alternating(
            [
                RemoteProvider(runtime_id, RemoteSettings(url=url, runtime_id=remote, timeout_seconds=5.0))
                for url in self.urls
            ]
        )

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile=ProfileSelector("slow-echo"))
