"""The embedded kind passes registry_core's conformance suite."""

from __future__ import annotations

from runtime_registry.plugins.embedded import EmbeddedProvider
from registry_core import CreateWorkerRequest
from registry_core.models import ProfileSelector
from runtime_registry.testing.conformance import RuntimeConformance
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings


class TestEmbeddedConformance(RuntimeConformance):
    def make_provider(self, runtime_id: str) -> EmbeddedProvider:
        settings = EmbeddedSettings(
            profiles={"slow-echo": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=0.3)}
        )
        return EmbeddedProvider(runtime_id, settings)

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile=ProfileSelector("slow-echo"))
