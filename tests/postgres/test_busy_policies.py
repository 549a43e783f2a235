"""The embedded kind on PostgreSQL takes ``if_busy: "reject"`` only (decision 0190): it says so, and the
registry refuses the other policies before the store sees them; admission is not applied there (0191)."""

from __future__ import annotations

import os

import pytest

from registry_core import BusyPolicy, CreateWorkerRequest, InputRequest, InvalidRequest, RuntimeContext, WorkerBusy
from registry_core.models import ProfileSelector
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings
from tests.support.pg_server import PgServer

DSN_ENV = "RR_TEST_POLICIES_PG_DSN"
HOLD = {"hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=60.0)}


@pytest.fixture
def provider(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> EmbeddedProvider:
    monkeypatch.setenv(DSN_ENV, pg_server.dsn(pg_server.create_database("policies")))
    store = StoreSettings(backend=StoreBackend.POSTGRES, dsn_env=DSN_ENV, lease_seconds=2)
    settings = EmbeddedSettings(profiles=HOLD, store=store, max_concurrent_turns=1)
    return EmbeddedProvider("pg", settings, context=RuntimeContext(tmp_path))  # type: ignore[arg-type]


async def test_a_postgres_runtime_takes_reject_only_and_refuses_the_rest_with_422(provider):
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        summary = await registry.describe_runtime("pg")
        assert summary.capabilities.busy_policies == ("reject",)
        worker = await registry.create_worker("pg", CreateWorkerRequest(profile=ProfileSelector("hold")))
        accepted = await registry.send_input("pg", worker.worker_id, InputRequest("first"))
        assert accepted.status == "busy"
        for policy in (BusyPolicy.ENQUEUE, BusyPolicy.INTERRUPT):
            with pytest.raises(InvalidRequest) as raised:
                await registry.send_input("pg", worker.worker_id, InputRequest("x", if_busy=policy))
            assert raised.value.details[0]["path"] == "if_busy"
        with pytest.raises(WorkerBusy):
            await registry.send_input("pg", worker.worker_id, InputRequest("second"))
        # No queue to keep: ?queued=keep is a plain cancel here.
        cancelled = await registry.cancel_worker("pg", worker.worker_id, queued="keep")
        assert (cancelled.changed, cancelled.status) == (True, "idle")
        # Admission is not applied on PostgreSQL: a second worker's turn starts although one slot is set.
        other = await registry.create_worker("pg", CreateWorkerRequest(profile=ProfileSelector("hold")))
        assert (await registry.send_input("pg", worker.worker_id, InputRequest("again"))).status == "busy"
        assert (await registry.send_input("pg", other.worker_id, InputRequest("too"))).status == "busy"
        assert provider.turn_slots() is None
