"""The fake llm model, registered through llm's plugin manager for the tests of this folder."""

from __future__ import annotations

import pytest

from . import fake_llm_plugin

#: The environment variable the test profiles name in ``key_env``.
KEY_ENV = "FAKE_LLM_TEST_KEY"


@pytest.fixture(autouse=True)
def fake_llm_model(monkeypatch):
    import llm

    name = "runtime-registry-test-fake"
    if llm.pm.get_plugin(name) is None:
        llm.pm.register(fake_llm_plugin, name=name)
    fake_llm_plugin.PROMPTS.clear()
    fake_llm_plugin.KEYS.clear()
    monkeypatch.setenv(KEY_ENV, "test-key")
    yield fake_llm_plugin
