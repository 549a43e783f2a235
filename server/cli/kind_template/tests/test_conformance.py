"""runtime-registry's conformance suite, run against the ``template-kind`` kind."""

from runtime_registry.testing.conformance import RuntimeConformance

from template_kind_runtime import TemplateKindProvider, TemplateKindSettings


class TestTemplateKindConformance(RuntimeConformance):
    contract_version = "0.3"

    def make_provider(self, runtime_id):
        return TemplateKindProvider(runtime_id, TemplateKindSettings())
