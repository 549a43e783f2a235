"""The in-process harnesses for a kind's own tests: a registry with my kind, an app serving my kind."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_core import CreateWorkerRequest, RuntimeKind, UnknownWorker, hookimpl
from runtime_registry.host import ConfigError
from runtime_registry.plugins import embedded
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings
from runtime_registry.testing.kind_harness import registry_with_kind, serving_kind


class TwoKinds:
    """A plugin registering two kinds (both embedded runtimes under other names)."""

    @staticmethod
    @hookimpl
    def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
        for name in ("first", "second"):
            provider_type = type(f"{name}Provider", (EmbeddedProvider,), {"kind": name})
            register(RuntimeKind(name, "test", provider_type, EmbeddedSettings))


async def test_the_app_serves_the_kind_with_the_settings_given():
    async with serving_kind(embedded, settings={"max_workers": 1}) as client:
        summary = (await client.get("/api/runtimes/test")).json()
        first = await client.post("/api/runtimes/test/workers", json={})
        second = await client.post("/api/runtimes/test/workers", json={})
    assert (summary["kind"], summary["limits"]["max_workers"]) == ("embedded", 1)
    assert (first.status_code, second.status_code, second.json()["error"]["code"]) == (201, 409, "capacity_exceeded")


async def test_the_app_requires_the_token_it_was_given():
    async with serving_kind(embedded, token="s3cret-token-for-tests", runtime_id="rt") as client:
        assert (await client.get("/api/runtimes/rt")).status_code == 200
        assert (await client.get("/api/runtimes/rt", headers={"Authorization": ""})).status_code == 401


async def test_the_runtime_is_closed_when_the_block_ends():
    async with registry_with_kind(embedded) as registry:
        provider = registry.provider("test")
        assert not provider.runtime.closed
    assert provider.runtime.closed


async def test_two_runtimes_of_the_kind_share_no_workers():
    async with registry_with_kind(embedded, runtime_ids=("a", "b")) as registry:
        worker = await registry.create_worker("a", CreateWorkerRequest())
        with pytest.raises(UnknownWorker):
            await registry.get_worker("b", worker.worker_id)


async def test_settings_that_do_not_fit_name_the_field_as_check_config_would():
    with pytest.raises(ConfigError) as caught:
        async with registry_with_kind(embedded, settings={"max_worker": 3}):
            pass
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("runtimes[0].settings.max_worker", "unknown field; did you mean 'max_workers'?")
    ]


async def test_a_plugin_with_two_kinds_needs_the_kind_named():
    with pytest.raises(ValueError, match="say which with kind="):
        async with registry_with_kind(TwoKinds):
            pass
    async with registry_with_kind(TwoKinds, kind="second") as registry:
        assert (await registry.describe_runtime("test")).kind == "second"


async def test_files_a_kind_keeps_go_to_a_temporary_data_dir_that_is_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async with registry_with_kind(embedded) as registry:
        await registry.create_worker("test", CreateWorkerRequest())
        data_dir = registry.provider("test").runtime.store.path.parent  # the embedded SQLite store's file
        assert data_dir.exists() and tmp_path not in data_dir.parents
    assert not data_dir.exists()
    assert list(tmp_path.iterdir()) == []
