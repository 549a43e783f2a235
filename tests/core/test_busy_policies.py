"""``if_busy`` at the registry (decision 0190): a kind takes only the policies it claims.

A kind written against 0.3 claims nothing, so its capabilities say
``busy_policies: ["reject"]``; the registry answers ``enqueue`` and
``interrupt`` for it with ``InvalidRequest`` naming ``if_busy`` and never
calls it, and a ``cancel`` with ``queued=keep`` calls its ``cancel_worker``
exactly as before (``cancel_worker_keeping_queue`` only for a kind that claims ``enqueue``).
"""

from __future__ import annotations

import attrs
import pytest

from registry_core import (
    BusyPolicy,
    Capabilities,
    InputAccepted,
    InputRequest,
    InvalidRequest,
    RuntimeProvider,
    WorkerActionResult,
    capabilities_of,
)
from registry_core.provider import narrowed
from runtime_registry.host import RuntimeRegistry

from .fakes import MemoryProvider


class OldKind(MemoryProvider):
    """Written against 0.3: ``cancel_worker(self, worker_id)`` takes no keyword; no policy claimed."""

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        self.calls.append(("cancel_worker", worker_id))
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", False, "idle")


class QueueingKind(OldKind):
    """Claims every policy and records what it was asked."""

    busy_policies = ("reject", "enqueue", "interrupt")

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        self.calls.append(("send_input", request.if_busy.value))
        return InputAccepted(self.runtime_id, worker_id, None, 7, "queued", 1)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        self.calls.append(("cancel_worker", False))
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", False, "idle")

    async def cancel_worker_keeping_queue(self, worker_id: str) -> WorkerActionResult:
        self.calls.append(("cancel_worker", True))
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", False, "idle")


def test_a_kind_that_claims_nothing_takes_reject_only_and_reject_is_always_first():
    assert capabilities_of(OldKind).busy_policies == ("reject",)
    assert capabilities_of(QueueingKind).busy_policies == ("reject", "enqueue", "interrupt")
    assert RuntimeProvider.busy_policies == ("reject",)


def test_narrowing_keeps_the_policies_both_sides_list():
    implemented = capabilities_of(QueueingKind)
    offered = attrs.evolve(implemented, busy_policies=("interrupt", "reject"))
    assert narrowed(implemented, offered).busy_policies == ("reject", "interrupt")
    assert narrowed(implemented, attrs.evolve(implemented, busy_policies=())).busy_policies == ("reject",)


@pytest.mark.parametrize("policy", [BusyPolicy.ENQUEUE, BusyPolicy.INTERRUPT])
async def test_a_policy_the_kind_does_not_claim_is_422_and_the_kind_is_not_called(policy):
    provider = OldKind("rt")
    provider.add("w1")
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        with pytest.raises(InvalidRequest) as raised:
            await registry.send_input("rt", "w1", InputRequest("hi", if_busy=policy))
        assert raised.value.details == ({"path": "if_busy", "message": f"{policy.value!r} is not one of reject"},)
        assert policy.value in raised.value.message
        assert not [call for call in provider.calls if call[0] == "send_input"]
        assert provider.calls == []
        # reject (the default) reaches it as before.
        accepted = await registry.send_input("rt", "w1", InputRequest("hi"))
        assert accepted.status == "busy" and accepted.queue_position is None


async def test_a_narrowed_policy_is_422_too():
    provider = QueueingKind("rt")
    provider.add("w1")
    provider.offer_capabilities(attrs.evolve(capabilities_of(QueueingKind), busy_policies=("reject",)))
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        with pytest.raises(InvalidRequest):
            await registry.send_input("rt", "w1", InputRequest("hi", if_busy=BusyPolicy.ENQUEUE))
        assert ("send_input", "enqueue") not in provider.calls


async def test_claimed_policies_reach_the_kind_and_queued_answers_pass_the_shape_checks():
    provider = QueueingKind("rt")
    provider.add("w1")
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        summary = await registry.describe_runtime("rt")
        assert summary.capabilities.busy_policies == ("reject", "enqueue", "interrupt")
        accepted = await registry.send_input("rt", "w1", InputRequest("hi", if_busy=BusyPolicy.ENQUEUE))
        assert (accepted.status, accepted.transcript_sequence, accepted.queue_position) == ("queued", None, 1)
        await registry.cancel_worker("rt", "w1", queued="keep")
        await registry.cancel_worker("rt", "w1")
    assert provider.calls == [("send_input", "enqueue"), ("cancel_worker", True), ("cancel_worker", False)]


async def test_cancel_keeping_the_queue_calls_an_old_kind_as_before():
    provider = OldKind("rt")
    provider.add("w1")
    registry = RuntimeRegistry()
    registry.register(provider)
    async with registry:
        result = await registry.cancel_worker("rt", "w1", queued="keep")
    assert result.changed is False
    assert provider.calls == [("cancel_worker", "w1")]


def test_capabilities_built_positionally_by_an_old_kind_still_say_reject():
    legacy = Capabilities(True, True, True, True, True, True, True, True, True)
    assert legacy.busy_policies == ("reject",)
