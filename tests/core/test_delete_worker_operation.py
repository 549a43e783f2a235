"""The optional ``delete_worker`` operation: its capability, the registry's routing and guards (decision 0065)."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from registry_core import (
    Capabilities,
    InvalidIdentifier,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownWorker,
    UnsupportedOperation,
    WorkerActionResult,
)
from registry_core.provider import OPERATIONS, capabilities_of
from runtime_registry.host import RuntimeRegistry

from .fakes import MemoryProvider


class Deleting(MemoryProvider):
    """Deletes workers from its dict."""

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        await self.get_worker(worker_id)
        del self.workers[worker_id]
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")


class DeletesSlowly(MemoryProvider):
    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        await asyncio.sleep(10)
        raise AssertionError("unreachable: the call timeout ends it")


class DeletesForAnotherRuntime(MemoryProvider):
    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        return WorkerActionResult("elsewhere", worker_id, "delete", True, "stopped")


async def open_registry(*providers) -> RuntimeRegistry:
    registry = RuntimeRegistry(call_timeout=0.2)
    for provider in providers:
        registry.register(provider)
    await registry.start()
    return registry


def test_delete_worker_is_an_optional_operation():
    assert "delete_worker" in OPERATIONS


def test_the_capability_follows_the_override():
    assert (capabilities_of(Deleting).delete_worker, capabilities_of(MemoryProvider).delete_worker) == (True, False)


def test_capabilities_built_without_delete_worker_still_construct_and_say_false():
    legacy = Capabilities(True, True, True, True, True, True, True, True, True)
    assert legacy.delete_worker is False and [f.name for f in attrs.fields(Capabilities)][9:] == [
        "delete_worker",
        "list_profiles",
        "busy_policies",
    ]


async def test_the_registry_routes_a_delete_to_the_runtime_named():
    alpha, beta = Deleting("alpha"), Deleting("beta")
    alpha.add("w")
    beta.add("w")
    registry = await open_registry(alpha, beta)
    try:
        result = await registry.delete_worker("alpha", "w")
        assert (result.runtime_id, result.action) == ("alpha", "delete")
        assert ("w" not in alpha.workers, "w" in beta.workers) == (True, True)
    finally:
        await registry.close()


async def test_a_delete_of_an_unknown_worker_is_located():
    registry = await open_registry(Deleting("alpha"))
    try:
        with pytest.raises(UnknownWorker) as raised:
            await registry.delete_worker("alpha", "nobody")
        assert (raised.value.runtime_id, raised.value.worker_id) == ("alpha", "nobody")
    finally:
        await registry.close()


async def test_a_kind_without_delete_answers_unsupported():
    provider = MemoryProvider("plain")
    provider.add("w")
    registry = await open_registry(provider)
    try:
        with pytest.raises(UnsupportedOperation):
            await registry.delete_worker("plain", "w")
        assert "w" in provider.workers
    finally:
        await registry.close()


async def test_a_bad_worker_id_never_reaches_the_provider():
    provider = Deleting("alpha")
    registry = await open_registry(provider)
    try:
        with pytest.raises(InvalidIdentifier):
            await registry.delete_worker("alpha", "../etc")
        assert provider.calls == []
    finally:
        await registry.close()


async def test_a_slow_delete_is_a_timeout():
    provider = DeletesSlowly("slow")
    registry = await open_registry(provider)
    try:
        with pytest.raises(RuntimeTimeout):
            await registry.delete_worker("slow", "w")
    finally:
        await registry.close()


async def test_an_answer_naming_another_runtime_is_malformed():
    registry = await open_registry(DeletesForAnotherRuntime("alpha"))
    try:
        with pytest.raises(RuntimeUnavailable):
            await registry.delete_worker("alpha", "w")
    finally:
        await registry.close()
