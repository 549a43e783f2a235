"""runtime-registry's conformance suite, run against the ``template-kind`` kind, busy and cancel checks included."""

from registry_core import CreateWorkerRequest
from runtime_registry.testing.conformance import RuntimeConformance

from template_kind_runtime import TemplateKindProvider, TemplateKindSettings


class TestTemplateKindConformance(RuntimeConformance):
    contract_version = "0.3"

    def make_provider(self, runtime_id):
        return TemplateKindProvider(runtime_id, TemplateKindSettings(turn_seconds=0.3))

    def slow_turn_request(self):
        return CreateWorkerRequest()
