"""The plugin under test, for runtime-registry's kind_registry and kind_app fixtures."""

import pytest

from template_kind_runtime import plugin


@pytest.fixture
def kind_plugin():
    return plugin
