"""Capabilities known only at run time: a provider narrows what its class implements, never widens it."""

from __future__ import annotations

import attrs
import pytest

from registry_core import Capabilities, CreateWorkerRequest, InputRequest, UnsupportedOperation, capabilities_of
from runtime_registry.host import RuntimeRegistry

from .fakes import MemoryProvider

EVERYTHING = Capabilities(*([True] * (len(attrs.fields(Capabilities)) - 1)))
NOTHING = Capabilities(*([False] * (len(attrs.fields(Capabilities)) - 1)))


def test_an_offer_cannot_add_what_the_class_does_not_implement():
    provider = MemoryProvider("rt")
    provider.offer_capabilities(EVERYTHING)
    assert provider.capabilities == capabilities_of(MemoryProvider)
    assert not provider.capabilities.cancel_worker


def test_an_offer_takes_capabilities_away_and_none_restores_the_class():
    provider = MemoryProvider("rt")
    provider.offer_capabilities(attrs.evolve(EVERYTHING, create_worker=False))
    assert provider.capabilities == attrs.evolve(capabilities_of(MemoryProvider), create_worker=False)
    provider.offer_capabilities(None)
    assert provider.capabilities is capabilities_of(MemoryProvider)


async def test_the_registry_answers_a_narrowed_operation_without_calling_the_provider():
    provider = MemoryProvider("rt")
    provider.add("w1")
    provider.offer_capabilities(attrs.evolve(EVERYTHING, get_worker=False, create_worker=False, send_input=False))
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        summary = await registry.describe_runtime("rt")
        assert (summary.capabilities.get_worker, summary.capabilities.list_workers) == (False, True)
        for call in (
            registry.get_worker("rt", "w1"),
            registry.create_worker("rt", CreateWorkerRequest()),
            registry.send_input("rt", "w1", InputRequest("hi")),
        ):
            with pytest.raises(UnsupportedOperation) as raised:
                await call
            assert raised.value.runtime_id == "rt"
        assert ("get_worker", "w1") not in provider.calls
        assert len((await registry.list_workers("rt")).items) == 1


async def test_a_capability_offered_again_works_at_once():
    provider = MemoryProvider("rt")
    provider.add("w1")
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        provider.offer_capabilities(NOTHING)
        with pytest.raises(UnsupportedOperation):
            await registry.list_workers("rt")
        assert not (await registry.list_all_workers()).items  # a runtime that cannot list is skipped
        provider.offer_capabilities(EVERYTHING)
        assert (await registry.get_worker("rt", "w1")).worker_id == "w1"
        assert len((await registry.list_all_workers()).items) == 1
