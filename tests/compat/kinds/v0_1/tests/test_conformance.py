# tests/test_conformance.py
from registry_core.conformance import RuntimeConformance

from acme_wordcount.provider import WordcountProvider
from acme_wordcount.settings import WordcountSettings


class TestWordcountConformance(RuntimeConformance):
    def make_provider(self, runtime_id):
        return WordcountProvider(runtime_id, WordcountSettings())
