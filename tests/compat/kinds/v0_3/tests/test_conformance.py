# tests/test_conformance.py
from runtime_registry.testing import RuntimeConformance

from acme_wordcount.provider import WordcountProvider
from acme_wordcount.settings import WordcountSettings


class TestWordcountConformance(RuntimeConformance):
    def make_provider(self, runtime_id):
        return WordcountProvider(runtime_id, WordcountSettings())



class TestWordcountTightConformance(TestWordcountConformance):
    """The same checks with the smallest pages and retention the settings allow."""

    def make_provider(self, runtime_id):
        return WordcountProvider(runtime_id, WordcountSettings(page_max=1, event_retention=50))
